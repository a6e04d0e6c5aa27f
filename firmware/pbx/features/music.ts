import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PbxError, writeFileAtomicSync, type Logger } from '../../core/index.js';
import { wavToTelephone, type WavInfo } from '../../media/index.js';

/**
 * The music on hold the box plays: a WAV the admin uploads, converted once
 * at upload to what G.711 carries (8 kHz mono 16-bit, stored raw), or the
 * box's built-in music when none was uploaded. The running box reads the
 * file again only when it changed, so an upload applies to the next hold.
 */

/** Where the converted music lives in the data folder. */
export const HOLD_MUSIC_FILE = join('moh', 'music.pcm');
/** Shorter than this is refused: a click would loop into a buzz. */
export const MIN_HOLD_MUSIC_SECONDS = 1;
/** Longer is cut: music on hold loops, and the box keeps it in memory. */
export const MAX_HOLD_MUSIC_SECONDS = 600;

export interface StoredMusic {
  readonly seconds: number;
  readonly source: WavInfo;
  readonly cut: boolean;
}

/** Convert an uploaded WAV and store it as the box's music on hold; PbxError with a message for the admin when it cannot be read. */
export function storeHoldMusic(dataDir: string, wav: Uint8Array): StoredMusic {
  const { pcm, source } = wavToTelephone(wav);
  const seconds = pcm.length / 8000;
  if (seconds < MIN_HOLD_MUSIC_SECONDS) {
    throw new PbxError('config', `the music is ${seconds.toFixed(2)} s long; at least ${MIN_HOLD_MUSIC_SECONDS} s is needed`);
  }
  const kept = pcm.subarray(0, MAX_HOLD_MUSIC_SECONDS * 8000);
  const path = join(dataDir, HOLD_MUSIC_FILE);
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomicSync(path, Buffer.from(kept.buffer, kept.byteOffset, kept.byteLength), 0o644);
  return { seconds: kept.length / 8000, source, cut: kept.length < pcm.length };
}

/** Remove the uploaded music, so the built-in tune plays from the next hold on; whether there was one. */
export function removeHoldMusic(dataDir: string): boolean {
  const path = join(dataDir, HOLD_MUSIC_FILE);
  try { statSync(path); } catch { return false; }
  rmSync(path, { force: true });
  return true;
}

/** What plays on hold now: the stored upload and its length, else the built-in tune. */
export function holdMusicInfo(dataDir: string): { playing: 'uploaded' | 'built-in'; seconds?: number } {
  try {
    const { size } = statSync(join(dataDir, HOLD_MUSIC_FILE));
    return { playing: 'uploaded', seconds: Math.round(size / 2 / 8000 * 10) / 10 };
  } catch {
    return { playing: 'built-in' };
  }
}

/** The music to play now: the uploaded one (re-read when the file changes), else `fallback`. */
export class HoldMusicSource {
  private cached?: { mtimeMs: number; size: number; pcm: Int16Array };

  constructor(private readonly dataDir: string, private readonly fallback: () => Int16Array | undefined, private readonly log?: Logger) {}

  get(): Int16Array | undefined {
    const path = join(this.dataDir, HOLD_MUSIC_FILE);
    let st;
    try { st = statSync(path); } catch { this.cached = undefined; return this.fallback(); }
    if (this.cached && this.cached.mtimeMs === st.mtimeMs && this.cached.size === st.size) return this.cached.pcm;
    try {
      const buf = readFileSync(path);
      const pcm = new Int16Array(buf.length >> 1);
      for (let i = 0; i < pcm.length; i++) pcm[i] = buf.readInt16LE(2 * i);
      if (pcm.length < MIN_HOLD_MUSIC_SECONDS * 8000) throw new Error('too short');
      this.cached = { mtimeMs: st.mtimeMs, size: st.size, pcm };
      return pcm;
    } catch (e) {
      this.log?.warn({ path, err: e instanceof Error ? e.message : String(e) }, 'music on hold file unreadable: playing the built-in music');
      return this.fallback();
    }
  }
}
