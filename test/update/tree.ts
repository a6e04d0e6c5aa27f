import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** One hash of every path, mode and content under a folder: "nothing was written" is this staying equal. */
export function treeDigest(dir: string, skip: (name: string) => boolean = () => false): string {
  const h = createHash('sha256');
  const walk = (d: string, rel: string): void => {
    for (const name of readdirSync(d).sort()) {
      if (skip(name)) continue;
      const p = join(d, name);
      const st = statSync(p);
      h.update(`${rel}/${name}\0${st.mode}\0`);
      if (st.isDirectory()) walk(p, `${rel}/${name}`);
      else h.update(readFileSync(p));
    }
  };
  walk(dir, '');
  return h.digest('hex');
}
