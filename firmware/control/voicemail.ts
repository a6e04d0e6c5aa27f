import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { AttendantSchema, EXTENSION_PATTERN, isDialTarget, type ConfigStore } from '../config/index.js';
import { PbxError, cryptoRandom, systemClock, writeFileAtomicSync } from '../core/index.js';
import { MAX_WAV_BYTES, wavToTelephone } from '../media/index.js';
import { MailboxStore, type MessageInfo } from '../recording/index.js';

/**
 * The voicemail and auto-attendant commands (issue 15): `pbx voicemail list
 * EXT`, `pbx attendant add|list|remove`. A running appliance lists its own
 * store (its recorders write there); a stopped one is read from DATA/voicemail.
 */

export const VOICEMAIL_DIR = 'voicemail';
export const ATTENDANT_DIR = 'attendant';

export interface VoicemailControl {
  list(mailbox: string): readonly MessageInfo[];
}

export interface VoicemailListEntry {
  readonly id: string;
  readonly caller: string;
  readonly at: string;
  readonly durationMs: number;
  readonly isNew: boolean;
}

function arg(a: Readonly<Record<string, unknown>>, name: string): string {
  const v = a[name];
  if (typeof v !== 'string' || v === '') throw new PbxError('config', `${name} is required`);
  return v;
}

/** The converted attendant greeting's path (8 kHz mono 16-bit raw, like music on hold). */
export function attendantGreetingPath(dataDir: string, extension: string): string {
  return join(dataDir, ATTENDANT_DIR, `${extension}.pcm`);
}

export async function voicemailCommand(
  live: VoicemailControl | undefined, store: ConfigStore, dataDir: string, command: string, a: Readonly<Record<string, unknown>>,
): Promise<unknown> {
  switch (command) {
    case 'voicemail.list': {
      const mailbox = arg(a, 'extension');
      if (!store.data.accounts.some((x) => x.extension === mailbox)) throw new PbxError('not-found', `extension ${mailbox} does not exist`);
      let list: readonly MessageInfo[];
      if (live) list = live.list(mailbox);
      else {
        const dir = join(dataDir, VOICEMAIL_DIR);
        if (!existsSync(dir)) list = [];
        else {
          const s = await MailboxStore.open({ dir, clock: systemClock, random: cryptoRandom });
          try { list = s.list(mailbox); } finally { await s.close(); }
        }
      }
      return list.map((m): VoicemailListEntry => ({ id: m.id, caller: m.caller, at: new Date(m.at).toISOString(), durationMs: m.durationMs, isNew: m.isNew }));
    }
    case 'attendant.add': {
      const extension = arg(a, 'extension');
      if (!EXTENSION_PATTERN.test(extension)) throw new PbxError('config', `${extension} is not an extension`);
      const digits = (a.digits ?? {}) as Record<string, unknown>;
      const timeoutTo = typeof a.timeoutTo === 'string' && a.timeoutTo !== '' ? a.timeoutTo : null;
      const cfg = store.data;
      if (isDialTarget(cfg, extension) || (cfg.rooms ?? []).some((r) => r.extension === extension) || (cfg.attendants ?? []).some((x) => x.extension === extension)) {
        throw new PbxError('conflict', `${extension} is already an extension, group, room or attendant`);
      }
      for (const [d, to] of Object.entries(digits)) {
        if (typeof to !== 'string' || !isDialTarget(cfg, to)) throw new PbxError('not-found', `digit ${d}: ${String(to)} is neither an extension nor a ring group`);
      }
      if (timeoutTo !== null && !isDialTarget(cfg, timeoutTo)) throw new PbxError('not-found', `timeout: ${timeoutTo} is neither an extension nor a ring group`);
      const parsed = AttendantSchema.safeParse({ extension, digits, timeoutTo, ...(a.timeoutSec !== undefined ? { timeoutSec: Number(a.timeoutSec) } : {}) });
      if (!parsed.success) throw new PbxError('config', parsed.error.issues.map((i) => i.message).join('; '));
      let seconds: number | undefined;
      if (typeof a.greeting === 'string') {
        if (!isAbsolute(a.greeting)) throw new PbxError('config', 'greeting must be an absolute path');
        if (statSync(a.greeting).size > MAX_WAV_BYTES) throw new PbxError('limit', 'the greeting file is too large');
        const { pcm } = wavToTelephone(readFileSync(a.greeting));
        if (pcm.length < 4000) throw new PbxError('config', 'the greeting is shorter than half a second');
        const kept = pcm.subarray(0, 8000 * 120);
        const path = attendantGreetingPath(dataDir, extension);
        mkdirSync(join(dataDir, ATTENDANT_DIR), { recursive: true });
        writeFileAtomicSync(path, Buffer.from(kept.buffer, kept.byteOffset, kept.byteLength), 0o644);
        seconds = kept.length / 8000;
      }
      await store.update((d) => { d.attendants = [...(d.attendants ?? []), parsed.data]; return d; });
      return { ...parsed.data, ...(seconds !== undefined ? { greetingSeconds: seconds } : {}) };
    }
    case 'attendant.list':
      return store.data.attendants ?? [];
    case 'attendant.remove': {
      const extension = arg(a, 'extension');
      if (!(store.data.attendants ?? []).some((x) => x.extension === extension)) throw new PbxError('not-found', `no attendant ${extension}`);
      await store.update((d) => { d.attendants = (d.attendants ?? []).filter((x) => x.extension !== extension); return d; });
      return { removed: extension };
    }
    default:
      throw new PbxError('not-found', `unknown command ${command}`);
  }
}
