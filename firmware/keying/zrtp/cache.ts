/**
 * The retained-secret cache (RFC 6189 4.6.1, 4.9) and the box's own ZID.
 * One entry per peer ZID: rs1, rs2, the SAS verified flag and, for a
 * trusted MiTM enrollment (7.3.1), the pbxsecret. The file form is one JSON
 * file in the data folder, replaced atomically (temp file, fsync, rename)
 * with mode 0600; secrets never reach a log or an error text.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PbxError, writeFileAtomicSync, type Random } from '../../core/index.js';
import { ZID_BYTES } from './packet.js';

export interface ZrtpCacheEntry {
  readonly rs1?: Buffer;
  readonly rs2?: Buffer;
  /** The SAS was verified by the user (the V flag we send, RFC 6189 7.1). */
  readonly verified: boolean;
  readonly pbxSecret?: Buffer;
  /** When rs1 stops being usable (ms since the epoch); undefined: never (RFC 6189 4.9). */
  readonly expiresAt?: number;
}

export interface ZrtpCache {
  get(peerZid: Buffer): ZrtpCacheEntry | undefined;
  put(peerZid: Buffer, entry: ZrtpCacheEntry): void;
  delete(peerZid: Buffer): void;
}

export class MemoryZrtpCache implements ZrtpCache {
  private readonly entries = new Map<string, ZrtpCacheEntry>();
  get(peerZid: Buffer): ZrtpCacheEntry | undefined { return this.entries.get(peerZid.toString('hex')); }
  put(peerZid: Buffer, entry: ZrtpCacheEntry): void { this.entries.set(peerZid.toString('hex'), entry); }
  delete(peerZid: Buffer): void { this.entries.delete(peerZid.toString('hex')); }
  get size(): number { return this.entries.size; }
}

export const ZRTP_CACHE_FILE = 'zrtp-cache.json';
export const ZRTP_CACHE_VERSION = 1;
/** Peers kept in the file before the oldest written is dropped. */
export const MAX_CACHE_PEERS = 10000;

interface FileEntry { rs1?: string; rs2?: string; verified: boolean; pbx?: string; expiresAt?: number; written: number }
interface FileShape { version: number; zid: string; peers: Record<string, FileEntry> }

const HEX = /^[0-9a-f]*$/;
const b64 = (b: Buffer | undefined): string | undefined => b?.toString('base64');
const unb64 = (s: unknown): Buffer | undefined => (typeof s === 'string' && s.length > 0 ? Buffer.from(s, 'base64') : undefined);

/**
 * The file cache. The box's ZID is created once (from the injected Random)
 * and kept in the same file, so it stays the same across restarts.
 */
export class FileZrtpCache implements ZrtpCache {
  readonly zid: Buffer;
  private readonly peers: Map<string, FileEntry>;
  private seq = 0;

  private constructor(readonly path: string, zid: Buffer, peers: Map<string, FileEntry>) {
    this.zid = zid;
    this.peers = peers;
  }

  /** Open (or create) the cache file in `dataDir`. A corrupt file is refused with PbxError 'config', never silently replaced. */
  static open(dataDir: string, random: Random): FileZrtpCache {
    const path = join(dataDir, ZRTP_CACHE_FILE);
    let text: string | undefined;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if (!(e instanceof Error && 'code' in e && e.code === 'ENOENT')) throw e;
    }
    if (text === undefined) {
      const c = new FileZrtpCache(path, random.bytes(ZID_BYTES), new Map());
      c.save();
      return c;
    }
    let shape: FileShape;
    try {
      shape = JSON.parse(text) as FileShape;
    } catch {
      throw new PbxError('config', `ZRTP cache ${path} is not JSON`);
    }
    if (shape.version !== ZRTP_CACHE_VERSION || typeof shape.zid !== 'string' || !HEX.test(shape.zid) || shape.zid.length !== ZID_BYTES * 2
      || typeof shape.peers !== 'object' || shape.peers === null) {
      throw new PbxError('config', `ZRTP cache ${path} has an unknown shape`);
    }
    const peers = new Map<string, FileEntry>();
    for (const [k, v] of Object.entries(shape.peers)) {
      if (HEX.test(k) && k.length === ZID_BYTES * 2 && typeof v === 'object' && v !== null) peers.set(k, v);
    }
    const c = new FileZrtpCache(path, Buffer.from(shape.zid, 'hex'), peers);
    c.seq = Math.max(0, ...[...peers.values()].map((p) => (typeof p.written === 'number' ? p.written : 0)));
    return c;
  }

  get(peerZid: Buffer): ZrtpCacheEntry | undefined {
    const e = this.peers.get(peerZid.toString('hex'));
    if (!e) return undefined;
    const rs1 = unb64(e.rs1);
    const rs2 = unb64(e.rs2);
    const pbxSecret = unb64(e.pbx);
    return {
      verified: e.verified === true,
      ...(rs1 ? { rs1 } : {}), ...(rs2 ? { rs2 } : {}), ...(pbxSecret ? { pbxSecret } : {}),
      ...(typeof e.expiresAt === 'number' ? { expiresAt: e.expiresAt } : {}),
    };
  }

  put(peerZid: Buffer, entry: ZrtpCacheEntry): void {
    const f: FileEntry = { verified: entry.verified, written: ++this.seq };
    const rs1 = b64(entry.rs1); const rs2 = b64(entry.rs2); const pbx = b64(entry.pbxSecret);
    if (rs1) f.rs1 = rs1;
    if (rs2) f.rs2 = rs2;
    if (pbx) f.pbx = pbx;
    if (entry.expiresAt !== undefined) f.expiresAt = entry.expiresAt;
    this.peers.set(peerZid.toString('hex'), f);
    if (this.peers.size > MAX_CACHE_PEERS) {
      const oldest = [...this.peers.entries()].sort((a, b) => a[1].written - b[1].written)[0];
      if (oldest) this.peers.delete(oldest[0]);
    }
    this.save();
  }

  delete(peerZid: Buffer): void {
    if (this.peers.delete(peerZid.toString('hex'))) this.save();
  }

  /** The peers the box remembers, for the admin: ZID, flags, never a secret. */
  list(): { readonly zid: string; readonly verified: boolean; readonly retainedSecret: boolean; readonly enrolled: boolean }[] {
    return [...this.peers.entries()].map(([zid, e]) => ({ zid, verified: e.verified === true, retainedSecret: typeof e.rs1 === 'string', enrolled: typeof e.pbx === 'string' }));
  }

  private save(): void {
    const shape: FileShape = { version: ZRTP_CACHE_VERSION, zid: this.zid.toString('hex'), peers: Object.fromEntries(this.peers) };
    writeFileAtomicSync(this.path, `${JSON.stringify(shape)}\n`, 0o600);
  }
}
