import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

/*
 * The layering rules of ARCHITECTURE.md, checked on the source: a folder is a
 * module whose index.ts is its only public face, and imports point down.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FIRMWARE = join(ROOT, 'firmware');

/** Lower numbers are lower layers; a module may import only its own rank or lower. */
const RANK: Record<string, number> = {
  core: 0, config: 1, pki: 2, sdp: 3, media: 3, keying: 3, sip: 3, pbx: 4, status: 5, control: 5, provisioning: 5, admin: 6, cli: 7, '.': 7,
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** The module a file belongs to: the nearest folder (up to firmware/) that has an index.ts. */
function moduleOf(file: string): string {
  let d = dirname(file);
  while (d.startsWith(FIRMWARE) && d !== FIRMWARE) {
    if (existsSync(join(d, 'index.ts'))) return d;
    d = dirname(d);
  }
  return FIRMWARE;
}

function topFolder(mod: string): string {
  const rel = relative(FIRMWARE, mod);
  return rel === '' ? '.' : rel.split('/')[0] ?? '.';
}

/** Every rule broken by one import of `file` (source text `src`). */
function violations(file: string, src: string): string[] {
  const problems: string[] = [];
  const from = moduleOf(file);
  for (const m of src.matchAll(/^(?:import|export)[^'"]*from\s+'(\.[^']+)'/gm)) {
    const target = resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts'));
    if (!target.startsWith(FIRMWARE)) continue; // board/ sits beside firmware/
    const to = moduleOf(target);
    if (to === from) continue;
    const rel = relative(ROOT, file);
    if (to !== FIRMWARE && target !== join(to, 'index.ts')) {
      problems.push(`${rel} imports ${relative(ROOT, target)}, not ${relative(ROOT, join(to, 'index.ts'))}`);
    }
    const rf = RANK[topFolder(from)];
    const rt = RANK[topFolder(to)];
    if (rf === undefined || rt === undefined) problems.push(`${rel}: ${topFolder(from)} or ${topFolder(to)} has no layer in RANK`);
    else if (rt > rf) problems.push(`${rel} (layer ${topFolder(from)}) imports the higher layer ${topFolder(to)}`);
  }
  return problems;
}

t.test('cross-module imports go through index.ts and point down', async (t) => {
  const problems = files(FIRMWARE).flatMap((f) => violations(f, readFileSync(f, 'utf8')));
  t.same(problems, [], problems.join('\n'));
});

t.test('the checker catches a deep import and an upward import', async (t) => {
  const fake = join(FIRMWARE, 'sip', 'transaction', 'fake.ts');
  t.match(violations(fake, "import { parseMessage } from '../message/parse.js';\n").join(), /not firmware\/sip\/message\/index\.ts/);
  t.match(violations(fake, "import { Registrar } from '../../pbx/index.js';\n").join(), /imports the higher layer pbx/);
  t.same(violations(fake, "import { parseMessage } from '../message/index.js';\n"), []);
});
