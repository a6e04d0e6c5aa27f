import { closeSync, openSync, readFileSync, readSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import type {
  CallRecordJson, CalleeStreamOption, Problem, CallerStreamOption, CommandReplies, CustomCertUpload, LiveStatus, RegistrationView, StatusReport,
} from '../api/index.js';
import {
  addAccount, importAccountsCsv, listAccounts, removeAccount, setPassword, CalleeStreamSchema, CallerStreamSchema,
  addRingGroup, listRingGroups, removeRingGroup, setAccountFeatures, type AccountFeatureChange,
  DEFAULT_POLICY, PolicySchema, type CalleeStream, type CallerStream, type ConfigStore, type Policy,
} from '../config/index.js';
import { PbxError, cryptoRandom, isPbxError, systemClock, type Clock, type ErrorCode, type Random } from '../core/index.js';
import { caPath, certInfo, pkiPaths, type CertInfo, type RenewalRecord } from '../pki/index.js';
import type { ControlRequest } from './socket.js';
import { MAX_WAV_BYTES } from '../media/index.js';
import { holdMusicInfo, removeHoldMusic, storeHoldMusic } from '../pbx/index.js';
import type { TrunkView } from '../api/index.js';
import { trunkCommand, type TrunkCommandContext } from './trunks.js';
import { voicemailCommand, type VoicemailControl } from './voicemail.js';
import { RECORD_MODES, recordingCommand, roomCommand, type RecordingControl } from './recording.js';
import { PhoneCommandError, phoneCommand, type DeviceCertControl, type ProvisioningControl } from './phones.js';
import { callCommand, type CallControl } from './calls.js';
import { systemCommand } from './system.js';

/** A file's size, or a not-found error naming it. */
function fileSize(path: string): number {
  let fd: number;
  try { fd = openSync(path, 'r'); } catch (e) {
    throw new CommandError('not-found', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, 'path');
  }
  try { return fstatSync(fd).size; } finally { closeSync(fd); }
}

/**
 * The operations behind `pbx ...` (and later the serial console and the web
 * API). One implementation: the CLI runs them directly on the config file when
 * no appliance is running, or sends them over the control socket to the
 * running appliance, which runs the very same function on its own store.
 * Every reply is checked against its shape in the API file (CommandReplies),
 * which the admin page reads it with.
 */

export type { CustomCertUpload, StatusReport };

/** Each way assignable: the same set. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
// The config schema validates the policy choices the API (and the page's
// selects) offer; a choice added on one side only fails this line.
const policyChoicesMatch: Same<CallerStream, CallerStreamOption> & Same<CalleeStream, CalleeStreamOption> = true;
void policyChoicesMatch;

export interface CommandContext {
  readonly store: ConfigStore;
  readonly dataDir: string;
  /** A running appliance's live status; absent when the CLI runs on its own. */
  readonly liveStatus?: () => LiveStatus;
  /** Called after accounts changed, so a running appliance can drop bindings of removed ones. */
  readonly accountsChanged?: () => void;
  /** Source of generated SIP passwords; node:crypto by default. */
  readonly random?: Random;
  /** A running appliance's certificates; without it they are read from the files. */
  readonly certs?: CertSource;
  /** A running appliance's digest throttle (sip/digest AuthThrottle fits); blocks live only in its memory. */
  readonly blocks?: BlockControl;
  /** The clock the throttle's times are on; the system clock by default. */
  readonly clock?: Clock;
  /** A running appliance's ZRTP cache (keying FileZrtpCache): the phones it keeps retained secrets for. */
  readonly zrtp?: ZrtpPeerControl;
  /** A running appliance's trunks with their live state (pbx/trunks). */
  readonly trunks?: () => readonly TrunkView[];
  /** A running appliance's toll-fraud alarms (pbx/trunks/surge.ts). */
  readonly alarms?: TrunkCommandContext['alarms'];
  /** A running appliance's recordings and calls; without it the store in DATA/recordings is read directly. */
  readonly recordings?: RecordingControl;
  /** A running appliance's voicemail store; without it DATA/voicemail is read directly. */
  readonly voicemail?: VoicemailControl;
  /** A running appliance's provisioning service (phones that asked, previews, the fetch log). */
  readonly provisioning?: ProvisioningControl;
  /** A running appliance's device certificates. */
  readonly devices?: DeviceCertControl;
  /** A running appliance's calls, for `call.hangup`. */
  readonly calls?: CallControl;
}

/** What `zrtp.*` commands need of the ZRTP cache: never a secret, only who and which flags. */
export interface ZrtpPeerControl {
  list(): readonly { readonly zid: string; readonly verified: boolean; readonly retainedSecret: boolean; readonly enrolled: boolean }[];
  /** Forget a phone (its next call starts without a shared secret); false when the ZID is unknown. */
  forget(zidHex: string): boolean;
}

/** What `block.*` commands need of the digest throttle. */
export interface BlockControl {
  blocked(): readonly { readonly address: string; readonly until: number; readonly failures: number; readonly extension?: string; readonly scope?: BlockScope }[];
  unblock(address: string, by?: string): boolean;
}

/** Issue 20: 'address' refuses the whole source; 'source' one account from it; 'account' one account from every untrusted source. */
export type BlockScope = 'address' | 'source' | 'account';

/** One block as `pbx block list --json` and GET /api/blocks show it. */
export interface BlockView {
  readonly source: string;
  /** The account the latest failure named, or null when unknown. */
  readonly extension: string | null;
  readonly failures: number;
  /** When the block lifts, ISO 8601. */
  readonly until: string;
  readonly secondsLeft: number;
  /** What the block refuses (absent: the whole source). */
  readonly scope?: BlockScope;
}

export interface BlockRemoved {
  readonly removed: string;
}

/** An address as the throttle keys it: IPv4 dotted, IPv6 lower case, no brackets, no port. */
const BLOCK_ADDRESS = /^(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F:.]{2,45})$/;

/** What a running appliance offers for `cert.*` commands. */
export interface CertSource {
  readonly caInfo: CertInfo;
  readonly serverInfo: CertInfo;
  history(): Promise<readonly RenewalRecord[]>;
  /** Issue a new server certificate now and swap it into every TLS server. */
  renew(): Promise<RenewalRecord>;
  /** Validate and install an uploaded certificate; throws CommandError('config') listing the problems. */
  install(input: CustomCertUpload): Promise<CertInfo>;
}

/**
 * A PbxError that names the input field at fault, so the web page can show the
 * message next to it. `problems` lists every issue of a rejected certificate.
 */
export class CommandError extends PbxError {
  constructor(code: ErrorCode, message: string, readonly field?: string, readonly problems?: readonly Problem[]) {
    super(code, message);
  }
}

/** Rethrow a PbxError from `fn` naming the field its message starts with. */
async function fielded<T>(fields: readonly string[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isPbxError(e) && !(e instanceof CommandError)) {
      const field = fields.find((f) => e.message === f || e.message.startsWith(`${f} `));
      throw new CommandError(e.code, e.message, field);
    }
    throw e;
  }
}

/** Call records read back for the history page, newest first. */
export const CALLS_FILE = 'calls.jsonl';
export const DEFAULT_CALL_HISTORY = 100;
export const MAX_CALL_HISTORY = 1000;
/** Only the tail of the file is read: enough for MAX_CALL_HISTORY records. */
export const CALL_HISTORY_TAIL_BYTES = 2 * 1024 * 1024;
/** Length of a generated SIP password: letters and digits, about 71 bits. */
export const GENERATED_PASSWORD_LENGTH = 12;
const PASSWORD_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

function str(args: Readonly<Record<string, unknown>>, name: string, required: true): string;
function str(args: Readonly<Record<string, unknown>>, name: string, required: false): string | undefined;
function str(args: Readonly<Record<string, unknown>>, name: string, required: boolean): string | undefined {
  const v = args[name];
  if (v === undefined || v === null) {
    if (required) throw new CommandError('config', `${name} is required`, name);
    return undefined;
  }
  if (typeof v !== 'string') throw new CommandError('config', `${name} must be a string`, name);
  return v;
}

function bool(args: Readonly<Record<string, unknown>>, name: string): boolean | undefined {
  const v = args[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new CommandError('config', `${name} must be true or false`, name);
  return v;
}

function num(args: Readonly<Record<string, unknown>>, name: string): number | undefined {
  const v = args[name];
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'string' && /^\d{1,6}$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new CommandError('config', `${name} must be a whole number`, name);
  return n;
}

/**
 * Forwarding, do-not-disturb, pickup group and call waiting from an
 * account.update request; undefined when it changes none of them.
 * `noForward` clears all three forwards; "" clears one.
 */
function featureChange(a: Readonly<Record<string, unknown>>): AccountFeatureChange | undefined {
  const target = (name: string): string | null | undefined => {
    const v = str(a, name, false);
    return v === undefined ? undefined : v === '' ? null : v;
  };
  const noForward = bool(a, 'noForward') === true;
  const always = noForward ? null : target('forwardAlways');
  const busy = noForward ? null : target('forwardBusy');
  const noAnswer = noForward ? null : target('forwardNoAnswer');
  const noAnswerSec = num(a, 'noAnswerSec');
  const dnd = bool(a, 'dnd');
  const callWaiting = bool(a, 'callWaiting');
  const group = str(a, 'pickupGroup', false);
  const voicemail = bool(a, 'voicemail');
  const voicemailPin = str(a, 'voicemailPin', false);
  const forward = {
    ...(always !== undefined ? { always } : {}), ...(busy !== undefined ? { busy } : {}),
    ...(noAnswer !== undefined ? { noAnswer } : {}), ...(noAnswerSec !== undefined ? { noAnswerSec } : {}),
  };
  const change: AccountFeatureChange = {
    ...(Object.keys(forward).length ? { forward } : {}),
    ...(dnd !== undefined ? { dnd } : {}),
    ...(callWaiting !== undefined ? { callWaiting } : {}),
    ...(group !== undefined ? { pickupGroup: group === '' ? null : group } : {}),
    ...(voicemail !== undefined ? { voicemail } : {}),
    ...(voicemailPin !== undefined ? { voicemailPin } : {}),
  };
  return Object.keys(change).length ? change : undefined;
}

const PROTECTIONS = ['rtp', 'sdes', 'dtls', 'zrtp'] as const;
type Protection = (typeof PROTECTIONS)[number];

/** "rtp,sdes" -> ['rtp', 'sdes']; the schema checks the combination (required within supported). */
function protections(args: Readonly<Record<string, unknown>>, name: string): Protection[] | undefined {
  const v = str(args, name, false);
  if (v === undefined) return undefined;
  const list = v.split(',').map((x) => x.trim()).filter((x) => x !== '');
  for (const x of list) {
    if (!(PROTECTIONS as readonly string[]).includes(x)) throw new CommandError('config', `${name}: ${x} is not one of ${PROTECTIONS.join(', ')}`, name);
  }
  return list as Protection[];
}

/** The phone's media abilities from `media` (supported) and `requireMedia` (required). */
function mediaCaps(args: Readonly<Record<string, unknown>>, current?: { supported: readonly Protection[]; required: readonly Protection[] }):
  { supported: Protection[]; required: Protection[] } | undefined {
  const supported = protections(args, 'media');
  const required = protections(args, 'requireMedia');
  if (supported === undefined && required === undefined) return undefined;
  return { supported: supported ?? [...(current?.supported ?? ['rtp', 'sdes'])], required: required ?? [...(current?.required ?? [])] };
}

/** `record` of account.update: one of the modes, or absent. */
function recordMode(args: Readonly<Record<string, unknown>>): (typeof RECORD_MODES)[number] | undefined {
  const v = str(args, 'record', false);
  if (v === undefined) return undefined;
  if (!(RECORD_MODES as readonly string[]).includes(v)) throw new CommandError('config', `record must be one of ${RECORD_MODES.join(', ')}`, 'record');
  return v as (typeof RECORD_MODES)[number];
}

export function generatePassword(random: Random = cryptoRandom, length = GENERATED_PASSWORD_LENGTH): string {
  let out = '';
  for (let i = 0; i < length; i++) out += PASSWORD_ALPHABET[random.int(PASSWORD_ALPHABET.length)];
  return out;
}

function policyFrom(a: Readonly<Record<string, unknown>>, base: Partial<Policy> = {}): Policy {
  const r = PolicySchema.safeParse({
    name: a.name ?? base.name,
    callerStream: a.callerStream ?? base.callerStream,
    calleeStream: a.calleeStream ?? base.calleeStream,
    // An absent mode stays absent (not a key holding undefined): the config in memory equals the file's.
    ...((a.record ?? base.record) !== undefined ? { record: a.record ?? base.record } : {}),
  });
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = typeof issue?.path[0] === 'string' ? issue.path[0] : undefined;
  const options: Record<string, readonly string[]> = { callerStream: CallerStreamSchema.options, calleeStream: CalleeStreamSchema.options, record: RECORD_MODES };
  const message = field === 'name'
    ? 'name must be 1-32 letters, digits, \'.\', \'_\' or \'-\''
    : field && options[field] ? `${field} must be one of ${options[field].join(', ')}` : (issue?.message ?? 'invalid policy');
  throw new CommandError('config', message, field);
}

export async function executeCommand(ctx: CommandContext, req: ControlRequest): Promise<unknown> {
  const { store } = ctx;
  const a = req.args;
  switch (req.command) {
    case 'account.add': {
      const extension = str(a, 'extension', true);
      // The web page may leave the password to the box: it is then shown once.
      const given = a.generatePassword === true ? str(a, 'password', false) : str(a, 'password', true);
      const password = given ?? generatePassword(ctx.random);
      const tlsOnly = bool(a, 'tlsOnly');
      await fielded(['extension', 'password', 'name', 'policy'], () => store.update((d) => addAccount(d, {
        extension,
        password,
        ...(str(a, 'name', false) !== undefined ? { name: str(a, 'name', false) } : {}),
        ...(str(a, 'policy', false) !== undefined ? { policy: str(a, 'policy', false) } : {}),
        ...(tlsOnly === true ? { tlsOnly: true } : {}),
        ...(str(a, 'contact', false) !== undefined ? { staticContact: str(a, 'contact', false) } : {}),
        ...(mediaCaps(a) ? { media: mediaCaps(a) } : {}),
      })));
      ctx.accountsChanged?.();
      const view = accountView(store, extension);
      return (given === undefined ? { ...view, password } : view) satisfies CommandReplies['account.add'];
    }
    case 'account.update': {
      const extension = str(a, 'extension', true);
      const name = str(a, 'name', false);
      const policy = str(a, 'policy', false);
      const tlsOnly = bool(a, 'tlsOnly');
      const record = recordMode(a);
      if (name !== undefined && (name.length > 64 || /[\u0000-\u001f\u007f]/.test(name))) {
        throw new CommandError('config', 'name must be at most 64 characters, without control characters', 'name');
      }
      await store.update((d) => {
        const acct = d.accounts.find((x) => x.extension === extension);
        if (!acct) throw new CommandError('not-found', `extension ${extension} does not exist`, 'extension');
        if (policy !== undefined && !d.policies.some((p) => p.name === policy)) {
          throw new CommandError('not-found', `policy ${policy} does not exist`, 'policy');
        }
        if (name !== undefined) acct.name = name;
        if (policy !== undefined) acct.policy = policy;
        if (tlsOnly !== undefined) acct.tlsOnly = tlsOnly;
        if (record !== undefined) acct.record = record;
        const media = mediaCaps(a, acct.media);
        if (media) acct.media = media;
        const features = featureChange(a);
        return features ? setAccountFeatures(d, extension, features) : undefined;
      });
      ctx.accountsChanged?.();
      return accountView(store, extension) satisfies CommandReplies['account.update'];
    }
    case 'account.password': {
      const extension = str(a, 'extension', true);
      const given = str(a, 'password', false);
      const password = given ?? generatePassword(ctx.random);
      await fielded(['password', 'extension'], () => store.update((d) => setPassword(d, extension, password)));
      return (given === undefined ? { extension, password } : { extension }) satisfies CommandReplies['account.password'];
    }
    case 'account.import': {
      const csv = str(a, 'csv', true);
      let count = 0;
      await store.update((d) => {
        const r = importAccountsCsv(d, csv);
        count = r.added.length;
        return r.config;
      });
      ctx.accountsChanged?.();
      return { imported: count } satisfies CommandReplies['account.import'];
    }
    case 'account.list':
      return listAccounts(store.data) satisfies CommandReplies['account.list'];
    case 'group.add': {
      const extension = str(a, 'extension', true);
      const members = (str(a, 'members', true)).split(',').map((m) => m.trim()).filter((m) => m.length > 0);
      const order = str(a, 'order', false);
      if (order !== undefined && order !== 'parallel' && order !== 'sequential') {
        throw new CommandError('config', 'the order is parallel (all members at once) or sequential (one after the other)', 'order');
      }
      const ringSec = num(a, 'ringSec');
      const noAnswerTo = str(a, 'noAnswerTo', false);
      const name = str(a, 'name', false);
      await store.update((d) => addRingGroup(d, {
        extension, members, ...(order ? { order } : {}), ...(ringSec !== undefined ? { memberRingSec: ringSec } : {}),
        ...(noAnswerTo !== undefined ? { noAnswerTo } : {}), ...(name !== undefined ? { name } : {}),
      }));
      return store.data.groups.find((g) => g.extension === extension)! satisfies CommandReplies['group.add'];
    }
    case 'group.list':
      return listRingGroups(store.data) satisfies CommandReplies['group.list'];
    case 'group.remove': {
      const extension = str(a, 'extension', true);
      await store.update((d) => removeRingGroup(d, extension));
      return { removed: extension } satisfies CommandReplies['group.remove'];
    }
    case 'moh.set': {
      // The WAV is converted here, once, to what G.711 carries; the running box plays it from the next hold on.
      // From the CLI a path on the box; from the page the file itself, base64 (`wav`).
      let bytes: Buffer;
      if (a.wav !== undefined) {
        if (typeof a.wav !== 'string' || a.wav === '') throw new CommandError('config', 'choose a WAV file', 'file');
        bytes = Buffer.from(a.wav, 'base64');
        if (bytes.length > MAX_WAV_BYTES) throw new CommandError('limit', `the file is larger than ${MAX_WAV_BYTES / 1024 / 1024} MB`, 'file');
      } else {
        const path = str(a, 'path', true);
        const size = fileSize(path);
        if (size > MAX_WAV_BYTES) throw new CommandError('limit', `${path} is larger than ${MAX_WAV_BYTES / 1024 / 1024} MB`, 'path');
        bytes = readFileSync(path);
      }
      let r;
      try {
        r = storeHoldMusic(ctx.dataDir, bytes);
      } catch (e) {
        // Say where on the page's form the problem is (the file), keeping the message the converter gave.
        if (a.wav !== undefined && e instanceof PbxError) throw new CommandError('config', e.message, 'file');
        throw e;
      }
      const { format, sampleRate, channels, bitsPerSample } = r.source;
      return { seconds: r.seconds, cut: r.cut, source: { format, sampleRate, channels, bitsPerSample } } satisfies CommandReplies['moh.set'];
    }
    case 'moh.get':
      return holdMusicInfo(ctx.dataDir) satisfies CommandReplies['moh.get'];
    case 'moh.reset':
      // The running box re-reads the file at each hold: with it gone, the next hold plays the built-in tune.
      return { playing: 'built-in', removed: removeHoldMusic(ctx.dataDir) } satisfies CommandReplies['moh.reset'];
    case 'account.remove': {
      const extension = str(a, 'extension', true);
      await store.update((d) => removeAccount(d, extension));
      ctx.accountsChanged?.();
      return { removed: extension } satisfies CommandReplies['account.remove'];
    }
    case 'status': {
      const base = { accounts: store.data.accounts.length, configHealth: store.health };
      if (ctx.liveStatus) return { running: true, ...base, ...ctx.liveStatus() } satisfies CommandReplies['status'];
      return { running: false, ...base, registrations: persistedRegistrations(ctx.dataDir) } satisfies CommandReplies['status'];
    }
    case 'cert.ca':
      return { path: caPath(ctx.dataDir) } satisfies CommandReplies['cert.ca'];
    case 'cert.info': {
      const ca = ctx.certs?.caInfo ?? readCertInfo(pkiPaths(ctx.dataDir).caCert);
      const server = ctx.certs?.serverInfo ?? readCertInfo(pkiPaths(ctx.dataDir).serverCert);
      // Our own leaves name our CA as issuer; anything else was uploaded.
      return { ca, server, custom: server.issuerCn !== ca.subjectCn } satisfies CommandReplies['cert.info'];
    }
    case 'cert.history':
      return (ctx.certs ? [...await ctx.certs.history()].reverse() : readHistoryFile(ctx.dataDir).reverse()) satisfies CommandReplies['cert.history'];
    case 'cert.renew': {
      if (!ctx.certs) throw new PbxError('invalid-state', 'the appliance is not running; it renews the certificate when it starts');
      const record = await ctx.certs.renew();
      return { record, server: ctx.certs.serverInfo } satisfies CommandReplies['cert.renew'];
    }
    case 'cert.install': {
      if (!ctx.certs) throw new PbxError('invalid-state', 'the appliance is not running');
      const certPem = str(a, 'certPem', true);
      const keyPem = str(a, 'keyPem', true);
      const chainPem = str(a, 'chainPem', false);
      const server = await ctx.certs.install({ certPem, keyPem, ...(chainPem ? { chainPem } : {}) });
      return { server } satisfies CommandReplies['cert.install'];
    }
    case 'policy.list':
      return store.data.policies.map((p) => ({ ...p, accounts: store.data.accounts.filter((x) => x.policy === p.name).length })) satisfies CommandReplies['policy.list'];
    case 'policy.add': {
      const p = policyFrom(a);
      await store.update((d) => {
        if (d.policies.some((x) => x.name === p.name)) throw new CommandError('conflict', `policy ${p.name} already exists`, 'name');
        d.policies.push(p);
      });
      return p satisfies CommandReplies['policy.add'];
    }
    case 'policy.update': {
      const name = str(a, 'name', true);
      let updated: Policy | undefined;
      await store.update((d) => {
        const i = d.policies.findIndex((x) => x.name === name);
        const old = d.policies[i];
        if (!old) throw new CommandError('not-found', `policy ${name} does not exist`, 'name');
        updated = policyFrom({ ...a, name }, old);
        d.policies[i] = updated;
      });
      // store.update ran the mutation above, or threw.
      if (!updated) throw new PbxError('invalid-state', `policy ${name} was not updated`);
      return updated satisfies CommandReplies['policy.update'];
    }
    case 'policy.remove': {
      const name = str(a, 'name', true);
      await store.update((d) => {
        if (name === DEFAULT_POLICY) throw new CommandError('conflict', `the ${DEFAULT_POLICY} policy cannot be removed`, 'name');
        if (!d.policies.some((x) => x.name === name)) throw new CommandError('not-found', `policy ${name} does not exist`, 'name');
        const users = d.accounts.filter((x) => x.policy === name).map((x) => x.extension);
        if (users.length > 0) throw new CommandError('conflict', `policy ${name} is used by ${users.slice(0, 5).join(', ')}${users.length > 5 ? ' and more' : ''}`, 'name');
        d.policies = d.policies.filter((x) => x.name !== name);
      });
      return { removed: name } satisfies CommandReplies['policy.remove'];
    }
    case 'calls.history': {
      const limit = a.limit === undefined ? DEFAULT_CALL_HISTORY : a.limit;
      if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_CALL_HISTORY) {
        throw new CommandError('config', `limit must be a whole number from 1 to ${MAX_CALL_HISTORY}`, 'limit');
      }
      return readCallHistory(join(ctx.dataDir, CALLS_FILE), limit) satisfies CommandReplies['calls.history'];
    }
    case 'block.list': {
      // No appliance, no blocks: they are kept in the running one's memory only.
      const now = (ctx.clock ?? systemClock).now();
      return (ctx.blocks?.blocked() ?? []).map((b): BlockView => ({
        source: b.address, extension: b.extension ?? null, failures: b.failures,
        until: new Date(b.until).toISOString(), secondsLeft: Math.max(0, Math.ceil((b.until - now) / 1000)),
        ...(b.scope === undefined ? {} : { scope: b.scope }),
      }));
    }
    case 'block.remove': {
      const raw = str(a, 'address', true).trim();
      const address = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
      if (!BLOCK_ADDRESS.test(address)) throw new CommandError('config', `${raw} is not an IP address`, 'address');
      if (!ctx.blocks) throw new PbxError('invalid-state', 'the appliance is not running; blocks live only in its memory');
      const key = address.includes(':') ? address.toLowerCase() : address;
      if (!ctx.blocks.unblock(key, str(a, 'by', false) ?? 'admin')) throw new CommandError('not-found', `${address} is not blocked`, 'address');
      return { removed: key } satisfies BlockRemoved;
    }
    case 'zrtp.list':
      // The cache lives in the running appliance's memory (and its file).
      return ctx.zrtp?.list() ?? [];
    case 'zrtp.forget': {
      const zid = str(a, 'zid', true).trim().toLowerCase();
      if (!/^[0-9a-f]{24}$/.test(zid)) throw new CommandError('config', `${zid} is not a ZID (24 hex digits)`, 'zid');
      if (!ctx.zrtp) throw new PbxError('invalid-state', 'the appliance is not running; its ZRTP cache is in its memory');
      if (!ctx.zrtp.forget(zid)) throw new CommandError('not-found', `no ZRTP peer ${zid}`, 'zid');
      return { forgotten: zid };
    }
    case 'recording.list':
    case 'recording.export':
    case 'recording.toggle':
      return recordingCommand(ctx.recordings, ctx.dataDir, req.command, a);
    case 'system.get':
    case 'system.set':
      return systemCommand(store, req.command, a);
    case 'call.hangup':
      return callCommand(ctx.calls, req.command, a) satisfies Promise<CommandReplies['call.hangup']>;
    case 'voicemail.list':
    case 'attendant.add':
    case 'attendant.list':
    case 'attendant.remove':
      return voicemailCommand(ctx.voicemail, store, ctx.dataDir, req.command, a);
    case 'room.add':
    case 'room.list':
    case 'room.remove':
      return roomCommand(store, req.command, a);
    default: {
      // SIP trunks, routes and DIDs (control/trunks.ts).
      const trunkReply = await trunkCommand(ctx, req.command, a);
      if (trunkReply !== undefined) return trunkReply;
      let r: unknown;
      try {
        r = await phoneCommand({ ...ctx, makePassword: () => generatePassword(ctx.random) }, req);
      } catch (e) {
        if (e instanceof PhoneCommandError) throw new CommandError(e.code, e.message, e.field);
        throw e;
      }
      if (r !== undefined) return r;
      throw new PbxError('not-found', `unknown command ${req.command}`);
    }
  }
}

/** The account as it may be shown, after a change to it succeeded. */
function accountView(store: ConfigStore, extension: string): CommandReplies['account.update'] {
  const view = listAccounts(store.data).find((x) => x.extension === extension);
  if (!view) throw new CommandError('not-found', `extension ${extension} does not exist`, 'extension');
  return view;
}

/**
 * Bindings a stopped appliance will restore, read straight from its file
 * (pbx/persistence.ts wrote it), shown as a running appliance shows them:
 * without call-id, CSeq or flow.
 */
function persistedRegistrations(dataDir: string): RegistrationView[] {
  try {
    const raw = JSON.parse(readFileSync(`${dataDir}/registrations.json`, 'utf8')) as { bindings?: Array<Partial<RegistrationView>> };
    return (raw.bindings ?? []).flatMap((b): RegistrationView[] => {
      if (typeof b.expiresAt !== 'number' || b.expiresAt <= Date.now()) return [];
      if (typeof b.extension !== 'string' || typeof b.contact !== 'string' || b.transport === undefined || b.source === undefined) return [];
      return [{
        extension: b.extension, contact: b.contact, transport: b.transport, source: b.source,
        expiresAt: b.expiresAt, registeredAt: b.registeredAt ?? 0, ...(b.userAgent ? { userAgent: b.userAgent } : {}),
        // A TCP/TLS binding's connection does not survive a restart: the phone must reconnect first.
        reachable: b.transport === 'udp',
      }];
    });
  } catch {
    return [];
  }
}

function readCertInfo(path: string): CertInfo {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch {
    throw new PbxError('not-found', `no certificate at ${path}; the appliance creates it when it first starts`);
  }
  return certInfo(pem);
}

function readHistoryFile(dataDir: string): RenewalRecord[] {
  try {
    const raw = JSON.parse(readFileSync(pkiPaths(dataDir).history, 'utf8')) as { entries?: unknown };
    return Array.isArray(raw.entries) ? raw.entries.filter((e): e is RenewalRecord => typeof e === 'object' && e !== null && typeof (e as { at?: unknown }).at === 'string') : [];
  } catch {
    return [];
  }
}

/**
 * The last `limit` call records of a JSON-lines file, newest first. A missing
 * file is an empty history; lines that are not JSON objects with an id are
 * skipped (a crash may leave a half-written last line). The lines are the
 * box's own (pbx/records.ts writes them typed as CallRecordJson), so beyond
 * the id they are trusted to keep that shape.
 */
export function readCallHistory(path: string, limit: number): CallRecordJson[] {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return [];
  }
  let text: string;
  let partialFirst: boolean;
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - CALL_HISTORY_TAIL_BYTES);
    const buf = Buffer.alloc(size - start);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, start + got);
      if (n === 0) break;
      got += n;
    }
    text = buf.subarray(0, got).toString('utf8');
    partialFirst = start > 0;
  } finally {
    closeSync(fd);
  }
  const lines = text.split('\n');
  if (partialFirst) lines.shift();
  const out: CallRecordJson[] = [];
  for (let i = lines.length - 1; i >= 0 && out.length < limit; i--) {
    const line = lines[i]!.trim();
    if (!line) continue;
    try {
      const v: unknown = JSON.parse(line);
      if (typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as { id?: unknown }).id === 'string') out.push(v as CallRecordJson);
    } catch { /* a torn or foreign line */ }
  }
  // Records are written when a call ends; the history reads newest start first.
  const at = (r: CallRecordJson): number => (typeof r.startedAt === 'number' ? r.startedAt : Date.parse(r.startedAt) || 0);
  return out.sort((a, b) => at(b) - at(a));
}
