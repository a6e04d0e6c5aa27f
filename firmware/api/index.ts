/**
 * The JSON the admin API (admin/api.ts) and the `pbx` commands
 * (control/commands.ts) answer with and accept: one definition that the
 * server builds its replies against and the page (webui/src/types.ts) reads
 * them with, so a change on either side fails the other side's build.
 *
 * This file imports nothing, on purpose: the page's type-check and bundle
 * take it as it is, and it must never pull node:*, zod or forge into either.
 * It sits on the bottom floor of the layers (beside core) so every layer that
 * builds one of these shapes can name it. test/architecture.test.ts keeps it
 * import-free.
 */

/* ---- shared words ---- */

/** A SIP signalling transport (sip/transport's TransportName has the same members). */
export type SipTransport = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

/** Media protection on one leg: plain RTP or the key agreement used. */
export type MediaProtection = 'rtp' | 'sdes' | 'dtls' | 'zrtp';

/** A policy's treatment of the caller's media (config/schema.ts CallerStreamSchema must list the same). */
export type CallerStreamOption = 'forced_relay' | 'relay_or_decrypt' | 'decrypt';
/** A policy's protection toward the callee (config/schema.ts CalleeStreamSchema must list the same). */
export type CalleeStreamOption = 'as_caller' | 'decrypted' | 'sdes' | 'dtls' | 'zrtp';

/* ---- errors, first run, sessions ---- */

/** One problem of a rejected input (every issue of an uploaded certificate, say). */
export interface Problem { readonly code: string; readonly message: string }

/** Every error reply of /api: `field` names the input at fault so the page can show the message beside it. */
export interface ApiErrorBody {
  readonly error: string;
  readonly code?: string;
  readonly field?: string;
  readonly problems?: readonly Problem[];
}

/** GET /api/setup. */
export interface SetupState { readonly needsSetup: boolean; readonly loggedIn: boolean }

/** POST /api/setup, POST /api/login, POST /api/admin/password, GET /api/session. */
export interface SessionToken { readonly csrfToken: string }

/** POST /api/logout. */
export interface LoggedOut { readonly loggedOut: true }

/* ---- status: GET /api/status, the `status` live event, `pbx status --json` ---- */

/** What the board's error LED and the page show about the config file (config/store.ts). */
export type ConfigHealth =
  | { readonly ok: true }
  | { readonly ok: false; readonly problem: string; readonly brokenCopy: string };

/** A registered phone: a location binding without its call-id, CSeq or flow. */
export interface RegistrationView {
  readonly extension: string;
  readonly contact: string;
  readonly transport: SipTransport;
  readonly source: { readonly address: string; readonly port: number };
  /** Epoch milliseconds. */
  readonly expiresAt: number;
  readonly registeredAt: number;
  readonly userAgent?: string;
  /**
   * false when the binding's TCP/TLS connection is gone (closed, or from
   * before a restart): calls to it fail at once until the phone sends any
   * authenticated request on a new connection.
   */
  readonly reachable: boolean;
}

/** A source address the digest throttle refuses for now (sip/digest/throttle.ts BlockedSource has this shape). */
export interface BlockedSource {
  readonly address: string;
  /** Clock time at which the block lifts. */
  readonly until: number;
  /** Failures counted when the block began, plus any while blocked. */
  readonly failures: number;
  /** Issue 20: the account tried, and whether the whole source or one account's guessing is refused. */
  readonly extension?: string;
  readonly scope?: 'address' | 'source' | 'account';
}

/** The board's LEDs (board/hal.ts re-exports these: the HAL drives them, the page mirrors them). */
export type LedName = 'power' | 'registration' | 'call' | 'error';
export type LedColor = 'green' | 'amber' | 'red' | 'blue';
/** What one LED is doing. `blink` toggles every `periodMs / 2`. */
export type LedState =
  | { readonly mode: 'off' }
  | { readonly mode: 'on'; readonly color?: LedColor }
  | { readonly mode: 'blink'; readonly periodMs: number; readonly color?: LedColor };

/** One leg of a call as the CLI, the page and the call records show it: never a key. */
export interface LegView {
  /** The account on this leg, or the remote URI for a static contact or trunk. */
  readonly party: string;
  /** Signalling transport of this leg. */
  readonly transport: SipTransport;
  readonly address?: string;
  readonly protection: MediaProtection;
  /** SRTP suite on this leg, e.g. AES_CM_128_HMAC_SHA1_80; absent for plain RTP. */
  readonly suite?: string;
  /** Who holds this leg's keys: the box (it decrypts), or the phones alone (relayed end to end). */
  readonly keys?: 'box' | 'end-to-end';
  readonly codec?: string;
  /** This leg's phone has put the call on hold. */
  readonly held?: boolean;
  /** The box plays music on hold into this leg. */
  readonly music?: boolean;
  /** ZRTP the box terminates on this leg: its SAS once secure (the admin sees it; the phone shows the same). */
  readonly sas?: string;
  /** The rest of that exchange: verified flags, cache state, algorithms, enrollment. */
  readonly zrtp?: ZrtpLegView;
}

/** A ZRTP exchange between the box and a phone, as the admin sees it (never a key). */
export interface ZrtpLegView {
  readonly sas: string;
  /** The box's verified flag for this phone (RFC 6189 7.1). */
  readonly sasVerified: boolean;
  /** The phone's Confirm said its user verified the SAS before (its V flag). */
  readonly peerVerified?: boolean;
  /** Retained secrets (RFC 6189 4.6.1): 'mismatch' means a possible attack, or a lost cache. */
  readonly cache?: 'match' | 'mismatch' | 'none';
  /** Key agreement, cipher, auth tag and SAS rendering, e.g. "EC25 AES1 HS80 B32". */
  readonly algorithms?: string;
  /** The phone is enrolled with the box as its trusted PBX (RFC 6189 7.3.1). */
  readonly enrolled?: boolean;
}

/** A live call (pbx/b2bua.ts builds these). */
export interface CallView {
  readonly id: string;
  readonly caller: string;
  readonly callee: string;
  readonly state: 'routing' | 'ringing' | 'answered' | 'ending';
  /** Epoch milliseconds. */
  readonly startedAt: number;
  readonly answeredAt?: number;
  readonly legs: { readonly a: LegView; readonly b?: LegView };
  /** relay: encrypted media passes untouched (fully private); bridge: the box decrypts and re-encrypts. */
  readonly mode: 'relay' | 'bridge';
  /** Whether the box holds the keys, so recording and music on hold are possible. */
  readonly recordingPossible: boolean;
  /** Why the media is protected as it is (the media policy's decision), once decided. */
  readonly policyNote?: string;
  /** What a feature could not do on this call and why (e.g. no music on hold on a fully private call). */
  readonly notes?: readonly string[];
  /** The park slot the call waits in (dial it to retrieve the call), while it is parked. */
  readonly parked?: string;
  /** The recording running on this call, if any (issue 9). */
  readonly recording?: { readonly id: string; readonly kind: RecordingKindOption };
  /** How the call is recorded on the parties' accounts: on-demand calls show the dashboard's button. */
  readonly recordMode?: RecordModeOption;
}

/** One engine session's legs and their packet counts so far (no addresses, no keys). */
export interface MediaStreamView {
  readonly session: string;
  readonly legs: Readonly<Record<string, { readonly packetsIn: number; readonly packetsOut: number; readonly security: string; readonly playing?: boolean }>>;
}

/** What only a running appliance adds to the status (main.ts Appliance.status); every part optional. */
/** A toll-fraud alarm: an account's outbound calls jumped (pbx/trunks/surge.ts); it stays until the admin clears it. */
export interface TollAlarmView {
  readonly extension: string;
  /** Outbound attempts: those in the window that raised it, plus every one since. */
  readonly calls: number;
  readonly windowMinutes: number;
  /** When it was raised and when the last attempt came, ISO 8601. */
  readonly raisedAt: string;
  readonly lastAt: string;
  /** The last number the account dialled (after rewriting), to tell the admin what was tried. */
  readonly lastNumber: string;
}

export interface LiveStatus {
  readonly pid?: number;
  readonly ports?: { readonly sipUdp: number; readonly sipTcp: number; readonly sipTls: number; readonly web: number; readonly http: number };
  readonly adminUrl?: string;
  /** The running appliance's own view of its config file (the same value the report carries). */
  readonly configHealth?: ConfigHealth;
  readonly registrations?: readonly RegistrationView[];
  readonly blocked?: readonly BlockedSource[];
  readonly calls?: readonly CallView[];
  readonly media?: {
    readonly sessions: number; readonly portsInUse: number; readonly counters: Readonly<Record<string, number>>;
    /** When these figures were taken (the appliance's clock, epoch ms); absent before the first. */
    readonly at?: number;
    /** Packets each leg of each engine session carried so far: in = from its phone, out = to it (the one-way-audio check). */
    readonly streams?: readonly MediaStreamView[];
  };
  readonly leds?: Readonly<Partial<Record<LedName, LedState>>>;
  readonly certificate?: { readonly notAfter: string; readonly serial: string };
  readonly counters?: Readonly<Record<string, number>>;
  /** Raised toll-fraud alarms. */
  readonly alarms?: readonly TollAlarmView[];
  /** The process's memory (bytes, process.memoryUsage()) and open descriptors: what a soak watches for leaks. */
  readonly process?: {
    readonly rss: number; readonly heapUsed: number; readonly heapTotal: number; readonly external: number; readonly arrayBuffers: number;
    readonly openFds?: number;
    /** V8's heap by space (v8.getHeapSpaceStatistics): bytes reserved and used, e.g. new_space, old_space, large_object_space. */
    readonly heapSpaces?: Readonly<Record<string, { readonly size: number; readonly used: number }>>;
  };
  /** Live SIP state: transactions (client, server, answered-and-remembered) and B2BUA calls. */
  readonly sip?: { readonly clientTransactions: number; readonly serverTransactions: number; readonly answered: number };
}

/** The whole status report. A stopped appliance answers with `running: false` and its saved registrations. */
export interface StatusReport extends LiveStatus {
  readonly running: boolean;
  readonly accounts: number;
  readonly configHealth: ConfigHealth;
}

/* ---- extensions ---- */

/** What may be shown about an account: never its HA1s (config/accounts.ts builds it). */
export interface AccountView {
  readonly extension: string;
  readonly name: string;
  readonly policy: string;
  readonly tlsOnly: boolean;
  readonly staticContact: string | null;
  readonly createdAt: string;
  /** Its own recording mode; absent: its policy's. */
  readonly record?: RecordModeOption;
  /** encrypt | server | mutual (issue 12): how the account's phone uses TLS. */
  readonly tlsMode: TlsModeOption;
  /** Where calls go instead: always, on busy, on no answer (after noAnswerSec); null: not forwarded. */
  readonly forward: { readonly always: string | null; readonly busy: string | null; readonly noAnswer: string | null; readonly noAnswerSec: number };
  readonly dnd: boolean;
  readonly pickupGroup: string | null;
  readonly callWaiting: boolean;
  /** The phone's media abilities (`--media`) and what the account insists on (`--require`). */
  readonly media?: { readonly supported: readonly MediaProtection[]; readonly required: readonly MediaProtection[] };
  /** Voicemail on or off, and whether a mailbox PIN is set (never the PIN). */
  readonly voicemail?: { readonly enabled: boolean; readonly pin: boolean };
}

/** A ring group: an extension number that rings several accounts. */
export interface RingGroupView {
  readonly extension: string;
  readonly name: string;
  readonly members: readonly string[];
  readonly order: 'parallel' | 'sequential';
  readonly memberRingSec: number;
  readonly noAnswerTo: string | null;
}

/** POST /api/accounts: the account, with the password when the box generated it (shown once). */
export interface AddedAccount extends AccountView { readonly password?: string }

/** POST /api/accounts/:extension/password: the password only when the box generated it. */
export interface PasswordReset { readonly extension: string; readonly password?: string }

/** DELETE /api/accounts/:extension. */
export interface AccountRemoved { readonly removed: string }

/** `pbx account import`. */
export interface AccountsImported { readonly imported: number }
/** Music on hold stored from an uploaded WAV: its length after conversion, and what the file was. */
/** What a held party hears now (GET /api/moh, `moh.get`): the admin's upload (its length) or the box's built-in tune. */
export interface HoldMusicInfo {
  readonly playing: 'uploaded' | 'built-in';
  readonly seconds?: number;
}

/** DELETE /api/moh, `moh.reset`: back to the built-in tune; `removed` is false when no upload was stored. */
export interface HoldMusicReset {
  readonly playing: 'built-in';
  readonly removed: boolean;
}

export interface HoldMusicSet {
  readonly seconds: number;
  readonly cut: boolean;
  readonly source: { readonly format: string; readonly sampleRate: number; readonly channels: number; readonly bitsPerSample: number };
}

/* ---- policies ---- */

/** A media security policy (config/schema.ts Policy is checked equal to it). */
export interface Policy {
  readonly name: string;
  readonly callerStream: CallerStreamOption;
  readonly calleeStream: CalleeStreamOption;
  readonly record?: RecordModeOption;
}

/* ---- recording and conferences (issue 9) ---- */

export type RecordModeOption = 'always' | 'on-demand' | 'never';
export type RecordingKindOption = 'decoded' | 'encrypted-capture';

/** One recording as `pbx recording list --json` and the page list it. */
export interface RecordingListEntry {
  readonly id: string;
  readonly kind: RecordingKindOption;
  /** ISO 8601. */
  readonly start: string;
  readonly parties: readonly string[];
  readonly durationMs: number;
  readonly state: 'recording' | 'complete' | 'incomplete' | 'damaged';
  /** How each recorded leg was protected, in channel order. */
  readonly legs: readonly { readonly id: string; readonly protection: string }[];
  readonly notes: readonly string[];
  readonly size: number;
}

export interface RecordingExported { readonly id: string; readonly out: string; readonly bytes: number; readonly kind: RecordingKindOption }
export interface RecordingToggled { readonly call: string; readonly recording: boolean; readonly id?: string }
/** GET /api/system (`system.get`): the box-wide settings; the host name is the operating system's. */
export interface SystemSettings {
  readonly hostname: string;
  /** The SIP domain (digest realm). */
  readonly realm: string;
  readonly timeZone: string;
  readonly ntpServer: string;
  readonly sipPort: number;
  readonly tlsPort: number;
  readonly webPort: number;
  readonly httpPort: number;
  readonly rtpMin: number;
  readonly rtpMax: number;
}
/** PUT /api/system (`system.set`): what is stored now, what waits for a restart, whether SIP passwords must be set again. */
export interface SystemSettingsSaved { readonly settings: SystemSettings; readonly restartNeeded: readonly string[]; readonly passwordsInvalid: boolean }
/** `call.hangup` (POST /api/calls/:id/hangup): the call the admin ended, and the phase it was in. */
export interface CallHungUp { readonly ended: string; readonly caller: string; readonly callee: string; readonly state: CallView['state'] }
export interface RoomView { readonly extension: string; readonly pin: boolean; readonly max: number }

/** GET /api/policies: each policy with how many extensions use it. */
export interface PolicyListEntry extends Policy { readonly accounts: number }

/** DELETE /api/policies/:name. */
export interface PolicyRemoved { readonly removed: string }

/* ---- certificates ---- */

/** A subjectAltName entry (pki/names.ts). */
export interface SanEntry {
  readonly type: 'dns' | 'ip' | 'email' | 'uri' | 'other';
  readonly value: string;
}

/** What the page and `pbx cert info` show of a certificate (pki/x509.ts certInfo builds it). */
export interface CertInfo {
  readonly subjectCn: string | null;
  readonly issuerCn: string | null;
  readonly sans: readonly SanEntry[];
  /** ISO 8601 instants. */
  readonly notBefore: string;
  readonly notAfter: string;
  /** Upper-case hex, as OpenSSL prints it. */
  readonly serial: string;
  /** Colon-separated upper-case hex of the DER encoding's digest. */
  readonly sha256: string;
  readonly sha1: string;
  readonly isCa: boolean;
}

/** GET /api/certs. */
export interface CertsInfo {
  readonly ca: CertInfo;
  readonly server: CertInfo;
  /** The server certificate was uploaded rather than issued by the box's CA. */
  readonly custom: boolean;
}

/** Why the server certificate was (re)issued (pki/store.ts). */
export type RenewReason =
  | 'created'        // first boot
  | 'missing'        // server certificate or key absent
  | 'corrupt'        // unreadable, mismatched key, or not issued by our CA
  | 'new-ca'         // the CA was replaced, so the leaf had to be too
  | 'expiring'       // within the renewal window
  | 'not-yet-valid'  // the clock moved back before notBefore
  | 'names-changed'  // hostname or addresses no longer covered
  | 'manual'         // the admin asked
  | 'custom';        // the admin uploaded a certificate

/** One renewal; GET /api/certs/history lists them newest first. */
export interface RenewalRecord {
  readonly at: string;
  readonly reason: RenewReason;
  readonly oldSerial: string | null;
  readonly newSerial: string;
}

/** POST /api/certs/renew. */
export interface RenewResult { readonly record: RenewalRecord; readonly server: CertInfo }

/** The fields of POST /api/certs/custom. */
export interface CustomCertUpload {
  readonly certPem: string;
  readonly chainPem?: string;
  readonly keyPem: string;
}

/** POST /api/certs/custom. */
export interface CertInstalled { readonly server: CertInfo }

/** `pbx cert ca`. */
export interface CaPath { readonly path: string }

/* ---- call history ---- */

/**
 * One line of calls.jsonl as pbx/records.ts writes it, and GET
 * /api/calls/history lists them newest first. Instants are ISO strings;
 * epoch milliseconds from older files are read as well.
 */
export interface CallRecordJson {
  readonly id: string;
  readonly caller: string;
  readonly callee: string;
  readonly startedAt: string | number;
  readonly answeredAt?: string | number;
  readonly endedAt: string | number;
  readonly endReason: string;
  readonly legs: { readonly a: LegView; readonly b?: LegView };
  readonly mode: 'relay' | 'bridge';
  /** What the call's features did (held, recalled, transferred, parked). */
  readonly notes?: readonly string[];
}

/* ---- the commands behind the routes ---- */

/**
 * Each `pbx` command's reply (control/commands.ts checks every case against
 * it; admin/api.ts answers each route with its command's reply).
 */
export interface CommandReplies {
  readonly 'status': StatusReport;
  readonly 'account.add': AddedAccount;
  readonly 'account.update': AccountView;
  readonly 'account.password': PasswordReset;
  readonly 'account.import': AccountsImported;
  readonly 'moh.set': HoldMusicSet;
  readonly 'moh.get': HoldMusicInfo;
  readonly 'moh.reset': HoldMusicReset;
  readonly 'account.list': readonly AccountView[];
  readonly 'account.remove': AccountRemoved;
  readonly 'policy.list': readonly PolicyListEntry[];
  readonly 'policy.add': Policy;
  readonly 'policy.update': Policy;
  readonly 'policy.remove': PolicyRemoved;
  readonly 'cert.ca': CaPath;
  readonly 'cert.info': CertsInfo;
  readonly 'cert.history': readonly RenewalRecord[];
  readonly 'cert.renew': RenewResult;
  readonly 'cert.install': CertInstalled;
  readonly 'calls.history': readonly CallRecordJson[];
  readonly 'trunk.list': readonly TrunkView[];
  readonly 'route.list': readonly RouteView[];
  readonly 'did.list': readonly DidView[];
  readonly 'recording.list': readonly RecordingListEntry[];
  readonly 'recording.export': RecordingExported;
  readonly 'recording.toggle': RecordingToggled;
  readonly 'call.hangup': CallHungUp;
  readonly 'room.add': RoomView;
  readonly 'room.list': readonly RoomView[];
  readonly 'room.remove': { readonly removed: string };
  readonly 'group.add': RingGroupView;
  readonly 'group.list': readonly RingGroupView[];
  readonly 'group.remove': { readonly removed: string };
}

export type CommandName = keyof CommandReplies;

/** A SIP trunk with its live state (pbx/trunks), as `pbx trunk list --json` and the trunks view show it. Never its password. */
export interface TrunkView {
  readonly name: string;
  readonly host: string;
  readonly port: number | null;
  readonly transport: 'udp' | 'tcp' | 'tls';
  readonly username: string | null;
  readonly register: boolean;
  readonly policy: string;
  /** Checked against an uploaded CA (true) or the system store (false); TLS only. */
  readonly customCa: boolean;
  readonly sipsExempt: boolean;
  readonly maxCalls: number;
  /** Live, only from a running appliance. */
  readonly live?: {
    /** off: an IP-authenticated trunk that does not register. */
    readonly registration: 'off' | 'idle' | 'registering' | 'registered' | 'retrying' | 'config-error' | 'stopped';
    /** OPTIONS keep-alive: down when the trunk stopped answering. */
    readonly liveness: 'unknown' | 'up' | 'down';
    readonly lastError?: string;
    /** ISO 8601, while registered. */
    readonly registeredUntil?: string;
    readonly servers: readonly string[];
    readonly activeCalls: number;
  };
}

/** An outbound route and a DID as the CLI and the trunks view show them. */
export interface RouteView {
  readonly prefix: string;
  readonly trunks: readonly string[];
  readonly strip: number;
  readonly prepend: string;
  readonly international: boolean;
  readonly premium: boolean;
}
export interface DidView {
  readonly number: string;
  readonly to: string;
  readonly trunk: string;
}

/* ---- provisioning (issue 12) ---- */

export type TlsModeOption = 'encrypt' | 'server' | 'mutual';
export type VendorOption = 'yealink' | 'polycom' | 'snom' | 'grandstream' | 'generic';
export type PasswordModeOption = 'never' | 'once' | 'always';

/** A phone the admin assigned, or one that asked for a file: never its password or digest. */
export interface PhoneView {
  readonly mac: string;
  readonly extension: string | null;
  readonly vendor: VendorOption | null;
  readonly passwordMode: PasswordModeOption | null;
  /** Once mode: a file carried the password already. */
  readonly passwordServed: boolean;
  readonly hasFetchDigest: boolean;
  readonly windowUntil: string | null;
  readonly model: string | null;
  readonly firmware: string | null;
  readonly lastFetch: string | null;
  readonly lastSource: string | null;
}

/** `pbx phone assign`: the view, with the per-device fetch credentials when made now (shown once). */
export interface PhoneAssigned extends PhoneView {
  readonly fetchUser?: string;
  readonly fetchPassword?: string;
}

/** One provisioning fetch, as the log keeps it. */
export interface ProvisionFetch {
  readonly at: string;
  readonly mac: string | null;
  readonly source: string;
  readonly vendor: string | null;
  readonly model: string | null;
  readonly file: string;
  readonly secure: boolean;
  /** how the phone was authenticated: certificate | digest | window | none */
  readonly auth: string;
  readonly status: number;
  readonly withPassword: boolean;
}

/** A device certificate the box issued (no key). */
export interface DeviceCertView {
  readonly serial: string;
  readonly extension: string;
  readonly sha256: string;
  readonly issuedAt: string;
  readonly notAfter: string;
  readonly revokedAt: string | null;
}

/** `pbx cert issue-device`: the PKCS#12 (base64) and its one-time passphrase, shown once. */
export interface DeviceCertIssued extends DeviceCertView {
  readonly p12Base64: string;
  readonly passphrase: string;
}

/* ---- the admin page's log view, call quality, recordings (issue 16; admin/*-routes.ts) ---- */

export type LogLevelOption = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** One log line as GET /api/logs lists it and the event stream's `log` events carry it: secrets replaced. */
export interface LogLine {
  readonly seq: number;
  /** ISO 8601. */
  readonly at: string;
  readonly level: LogLevelOption;
  readonly msg: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

/** One leg's media figures at one sample: counts since the call began, jitter now. */
export interface QualityLegSample {
  readonly packetsIn: number;
  readonly packetsOut: number;
  readonly lost: number;
  readonly jitterMs: number;
  /** What the phone reported of the stream the box sends it (RTCP), when it reports. */
  readonly remoteJitterMs?: number;
  readonly remoteFractionLost?: number;
}

export interface QualitySample {
  /** Epoch milliseconds. */
  readonly at: number;
  readonly legs: Readonly<Record<string, QualityLegSample>>;
}

/** GET /api/calls/:id/quality: the media engine's figures of one call over time. */
export interface CallQualityView {
  readonly call: string;
  readonly live: boolean;
  readonly everyMs: number;
  readonly samples: readonly QualitySample[];
}

/** GET /api/recordings/:id/waveform: per channel, the lowest and highest sample of each step, -128..127 (a capture has 0 channels). */
export interface WaveformView {
  readonly stepMs: number;
  readonly channels: number;
  readonly min: readonly (readonly number[])[];
  readonly max: readonly (readonly number[])[];
}

/* ---- firmware updates from the page (admin/firmware-routes.ts) ---- */

/** Where an update uploaded from the page stands; the page polls until it is final. */
export type FirmwarePhase = 'installed' | 'switching' | 'committed' | 'rolled-back' | 'superseded';

/** GET /api/firmware: the slots, or why this box cannot take an update. */
export interface FirmwareStatus {
  /** False on a box without A/B slots (a development run) or without a trusted vendor key. */
  readonly available: boolean;
  readonly reason?: string;
  readonly running: string;
  readonly committed?: 'a' | 'b';
  readonly trial?: { readonly slot: 'a' | 'b'; readonly version: string } | null;
  readonly last?: { readonly version: string; readonly outcome: 'committed' | 'rolled-back'; readonly reason: string; readonly at: string } | null;
  /** Whether a supervisor (pbx boot) runs to switch to a new slot at once. */
  readonly supervisor: boolean;
  readonly maxBytes: number;
}

/** POST /api/firmware (the bundle as application/octet-stream): verified and installed into the inactive slot. */
export interface FirmwareInstalled {
  /** Ask GET /api/firmware/result/TICKET for the verdict; it survives the restart into the new firmware (sessions do not). */
  readonly ticket: string;
  readonly version: string;
  readonly from: string;
  readonly slot: 'a' | 'b';
  readonly files: number;
  readonly bytes: number;
  /** The signing key's SHA-256 fingerprint. */
  readonly signer: string;
  readonly phase: FirmwarePhase;
}

/** GET /api/firmware/result/:ticket */
export interface FirmwareResult {
  readonly version: string;
  readonly from: string;
  readonly slot: 'a' | 'b';
  readonly phase: FirmwarePhase;
  /** Why it was committed or rolled back (or what happens next). */
  readonly reason: string;
}
