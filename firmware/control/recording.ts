import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { RecordingExported, RecordingListEntry, RecordingToggled, RoomView } from '../api/index.js';
import { MAX_ROOM_PARTICIPANTS, RoomSchema, type ConfigStore, type Room } from '../config/index.js';
import { PbxError } from '../core/index.js';
import { RecordingStore, type RecordingInfo } from '../recording/index.js';

/**
 * The commands behind `pbx recording ...` and `pbx room ...` (issue 9). A
 * running appliance answers recording commands from its own store (it is the
 * one writer of DATA/recordings); without one, list and export open the
 * store folder themselves, read only what they need and write nothing but
 * the export (and the end marker of a recording a crash left open).
 */

export const RECORD_MODES = ['always', 'on-demand', 'never'] as const;
/** Where recordings live under the data folder. */
export const RECORDINGS_DIR = 'recordings';

/** What a running appliance offers for recording commands. */
export interface RecordingControl {
  list(): readonly RecordingInfo[];
  exportTo(id: string, out: string): Promise<{ readonly bytes: number }>;
  get(id: string): RecordingInfo;
  /** Start or stop recording a live call (on demand); `on` undefined toggles. */
  toggle(callId: string, on?: boolean): Promise<RecordingToggled>;
}

export function recordingEntry(r: RecordingInfo): RecordingListEntry {
  return {
    id: r.id, kind: r.kind, start: new Date(r.start).toISOString(), parties: [...r.parties], durationMs: r.durationMs,
    state: r.state, legs: r.legs.map((l) => ({ id: l.id, protection: l.protection })), notes: [...r.notes], size: r.size,
  };
}

function arg(a: Readonly<Record<string, unknown>>, name: string): string {
  const v = a[name];
  if (typeof v !== 'string' || v === '') throw new PbxError('config', `${name} is required`);
  return v;
}

async function offline<T>(dataDir: string, fn: (s: RecordingStore) => Promise<T>, empty: T): Promise<T> {
  const dir = join(dataDir, RECORDINGS_DIR);
  if (!existsSync(dir)) return empty;
  const store = await RecordingStore.open({ dir });
  try { return await fn(store); } finally { await store.close(); }
}

export async function recordingCommand(
  live: RecordingControl | undefined, dataDir: string, command: string, a: Readonly<Record<string, unknown>>,
): Promise<unknown> {
  switch (command) {
    case 'recording.list': {
      const list = live ? live.list() : await offline(dataDir, async (s) => s.list(), [] as RecordingInfo[]);
      return list.map(recordingEntry) satisfies readonly RecordingListEntry[];
    }
    case 'recording.export': {
      const id = arg(a, 'id');
      const out = arg(a, 'out');
      // The appliance writes the file: a relative path would land in its working folder, not the caller's.
      if (!isAbsolute(out)) throw new PbxError('config', 'out must be an absolute path');
      const run = async (s: Pick<RecordingControl, 'exportTo' | 'get'>): Promise<RecordingExported> => {
        const { bytes } = await s.exportTo(id, out);
        return { id, out, bytes, kind: s.get(id).kind };
      };
      if (live) return run(live);
      const r = await offline<RecordingExported | undefined>(dataDir, run, undefined);
      if (!r) throw new PbxError('not-found', `no recording ${id}`);
      return r;
    }
    case 'recording.toggle': {
      if (!live) throw new PbxError('invalid-state', 'no appliance is running: only a live call can be recorded on demand');
      const on = a.on === undefined ? undefined : a.on === true;
      return live.toggle(arg(a, 'call'), on) satisfies Promise<RecordingToggled>;
    }
    default:
      throw new PbxError('not-found', `unknown command ${command}`);
  }
}

function roomView(r: Room): RoomView {
  return { extension: r.extension, pin: r.pin !== null, max: r.max };
}

export async function roomCommand(store: ConfigStore, command: string, a: Readonly<Record<string, unknown>>): Promise<unknown> {
  switch (command) {
    case 'room.list':
      return (store.data.rooms ?? []).map((r) => roomView(r as Room)) satisfies readonly RoomView[];
    case 'room.add': {
      const max = a.max === undefined ? undefined : Number(a.max);
      const parsed = RoomSchema.safeParse({ extension: a.extension, pin: a.pin ?? null, ...(max !== undefined ? { max } : {}) });
      if (!parsed.success) {
        const field = String(parsed.error.issues[0]?.path[0] ?? 'extension');
        const why = field === 'max' ? `max must be a whole number from 2 to ${MAX_ROOM_PARTICIPANTS}`
          : field === 'pin' ? 'pin must be 1 to 12 digits' : 'extension must be 1-32 letters, digits, \'.\', \'_\' or \'-\'';
        throw new PbxError('config', why);
      }
      const room = parsed.data;
      await store.update((d) => {
        if (d.accounts.some((x) => x.extension === room.extension)) throw new PbxError('conflict', `${room.extension} is an account`);
        if ((d.rooms ?? []).some((x) => x.extension === room.extension)) throw new PbxError('conflict', `room ${room.extension} already exists`);
        d.rooms = [...(d.rooms ?? []), room];
      });
      return roomView(room) satisfies RoomView;
    }
    case 'room.remove': {
      const ext = arg(a, 'extension');
      await store.update((d) => {
        if (!(d.rooms ?? []).some((x) => x.extension === ext)) throw new PbxError('not-found', `room ${ext} does not exist`);
        d.rooms = (d.rooms ?? []).filter((x) => x.extension !== ext);
      });
      return { removed: ext };
    }
    default:
      throw new PbxError('not-found', `unknown command ${command}`);
  }
}
