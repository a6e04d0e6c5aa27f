import { z } from 'zod';

/**
 * The shape of DATA/config.json. Every field has a default, so a minimal file
 * (even `{}` once migrated) fills in. Objects are strict: an unknown key is an
 * error with its path, so a typo in a hand edit is reported rather than
 * silently dropped on the next write.
 */
export const CURRENT_SCHEMA_VERSION = 1;

export const MAX_ACCOUNTS = 2000;
export const MAX_POLICIES = 64;
export const EXTENSION_PATTERN = /^[A-Za-z0-9._-]{1,32}$/;
export const POLICY_NAME_PATTERN = /^[A-Za-z0-9._-]{1,32}$/;
export const DEFAULT_POLICY = 'default';
export const DEFAULT_REALM = 'pbx.local';
/** `scrypt$N$r$p$saltB64$hashB64` (see password.ts). */
export const SCRYPT_HASH_PATTERN = /^scrypt\$\d{1,8}\$\d{1,3}\$\d{1,3}\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$/;

const port = z.number().int().min(1).max(65535);

export const TlsModeSchema = z.enum(['encrypt', 'server', 'mutual']);

export const CallerStreamSchema = z.enum(['forced_relay', 'relay_or_decrypt', 'decrypt']);
export const CalleeStreamSchema = z.enum(['as_caller', 'decrypted', 'sdes', 'dtls', 'zrtp']);

/**
 * Call recording (issue 9): 'always' records every answered call of the
 * account, 'on-demand' when a party asks (the feature code during the call,
 * or the dashboard's button), 'never' not at all. Absent: 'never', or the
 * account's policy's setting for an account.
 */
export const RecordModeSchema = z.enum(['always', 'on-demand', 'never']);

export const PolicySchema = z.strictObject({
  name: z.string().regex(POLICY_NAME_PATTERN),
  callerStream: CallerStreamSchema.default('relay_or_decrypt'),
  calleeStream: CalleeStreamSchema.default('as_caller'),
  record: RecordModeSchema.optional(),
});

/** Media protections a phone may speak: plain RTP, or SRTP keyed by SDES, DTLS-SRTP or ZRTP. */
export const MediaProtectionSchema = z.enum(['rtp', 'sdes', 'dtls', 'zrtp']);
/** A typical desk phone: plain RTP, and SDES when its signalling is TLS. */
export const DEFAULT_MEDIA_SUPPORTED = ['rtp', 'sdes'] as const;

/**
 * What an account's phone can do with media (the media policy's phone
 * abilities): `supported` lists every protection it handles; `required`, when
 * not empty, narrows that to the ones the account insists on (['sdes'] for a
 * phone that must never fall back to plain RTP). Each protection at most once;
 * a required one must be supported.
 */
export const MediaCapsSchema = z
  .strictObject({
    supported: z.array(MediaProtectionSchema).min(1).max(4).default([...DEFAULT_MEDIA_SUPPORTED]),
    required: z.array(MediaProtectionSchema).max(4).default([]),
  })
  .check((ctx) => {
    const m = ctx.value;
    for (const [k, list] of [['supported', m.supported], ['required', m.required]] as const) {
      if (new Set(list).size !== list.length) ctx.issues.push({ code: 'custom', input: list, path: [k], message: 'each protection at most once' });
    }
    const missing = m.required.filter((p) => !m.supported.includes(p));
    if (missing.length > 0) {
      ctx.issues.push({ code: 'custom', input: m.required, path: ['required'], message: `required but not supported: ${missing.join(', ')}` });
    }
  });

/**
 * A SIP account. The cleartext password is never stored: digest
 * authentication (RFC 7616 section 3.4.2, RFC 2617 section 3.2.2.2) only ever
 * needs HA1 = H(username ":" realm ":" password), so we keep HA1 for both
 * algorithms phones use (MD5 and SHA-256). HA1 is still password-equivalent
 * for this realm, which is why the file is mode 0600 and HA1s never leave
 * accounts.ts's public view. Changing sip.realm invalidates every HA1: the
 * passwords must then be set again.
 */
/** Where an account's calls go instead of its phones: always, when it is busy, when it does not answer. */
export const ForwardSchema = z.strictObject({
  always: z.string().regex(EXTENSION_PATTERN).nullable().default(null),
  busy: z.string().regex(EXTENSION_PATTERN).nullable().default(null),
  noAnswer: z.string().regex(EXTENSION_PATTERN).nullable().default(null),
  /** How long the phones ring before a forward on no answer. */
  noAnswerSec: z.number().int().min(5).max(120).default(20),
});

export const PICKUP_GROUP_PATTERN = /^[A-Za-z0-9._-]{1,32}$/;

export const AccountSchema = z.strictObject({
  extension: z.string().regex(EXTENSION_PATTERN),
  name: z.string().max(64).default(''),
  ha1Md5: z.string().regex(/^[0-9a-f]{32}$/),
  ha1Sha256: z.string().regex(/^[0-9a-f]{64}$/),
  policy: z.string().regex(POLICY_NAME_PATTERN).default(DEFAULT_POLICY),
  tlsOnly: z.boolean().default(false),
  /** A fixed contact for phones that never register (sip: or sips: URI). */
  staticContact: z.string().max(256).regex(/^sips?:\S+$/).nullable().default(null),
  /** The phone's media abilities; a file without them gets the typical desk phone's. */
  media: MediaCapsSchema.prefault({}),
  forward: ForwardSchema.prefault({}),
  /** Do not disturb: callers get busy (and a forward on busy, if set). */
  dnd: z.boolean().default(false),
  /** Phones in the same pickup group answer each other's ringing calls with the group pickup code. */
  pickupGroup: z.string().regex(PICKUP_GROUP_PATTERN).nullable().default(null),
  /** Off: a second call to an account already in a call gets busy. */
  callWaiting: z.boolean().default(true),
  createdAt: z.iso.datetime(),
  /** Recording for this account; absent: its policy's. */
  record: RecordModeSchema.optional(),
  /**
   * How the account's phone uses TLS (seed 002): encrypt (the phone does not
   * verify the box), server (it verifies the box against the CA it was
   * given), mutual (it also presents a certificate bound to this account,
   * without which a REGISTER gets 403 even with the right password).
   */
  tlsMode: TlsModeSchema.default('encrypt'),
  /** Voicemail (issue 15): absent means on, with no PIN (the mailbox cannot be opened until one is set). */
  voicemail: z.strictObject({
    enabled: z.boolean().default(true),
    /** The mailbox PIN, salted and hashed (config/features hashPin); never the digits. */
    pinHash: z.string().regex(/^s1\$[0-9a-f]{32}\$[0-9a-f]{64}$/).nullable().default(null),
  }).optional(),
});

/** The HTTP digest realm of per-device provisioning credentials. */
export const PROVISION_REALM = 'SecurePBX provisioning';
export const MAC_PATTERN = /^[0-9a-f]{12}$/;
export const MAX_PHONES = 2000;
export const VendorSchema = z.enum(['yealink', 'polycom', 'snom', 'grandstream', 'generic']);
/** Seed 003: whether a provisioning file carries the SIP password, and how often. */
export const PasswordModeSchema = z.enum(['never', 'once', 'always']);

/**
 * A desk phone the admin assigned to an account (firmware/provisioning).
 * `sipPassword` is the account's cleartext password, kept only for phones in
 * once/always mode (a file must carry it); `fetchHa1` is the per-device HTTP
 * digest (realm PROVISION_REALM) the phone answers when it fetches; neither
 * ever leaves the provisioning service.
 */
export const PhoneSchema = z.strictObject({
  mac: z.string().regex(MAC_PATTERN),
  extension: z.string().regex(EXTENSION_PATTERN),
  vendor: VendorSchema.default('generic'),
  passwordMode: PasswordModeSchema.default('once'),
  sipPassword: z.string().min(1).max(128).nullable().default(null),
  /** Once mode: true after a file carried the password, until the admin resets it. */
  passwordServed: z.boolean().default(false),
  fetchUser: z.string().max(64).nullable().default(null),
  fetchHa1Md5: z.string().regex(/^[0-9a-f]{32}$/).nullable().default(null),
  fetchHa1Sha256: z.string().regex(/^[0-9a-f]{64}$/).nullable().default(null),
  /** Until when (ISO) a fetch from anywhere counts as authenticated: the admin's window for this MAC. */
  windowUntil: z.iso.datetime().nullable().default(null),
  assignedAt: z.iso.datetime(),
});

export const ProvisioningSchema = z.strictObject({
  ntpServer: z.string().max(128).regex(/^[A-Za-z0-9.:-]*$/).default('pool.ntp.org'),
  /** IANA name, e.g. Europe/London. */
  timeZone: z.string().max(64).regex(/^[A-Za-z0-9_+\-/]*$/).default('UTC'),
  /** RFC 6080 multicast plug-and-play answers (only where the SIP UDP port is the PnP port, 5060). */
  pnp: z.boolean().default(true),
});

/** An extension number that rings several accounts: all at once, or one after the other. */
export const RingGroupSchema = z.strictObject({
  extension: z.string().regex(EXTENSION_PATTERN),
  name: z.string().max(64).default(''),
  members: z.array(z.string().regex(EXTENSION_PATTERN)).min(1).max(32),
  order: z.enum(['parallel', 'sequential']).default('parallel'),
  /** In sequential order, how long each member rings before the next. */
  memberRingSec: z.number().int().min(5).max(120).default(15),
  /** Where the call goes when no member answers; null: the caller gets 480 No Answer. */
  noAnswerTo: z.string().regex(EXTENSION_PATTERN).nullable().default(null),
});

const FEATURE_CODE = /^[*#0-9]{1,8}$/;

/** The numbers phones dial for call features. */
export const FeatureCodesSchema = z.strictObject({
  /** Followed by an extension: answer that extension's ringing call. */
  directedPickup: z.string().regex(FEATURE_CODE).default('**'),
  /** Answer a ringing call of the dialler's pickup group. */
  groupPickup: z.string().regex(FEATURE_CODE).default('*8'),
  /** A blind transfer to it parks the call in the first free slot; the slots follow it (700 -> 701..709). */
  park: z.string().regex(/^\d{1,8}$/).default('700'),
  dndOn: z.string().regex(FEATURE_CODE).default('*78'),
  dndOff: z.string().regex(FEATURE_CODE).default('*79'),
  /** Opens the caller's own voicemail box. */
  voicemail: z.string().regex(FEATURE_CODE).default('*97'),
});

export const FeaturesSchema = z.strictObject({
  codes: FeatureCodesSchema.prefault({}),
  parkSlots: z.number().int().min(1).max(99).default(9),
  /** A parked call nobody retrieves rings the parker back after this long. */
  parkTimeoutSec: z.number().int().min(10).max(3600).default(120),
  /** A held call nobody resumes rings the holder back after this long; 0: never. */
  holdRecallSec: z.number().int().min(0).max(3600).default(180),
  /**
   * Whether the box plays music on hold (the uploaded WAV, else its built-in
   * tune) to a held party on a call it bridges. false: every hold passes
   * through to the other phone as on a fully private call, and plays
   * whatever that phone does (often nothing); no hold recall then either.
   */
  musicOnHold: z.boolean().default(true),
});

export const AdminSchema = z.strictObject({
  passwordHash: z.string().regex(SCRYPT_HASH_PATTERN).nullable().default(null),
  /** One-time code printed on the console for the first visit; null once used. */
  setupCode: z.string().min(1).max(128).nullable().default(null),
});

export const SipSchema = z
  .strictObject({
    realm: z.string().min(1).max(128).regex(/^[A-Za-z0-9.-]+$/).default(DEFAULT_REALM),
    minExpires: z.number().int().min(1).default(60),
    maxExpires: z.number().int().min(1).max(86400).default(3600),
    defaultExpires: z.number().int().min(1).default(600),
    /**
     * Longest registration granted over TCP/TLS (raised to minExpires when
     * below it). A binding on a connection dies with the connection; after a
     * restart of the box a phone that sends nothing but REGISTERs is back
     * within this time. Refreshing on an open connection costs no handshake.
     */
    streamMaxExpires: z.number().int().min(1).max(86400).default(300),
    /** RFC 5626 Flow-Timer (keep-alive interval) offered to outbound phones on TCP/TLS. */
    flowTimerSec: z.number().int().min(10).max(3600).default(60),
    authFailLimit: z.number().int().min(1).default(10),
    authFailWindowSec: z.number().int().min(1).default(60),
    authBlockSec: z.number().int().min(0).default(300),
    /** Issue 20: wrong passwords per account (and per account and source) allowed a minute, an hour, a day. */
    guessesPerMinute: z.number().int().min(1).max(1000).default(10),
    guessesPerHour: z.number().int().min(1).max(10_000).default(30),
    guessesPerDay: z.number().int().min(1).max(100_000).default(100),
    /**
     * Digest algorithms offered in each challenge, most preferred first (RFC
     * 8760). MD5 alone by default: older clients (baresip 1.0 among them, and
     * many desk phones) fail the whole registration when any challenge names
     * an algorithm they lack, even with MD5 offered beside it. An office whose
     * phones all speak SHA-256 sets ["SHA-256"].
     */
    digestAlgorithms: z.array(z.enum(['SHA-256', 'MD5'])).min(1).max(2)
      .refine((a) => new Set(a).size === a.length, { message: 'each algorithm at most once' })
      .default(['MD5']),
  })
  .check((ctx) => {
    const s = ctx.value;
    if (!(s.minExpires <= s.defaultExpires && s.defaultExpires <= s.maxExpires)) {
      ctx.issues.push({
        code: 'custom',
        input: s,
        path: ['defaultExpires'],
        message: `must satisfy minExpires (${s.minExpires}) <= defaultExpires (${s.defaultExpires}) <= maxExpires (${s.maxExpires})`,
      });
    }
  });

export const CallsSchema = z.strictObject({
  /** A call nobody answers within this time ends with 480 No Answer. */
  noAnswerSec: z.number().int().min(5).max(600).default(60),
  /** A call whose media stops in both directions for this long is ended with BYE on both legs. */
  mediaTimeoutSec: z.number().int().min(5).max(3600).default(60),
});

export const PkiSchema = z.strictObject({
  renewBeforeDays: z.number().int().min(1).max(365).default(30),
});

export const NetworkSchema = z.strictObject({
  bind: z.string().min(1).default('0.0.0.0'),
  sipPort: port.default(5060),
  tlsPort: port.default(5061),
  webPort: port.default(8443),
  httpPort: port.default(8080),
  rtpPorts: z
    .strictObject({ min: port.default(10000), max: port.default(20000) })
    .refine((r) => r.min < r.max, { message: 'min must be below max', path: ['max'] })
    .prefault({}),
});

/** SIP trunks (pbx/trunks): a provider, or another box. The password is the provider's, kept because digest needs it; never shown. */
export const TRUNK_NAME_PATTERN = /^[A-Za-z0-9._-]{1,32}$/;
export const MAX_TRUNKS = 32;
export const TrunkSchema = z.strictObject({
  name: z.string().regex(TRUNK_NAME_PATTERN),
  host: z.string().min(1).max(253).regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)$/),
  port: port.nullable().default(null),
  transport: z.enum(['udp', 'tcp', 'tls']).default('udp'),
  username: z.string().min(1).max(64).regex(/^[A-Za-z0-9._+~-]+$/).nullable().default(null),
  password: z.string().min(1).max(128).nullable().default(null),
  register: z.boolean().default(false),
  policy: z.string().regex(POLICY_NAME_PATTERN).default(DEFAULT_POLICY),
  /** PEM of the CA the provider's (or the other box's) certificate must chain to; null: the system store. */
  ca: z.string().max(65536).nullable().default(null),
  /** Addresses the trunk's calls may come from besides its resolved servers (IP-authenticated trunks). */
  allow: z.array(z.string().min(2).max(45)).max(16).default([]),
  /** What the provider does with media: SDES where it offers it, plain RTP otherwise. */
  media: MediaCapsSchema.prefault({}),
  /** Calls on this trunk are exempt from sips: end-to-end enforcement (few PSTN gateways do TLS/SRTP). */
  sipsExempt: z.boolean().default(true),
  maxCalls: z.number().int().min(1).max(1000).default(4),
  /** The caller ID sent when neither route nor extension sets one; null: the trunk's user name. */
  callerId: z.string().max(32).regex(/^\+?[0-9]*$/).nullable().default(null),
  outboundProxy: z.string().max(253).nullable().default(null),
});
export const OutboundRouteSchema = z.strictObject({
  prefix: z.string().max(16).regex(/^[0-9*#+]*$/),
  trunks: z.array(z.string().regex(TRUNK_NAME_PATTERN)).min(1).max(8),
  strip: z.number().int().min(0).max(16).default(0),
  prepend: z.string().max(16).regex(/^\+?[0-9]*$/).default(''),
  international: z.boolean().default(false),
  premium: z.boolean().default(false),
  callerId: z.string().max(32).regex(/^\+?[0-9]*$/).nullable().default(null),
});
export const DidSchema = z.strictObject({
  number: z.string().min(1).max(32).regex(/^\+?[0-9]+$/),
  to: z.string().regex(EXTENSION_PATTERN),
  trunk: z.string().regex(TRUNK_NAME_PATTERN),
});
export const DialRightsSchema = z.strictObject({
  extension: z.string().regex(EXTENSION_PATTERN),
  international: z.boolean().default(false),
  premium: z.boolean().default(false),
  callerId: z.string().max(32).regex(/^\+?[0-9]*$/).nullable().default(null),
});
export const TrunkingSchema = z.strictObject({
  trunks: z.array(TrunkSchema).max(MAX_TRUNKS).default([]),
  routes: z.array(OutboundRouteSchema).max(256).default([]),
  dids: z.array(DidSchema).max(2000).default([]),
  /** Toll-fraud rights per extension; an extension not listed has none (national and emergency only). */
  rights: z.array(DialRightsSchema).max(MAX_ACCOUNTS).default([]),
  /** Concurrent outbound calls one account may have. */
  maxCallsPerAccount: z.number().int().min(1).max(100).default(2),
  emergency: z.array(z.string().regex(/^[0-9]{2,6}$/)).max(16).default(['112', '911', '999', '110', '000']),
  international: z.array(z.string().max(8)).max(16).default(['00', '+', '011']),
  premium: z.array(z.string().max(8)).max(64).default(['0900', '0901', '0906', '0909', '0137', '0138', '1900', '1976', '118']),
  /** The toll-fraud alarm (pbx/trunks/surge.ts): more outbound attempts by one account than `calls` in `windowMinutes`; calls 0: off. */
  alarm: z.strictObject({
    calls: z.number().int().min(0).max(10_000).default(20),
    windowMinutes: z.number().int().min(1).max(1440).default(10),
  }).prefault({}),
});

const defaultPolicies = [{ name: DEFAULT_POLICY }];

export const MAX_ROOMS = 64;
/** The most participants a room may be given (the mixer's own limit is MAX_MIXER_MEMBERS). */
export const MAX_ROOM_PARTICIPANTS = 16;

/** A meet-me conference room: an extension that, dialled, joins the caller to the room's mixer. */
export const RoomSchema = z.strictObject({
  extension: z.string().regex(EXTENSION_PATTERN),
  /** Digits asked for by DTMF (RFC 4733) before joining; null: no PIN. */
  pin: z.string().regex(/^[0-9]{1,12}$/).nullable().default(null),
  max: z.number().int().min(2).max(MAX_ROOM_PARTICIPANTS).default(8),
});

/** An auto-attendant: the box answers, plays the greeting (DATA/attendant/EXT.pcm, or its own), and routes by one digit. */
export const AttendantSchema = z.strictObject({
  extension: z.string().regex(EXTENSION_PATTERN),
  /** Digit -> extension (an account or a ring group). */
  digits: z.record(z.string().regex(/^[0-9*#]$/), z.string().regex(EXTENSION_PATTERN)).default({}),
  /** Where a caller who presses nothing goes; null: the box hangs up. */
  timeoutTo: z.string().regex(EXTENSION_PATTERN).nullable().default(null),
  timeoutSec: z.number().int().min(2).max(60).default(8),
});

/** Recording settings beside the per-account and per-policy mode. */
export const RecordingSchema = z.strictObject({
  /** Both parties hear a short tone when a recording of their call starts. */
  tone: z.boolean().default(true),
  /** Days a recording is kept before the box deletes it (recording/housekeeping.ts); 0: no age limit. */
  retentionDays: z.number().int().min(0).max(3650).default(90),
  /** Space all recordings may take, in MB; beyond it the oldest go first. 0: no limit (the store still keeps its disk-free reserve). */
  maxMegabytes: z.number().int().min(0).max(1_000_000).default(4096),
});

export const ConfigSchema = z
  .strictObject({
    schemaVersion: z.literal(CURRENT_SCHEMA_VERSION),
    admin: AdminSchema.prefault({}),
    accounts: z.array(AccountSchema).max(MAX_ACCOUNTS).default([]),
    sip: SipSchema.prefault({}),
    calls: CallsSchema.prefault({}),
    pki: PkiSchema.prefault({}),
    policies: z.array(PolicySchema).min(1).max(MAX_POLICIES).prefault(defaultPolicies),
    network: NetworkSchema.prefault({}),
    trunking: TrunkingSchema.prefault({}),
    rooms: z.array(RoomSchema).max(MAX_ROOMS).optional(),
    recording: RecordingSchema.optional(),
    phones: z.array(PhoneSchema).max(MAX_PHONES).default([]),
    provisioning: ProvisioningSchema.prefault({}),
    groups: z.array(RingGroupSchema).max(MAX_POLICIES).default([]),
    features: FeaturesSchema.prefault({}),
    /** Auto-attendants (issue 15): an extension the box answers with a greeting, routing by digit. */
    attendants: z.array(AttendantSchema).max(MAX_ROOMS).optional(),
  })
  .check((ctx) => {
    const c = ctx.value;
    const seen = new Set<string>();
    c.accounts.forEach((a, i) => {
      if (seen.has(a.extension)) {
        ctx.issues.push({ code: 'custom', input: a.extension, path: ['accounts', i, 'extension'], message: `duplicate extension ${a.extension}` });
      }
      seen.add(a.extension);
    });
    const policies = new Set<string>();
    c.policies.forEach((p, i) => {
      if (policies.has(p.name)) {
        ctx.issues.push({ code: 'custom', input: p.name, path: ['policies', i, 'name'], message: `duplicate policy ${p.name}` });
      }
      policies.add(p.name);
    });
    if (!policies.has(DEFAULT_POLICY)) {
      ctx.issues.push({ code: 'custom', input: c.policies, path: ['policies'], message: `the "${DEFAULT_POLICY}" policy must exist` });
    }
    (c.rooms ?? []).forEach((r, i) => {
      if (seen.has(r.extension)) {
        ctx.issues.push({ code: 'custom', input: r.extension, path: ['rooms', i, 'extension'], message: `room ${r.extension} clashes with an account or another room` });
      }
      seen.add(r.extension);
    });
    c.groups.forEach((g, i) => {
      if (seen.has(g.extension)) {
        ctx.issues.push({ code: 'custom', input: g.extension, path: ['groups', i, 'extension'], message: `${g.extension} is already an extension or a group` });
      }
      seen.add(g.extension);
    });
    c.accounts.forEach((a, i) => {
      if (!policies.has(a.policy)) {
        ctx.issues.push({ code: 'custom', input: a.policy, path: ['accounts', i, 'policy'], message: `unknown policy ${a.policy}` });
      }
    });
  });

export type Config = z.output<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;
export type Account = z.output<typeof AccountSchema>;
export type Policy = z.output<typeof PolicySchema>;
export type Phone = z.output<typeof PhoneSchema>;
export type Vendor = z.output<typeof VendorSchema>;
export type PasswordMode = z.output<typeof PasswordModeSchema>;
export type TlsMode = z.output<typeof TlsModeSchema>;
export type RingGroup = z.output<typeof RingGroupSchema>;
export type FeatureCodes = z.output<typeof FeatureCodesSchema>;
export type Features = z.output<typeof FeaturesSchema>;
export type Forward = z.output<typeof ForwardSchema>;
export type MediaCaps = z.output<typeof MediaCapsSchema>;
export type RecordMode = z.output<typeof RecordModeSchema>;
export type Room = z.output<typeof RoomSchema>;
export type MediaProtectionName = z.output<typeof MediaProtectionSchema>;
export type CallerStream = z.output<typeof CallerStreamSchema>;
export type CalleeStream = z.output<typeof CalleeStreamSchema>;
export type Trunk = z.output<typeof TrunkSchema>;
export type OutboundRouteConfig = z.output<typeof OutboundRouteSchema>;
export type Did = z.output<typeof DidSchema>;
export type Trunking = z.output<typeof TrunkingSchema>;

/** The configuration a first boot writes. */
export function defaultConfig(): Config {
  return ConfigSchema.parse({ schemaVersion: CURRENT_SCHEMA_VERSION });
}

/** Render zod issues as `path: message` lines joined by "; " (at most `max`). */
export function formatIssues(issues: readonly z.core.$ZodIssue[], max = 10): string {
  const parts = issues.slice(0, max).map((i) => `${formatPath(i.path)}: ${i.message}`);
  if (issues.length > max) parts.push(`and ${issues.length - max} more`);
  return parts.join('; ');
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out === '' ? '(root)' : out;
}
