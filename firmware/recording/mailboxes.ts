/**
 * Voicemail messages and greetings, kept in a recording store of their own
 * (DATA/voicemail: sealed AES-256-GCM files, the key 0600, exactly like call
 * recordings) plus a small index (index.json, 0600, written atomically):
 * which mailbox each message belongs to, who left it, whether it is new,
 * and which recording is each mailbox's greeting. A message is the caller's
 * leg decoded from G.711 (the engine tap hands the recorder decrypted RTP);
 * nothing of it is on disk in the clear.
 *
 * Limits: a message stops at maxMessageSec (the store's size cap backs it
 * up), a mailbox keeps at most maxMessages (the oldest saved ones go first,
 * then the oldest), and prune() deletes messages older than maxAgeDays.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Counters, PbxError, writeFileAtomicSync, type Clock, type Random } from '../core/index.js';
import { encodeG711, wavToTelephone } from '../media/index.js';
import { RecordingStore } from './store.js';
import type { ActiveRecording } from './recorder.js';

export const DEFAULT_MAX_MESSAGE_SEC = 120;
export const DEFAULT_MAX_MESSAGES = 50;
export const DEFAULT_MAX_AGE_DAYS = 30;
/** A message shorter than this is a hang-up at the beep, not a message: it is deleted. */
export const MIN_MESSAGE_MS = 500;
const INDEX_FILE = 'index.json';
const MAILBOX_PATTERN = /^[A-Za-z0-9._-]{1,32}$/;

export interface MessageInfo {
  readonly id: string;
  readonly mailbox: string;
  readonly caller: string;
  readonly at: number;
  readonly durationMs: number;
  readonly isNew: boolean;
}

interface IndexEntry { mailbox: string; caller: string; at: number; durationMs: number; isNew: boolean }
interface IndexFile { messages: Record<string, IndexEntry>; greetings: Record<string, string> }

export interface MailboxStoreOptions {
  readonly dir: string;
  readonly clock: Clock;
  readonly random: Random;
  readonly counters?: Counters;
  readonly maxMessageSec?: number;
  readonly maxMessages?: number;
  readonly maxAgeDays?: number;
  /** Free bytes on the disk (tests); defaults to statfs. */
  readonly freeBytes?: (dir: string) => number;
  readonly minFreeBytes?: number;
}

export class MailboxStore {
  private index: IndexFile;
  private readonly listeners = new Set<(mailbox: string) => void>();
  readonly maxMessageSec: number;
  readonly maxMessages: number;
  readonly maxAgeDays: number;
  readonly counters: Counters;

  private constructor(readonly dir: string, readonly store: RecordingStore, private readonly opts: MailboxStoreOptions) {
    this.maxMessageSec = opts.maxMessageSec ?? DEFAULT_MAX_MESSAGE_SEC;
    this.maxMessages = opts.maxMessages ?? DEFAULT_MAX_MESSAGES;
    this.maxAgeDays = opts.maxAgeDays ?? DEFAULT_MAX_AGE_DAYS;
    this.counters = opts.counters ?? new Counters();
    this.index = this.load();
  }

  static async open(opts: MailboxStoreOptions): Promise<MailboxStore> {
    const maxSec = opts.maxMessageSec ?? DEFAULT_MAX_MESSAGE_SEC;
    const store = await RecordingStore.open({
      dir: opts.dir, clock: opts.clock, random: opts.random, ...(opts.counters ? { counters: opts.counters } : {}),
      // 16-bit PCM at 8 kHz plus the records' framing: a generous cap behind the feature's own timer.
      maxRecordingBytes: Math.ceil(maxSec * 16_000 * 1.5) + 64 * 1024,
      ...(opts.freeBytes ? { freeBytes: opts.freeBytes } : {}),
      ...(opts.minFreeBytes !== undefined ? { minFreeBytes: opts.minFreeBytes } : {}),
    });
    const m = new MailboxStore(opts.dir, store, opts);
    m.dropMissing();
    return m;
  }

  /** Told the mailbox whose messages changed (message-waiting). */
  onChange(listener: (mailbox: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(mailbox: string): void {
    for (const l of this.listeners) { try { l(mailbox); } catch { this.counters.inc('voicemail.listener-error'); } }
  }

  private load(): IndexFile {
    const path = join(this.dir, INDEX_FILE);
    if (!existsSync(path)) return { messages: {}, greetings: {} };
    try {
      const raw = JSON.parse(readFileSync(path, 'utf8')) as Partial<IndexFile>;
      const messages: Record<string, IndexEntry> = {};
      for (const [id, e] of Object.entries(raw.messages ?? {})) {
        if (/^[0-9a-f]{32}$/.test(id) && e && typeof e.mailbox === 'string' && typeof e.at === 'number') {
          messages[id] = { mailbox: e.mailbox, caller: String(e.caller ?? ''), at: e.at, durationMs: Number(e.durationMs) || 0, isNew: e.isNew === true };
        }
      }
      const greetings: Record<string, string> = {};
      for (const [mb, id] of Object.entries(raw.greetings ?? {})) if (typeof id === 'string' && /^[0-9a-f]{32}$/.test(id)) greetings[mb] = id;
      return { messages, greetings };
    } catch {
      this.counters.inc('voicemail.index-unreadable');
      return { messages: {}, greetings: {} };
    }
  }

  private persist(): void {
    writeFileAtomicSync(join(this.dir, INDEX_FILE), JSON.stringify(this.index), 0o600);
  }

  /** Index entries whose sealed file is gone (deleted by hand, lost) are dropped. */
  private dropMissing(): void {
    const have = new Set(this.store.list().map((r) => r.id));
    let dropped = false;
    for (const id of Object.keys(this.index.messages)) if (!have.has(id)) { delete this.index.messages[id]; dropped = true; }
    for (const [mb, id] of Object.entries(this.index.greetings)) if (!have.has(id)) { delete this.index.greetings[mb]; dropped = true; }
    if (dropped) this.persist();
  }

  /**
   * Start recording a message (or, with `greeting`, the mailbox's new
   * greeting): the returned sink is the engine tap's. It is indexed when it
   * ends; `done` says what became of it.
   */
  record(o: {
    readonly mailbox: string; readonly caller: string; readonly leg: string; readonly protection: string;
    readonly payloadTypes: Readonly<Record<number, string>>; readonly greeting?: boolean;
    readonly done?: (info: MessageInfo | undefined) => void;
  }): { readonly id: string; readonly sink: ActiveRecording } {
    if (!MAILBOX_PATTERN.test(o.mailbox)) throw new PbxError('config', 'not a mailbox');
    const sink = this.store.start({
      kind: 'decoded', parties: [o.caller], legs: [{ id: o.leg, protection: o.protection }], payloadTypes: o.payloadTypes,
      note: o.greeting ? `greeting of ${o.mailbox}` : `voicemail for ${o.mailbox}`,
    }, {
      onEnd: (info) => {
        void this.ended(o, info.id, info.durationMs).then(o.done, () => o.done?.(undefined));
      },
    });
    return { id: sink.id, sink };
  }

  private async ended(o: { mailbox: string; caller: string; greeting?: boolean }, id: string, durationMs: number): Promise<MessageInfo | undefined> {
    if (durationMs < MIN_MESSAGE_MS) {
      this.counters.inc(o.greeting ? 'voicemail.greeting-too-short' : 'voicemail.message-too-short');
      await this.store.delete(id).catch(() => undefined);
      return undefined;
    }
    if (o.greeting) {
      const old = this.index.greetings[o.mailbox];
      this.index.greetings[o.mailbox] = id;
      this.persist();
      if (old) await this.store.delete(old).catch(() => undefined);
      this.counters.inc('voicemail.greeting-recorded');
      return { id, mailbox: o.mailbox, caller: o.caller, at: this.opts.clock.now(), durationMs, isNew: false };
    }
    const e: IndexEntry = { mailbox: o.mailbox, caller: o.caller, at: this.opts.clock.now() - durationMs, durationMs, isNew: true };
    this.index.messages[id] = e;
    this.persist();
    this.counters.inc('voicemail.message-stored');
    await this.enforceCount(o.mailbox);
    this.changed(o.mailbox);
    return { id, ...e };
  }

  /** A mailbox over maxMessages loses its oldest saved messages, then its oldest new ones. */
  private async enforceCount(mailbox: string): Promise<void> {
    const mine = this.list(mailbox);
    let over = mine.length - this.maxMessages;
    if (over <= 0) return;
    const order = [...mine.filter((m) => !m.isNew), ...mine.filter((m) => m.isNew)];
    for (const m of order) {
      if (over-- <= 0) break;
      await this.remove(m.id);
      this.counters.inc('voicemail.dropped-over-limit');
    }
  }

  /** A mailbox's messages, oldest first. */
  list(mailbox: string): MessageInfo[] {
    return Object.entries(this.index.messages)
      .filter(([, e]) => e.mailbox === mailbox)
      .map(([id, e]) => ({ id, ...e }))
      .sort((a, b) => a.at - b.at || a.id.localeCompare(b.id));
  }

  counts(mailbox: string): { readonly newCount: number; readonly oldCount: number } {
    const l = this.list(mailbox);
    const n = l.filter((m) => m.isNew).length;
    return { newCount: n, oldCount: l.length - n };
  }

  /** Every mailbox that has messages. */
  mailboxes(): string[] {
    return [...new Set(Object.values(this.index.messages).map((e) => e.mailbox))].sort();
  }

  private owned(mailbox: string, id: string): IndexEntry {
    const e = this.index.messages[id];
    if (!e || e.mailbox !== mailbox) throw new PbxError('not-found', 'no such message');
    return e;
  }

  async save(mailbox: string, id: string): Promise<void> {
    const e = this.owned(mailbox, id);
    if (!e.isNew) return;
    e.isNew = false;
    this.persist();
    this.changed(mailbox);
  }

  async delete(mailbox: string, id: string): Promise<void> {
    this.owned(mailbox, id);
    await this.remove(id);
    this.changed(mailbox);
  }

  private async remove(id: string): Promise<void> {
    delete this.index.messages[id];
    this.persist();
    await this.store.delete(id).catch((e: unknown) => { if (!(e instanceof PbxError && e.code === 'not-found')) throw e; });
    this.counters.inc('voicemail.message-deleted');
  }

  /** The decrypted audio of a message, 8 kHz mono. */
  async pcm(mailbox: string, id: string): Promise<Int16Array> {
    this.owned(mailbox, id);
    return this.audio(id);
  }

  /** The greeting the mailbox's owner recorded, or undefined for the box's own. */
  async greeting(mailbox: string): Promise<Int16Array | undefined> {
    const id = this.index.greetings[mailbox];
    if (!id) return undefined;
    try { return await this.audio(id); } catch { this.counters.inc('voicemail.greeting-unreadable'); return undefined; }
  }

  /** Store an uploaded greeting (any WAV the box can convert): sealed like a recorded one. */
  async setGreeting(mailbox: string, wav: Uint8Array): Promise<{ readonly seconds: number }> {
    const { pcm } = wavToTelephone(wav);
    if (pcm.length < 8000 * 0.5) throw new PbxError('config', 'a greeting is at least half a second long');
    const cut = pcm.subarray(0, 8000 * 60);
    // Fed to the recorder as the RTP packets a phone would send, so the file is the same kind as a recorded one.
    const done = new Promise<MessageInfo | undefined>((resolve) => {
      const r = this.record({ mailbox, caller: mailbox, leg: 'upload', protection: 'uploaded', payloadTypes: {}, greeting: true, done: resolve });
      const g = encodeG711('PCMU', cut);
      let ts = this.opts.random.bytes(4).readUInt32BE(0);
      const ssrc = this.opts.random.bytes(4).readUInt32BE(0);
      const t0 = this.opts.clock.now();
      for (let i = 0, seq = 0; i < g.length; i += 160, seq++, ts = (ts + 160) >>> 0) {
        const pkt = Buffer.alloc(12 + Math.min(160, g.length - i));
        pkt[0] = 0x80; pkt[1] = 0; pkt.writeUInt16BE(seq & 0xffff, 2); pkt.writeUInt32BE(ts, 4); pkt.writeUInt32BE(ssrc, 8);
        pkt.set(g.subarray(i, i + 160), 12);
        r.sink.packet('upload', pkt, t0 + seq * 20, false);
      }
      void r.sink.finish();
    });
    const info = await done;
    if (!info) throw new PbxError('config', 'the greeting could not be stored');
    return { seconds: cut.length / 8000 };
  }

  private async audio(id: string): Promise<Int16Array> {
    const dl = this.store.read(id);
    const parts: Buffer[] = [];
    for await (const b of dl.stream) parts.push(b as Buffer);
    return wavToTelephone(Buffer.concat(parts)).pcm;
  }

  /** Delete messages older than maxAgeDays. */
  async prune(): Promise<string[]> {
    const cutoff = this.opts.clock.now() - this.maxAgeDays * 86_400_000;
    const gone: string[] = [];
    const touched = new Set<string>();
    for (const [id, e] of Object.entries(this.index.messages)) {
      if (e.at >= cutoff) continue;
      await this.remove(id);
      gone.push(id);
      touched.add(e.mailbox);
      this.counters.inc('voicemail.expired');
    }
    for (const mb of touched) this.changed(mb);
    return gone;
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}
