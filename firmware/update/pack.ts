import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { PayloadFile } from './bundle.js';

/**
 * The payload files of a folder, sorted, for createBundle (the image build
 * and the tests pack a slot's contents with it). Symbolic links and special
 * files are not followed or packed: a slot holds regular files only.
 */
export function readTree(dir: string, keep: (rel: string) => boolean = () => true): PayloadFile[] {
  const out: PayloadFile[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const rel = relative(dir, p).split(sep).join('/');
      if (!keep(rel)) continue;
      const st = statSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push({ path: rel, mode: st.mode & 0o777, data: readFileSync(p) });
    }
  };
  walk(dir);
  return out;
}
