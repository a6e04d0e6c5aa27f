import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { PbxError } from '../core/index.js';
import { EXTENSION_PATTERN, formatIssues, PICKUP_GROUP_PATTERN, RingGroupSchema, type Config, type RingGroup } from './schema.js';
import type { ReadonlyConfig } from './store.js';

/**
 * Call-feature settings over config data (forwarding, do-not-disturb, pickup
 * groups, ring groups), shared by the CLI, feature codes and the web API.
 * Like accounts.ts, each returns a new Config and leaves its input alone.
 */

export interface ForwardChange {
  /** A target extension, or null to clear that forward. */
  readonly always?: string | null;
  readonly busy?: string | null;
  readonly noAnswer?: string | null;
  readonly noAnswerSec?: number;
}

export interface AccountFeatureChange {
  readonly forward?: ForwardChange;
  readonly dnd?: boolean;
  readonly pickupGroup?: string | null;
  readonly callWaiting?: boolean;
  /** Voicemail on or off (issue 15). */
  readonly voicemail?: boolean;
  /** A new mailbox PIN (4-12 digits): stored only as hashPin's hash. */
  readonly voicemailPin?: string;
}

export const VOICEMAIL_PIN_PATTERN = /^[0-9]{4,12}$/;
const PIN_SCRYPT = { N: 1 << 14, r: 8, p: 1 } as const;

/** `s1$salt$hash` (scrypt): what the config keeps of a mailbox PIN. */
export function hashPin(pin: string, salt: Buffer = randomBytes(16)): string {
  if (!VOICEMAIL_PIN_PATTERN.test(pin)) throw new PbxError('config', 'a mailbox PIN is 4 to 12 digits');
  return `s1$${salt.toString('hex')}$${scryptSync(pin, salt, 32, PIN_SCRYPT).toString('hex')}`;
}

/** Does `pin` match the stored hash (constant time; false for no hash). */
export function checkPin(pin: string, stored: string | null | undefined): boolean {
  const m = /^s1\$([0-9a-f]{32})\$([0-9a-f]{64})$/.exec(stored ?? '');
  if (!m || !/^[0-9]{1,12}$/.test(pin)) return false;
  const want = Buffer.from(m[2]!, 'hex');
  const got = scryptSync(pin, Buffer.from(m[1]!, 'hex'), 32, PIN_SCRYPT);
  return timingSafeEqual(want, got);
}

/** Voicemail is on for an account unless it was turned off. */
export function voicemailOn(acct: { readonly voicemail?: { readonly enabled: boolean } | undefined }): boolean {
  return acct.voicemail?.enabled ?? true;
}

function clone(cfg: ReadonlyConfig): Config {
  return structuredClone(cfg) as Config;
}

/** Does `number` name something a call can ring: an account or a ring group. */
export function isDialTarget(cfg: ReadonlyConfig, number: string): boolean {
  return cfg.accounts.some((a) => a.extension === number) || cfg.groups.some((g) => g.extension === number);
}

function checkTarget(cfg: ReadonlyConfig, self: string, what: string, target: string | null | undefined): void {
  if (target === undefined || target === null) return;
  if (!EXTENSION_PATTERN.test(target)) throw new PbxError('config', `${what}: ${JSON.stringify(target)} is not an extension`);
  if (target === self) throw new PbxError('config', `${what}: ${self} cannot forward to itself`);
  if (!isDialTarget(cfg, target)) throw new PbxError('not-found', `${what}: ${target} is neither an extension nor a ring group`);
}

export function setAccountFeatures(cfg: ReadonlyConfig, extension: string, change: AccountFeatureChange): Config {
  const next = clone(cfg);
  const acct = next.accounts.find((a) => a.extension === extension);
  if (!acct) throw new PbxError('not-found', `extension ${extension} does not exist`);
  const f = change.forward;
  if (f) {
    checkTarget(next, extension, 'forward always', f.always);
    checkTarget(next, extension, 'forward on busy', f.busy);
    checkTarget(next, extension, 'forward on no answer', f.noAnswer);
    if (f.noAnswerSec !== undefined && (!Number.isInteger(f.noAnswerSec) || f.noAnswerSec < 5 || f.noAnswerSec > 120)) {
      throw new PbxError('config', 'the no-answer time must be 5 to 120 seconds');
    }
    if (f.always !== undefined) acct.forward.always = f.always;
    if (f.busy !== undefined) acct.forward.busy = f.busy;
    if (f.noAnswer !== undefined) acct.forward.noAnswer = f.noAnswer;
    if (f.noAnswerSec !== undefined) acct.forward.noAnswerSec = f.noAnswerSec;
  }
  if (change.dnd !== undefined) acct.dnd = change.dnd;
  if (change.callWaiting !== undefined) acct.callWaiting = change.callWaiting;
  if (change.voicemail !== undefined || change.voicemailPin !== undefined) {
    const vm = acct.voicemail ?? { enabled: true, pinHash: null };
    if (change.voicemail !== undefined) vm.enabled = change.voicemail;
    if (change.voicemailPin !== undefined) vm.pinHash = hashPin(change.voicemailPin);
    acct.voicemail = vm;
  }
  if (change.pickupGroup !== undefined) {
    if (change.pickupGroup !== null && !PICKUP_GROUP_PATTERN.test(change.pickupGroup)) {
      throw new PbxError('config', 'a pickup group name is 1-32 letters, digits, \'.\', \'_\' or \'-\'');
    }
    acct.pickupGroup = change.pickupGroup;
  }
  return next;
}

export interface NewRingGroup {
  readonly extension: string;
  readonly members: readonly string[];
  readonly name?: string;
  readonly order?: 'parallel' | 'sequential';
  readonly memberRingSec?: number;
  readonly noAnswerTo?: string | null;
}

export function addRingGroup(cfg: ReadonlyConfig, input: NewRingGroup): Config {
  const next = clone(cfg);
  if (!EXTENSION_PATTERN.test(input.extension)) {
    throw new PbxError('config', `${JSON.stringify(input.extension)} must be 1-32 letters, digits, '.', '_' or '-'`);
  }
  if (isDialTarget(next, input.extension)) throw new PbxError('conflict', `${input.extension} is already an extension or a ring group`);
  if (input.members.length === 0) throw new PbxError('config', 'a ring group needs at least one member');
  const seen = new Set<string>();
  for (const m of input.members) {
    if (seen.has(m)) throw new PbxError('config', `member ${m} is listed twice`);
    seen.add(m);
    if (!next.accounts.some((a) => a.extension === m)) throw new PbxError('not-found', `member ${m} is not an extension`);
  }
  if (input.noAnswerTo) checkTarget(next, input.extension, 'no-answer destination', input.noAnswerTo);
  const r = RingGroupSchema.safeParse({
    extension: input.extension, members: [...input.members],
    ...(input.name !== undefined ? { name: input.name } : {}),
    ...(input.order ? { order: input.order } : {}),
    ...(input.memberRingSec !== undefined ? { memberRingSec: input.memberRingSec } : {}),
    ...(input.noAnswerTo !== undefined ? { noAnswerTo: input.noAnswerTo } : {}),
  });
  if (!r.success) throw new PbxError('config', formatIssues(r.error.issues));
  next.groups.push(r.data);
  return next;
}

export function removeRingGroup(cfg: ReadonlyConfig, extension: string): Config {
  if (!cfg.groups.some((g) => g.extension === extension)) throw new PbxError('not-found', `ring group ${extension} does not exist`);
  const next = clone(cfg);
  next.groups = next.groups.filter((g) => g.extension !== extension);
  return next;
}

export function listRingGroups(cfg: ReadonlyConfig): RingGroup[] {
  return structuredClone(cfg.groups) as RingGroup[];
}
