import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

/*
 * The layering rules of ARCHITECTURE.md, checked on the source: a folder is a
 * module whose index.ts is its only public face, imports point down, modules
 * on one floor import each other only in the order written below, and the
 * module graph has no loop at all. board/ (beside firmware/) and the page's
 * source (webui/) are held to their own rules.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FIRMWARE = join(ROOT, 'firmware');
const BOARD = join(ROOT, 'board');
const WEBUI = join(ROOT, 'webui', 'src');

/**
 * Floors, lowest first; a module may import its own floor (in SIDEWAYS order)
 * or lower. `board` is a floor of its own, as if it were a firmware folder:
 * the HAL rests on core and the API shapes, and status and main drive it.
 */
const RANK: Record<string, number> = {
  core: 0, api: 0,
  board: 1,
  config: 2,
  pki: 3,
  sdp: 4, media: 4, keying: 4, sip: 4, recording: 4,
  pbx: 5,
  status: 6, control: 6, provisioning: 6, update: 6, backup: 6,
  admin: 7,
  cli: 8, '.': 8,
};

/**
 * Which folders of the same floor a folder may import; anything else on its
 * floor is a sideways import. The order follows the call model of
 * ARCHITECTURE.md:
 *
 * - core and api: api is the admin API's JSON shapes and imports nothing at
 *   all (checked below); core needs none of them.
 * - media at the bottom of the protocol floor: its API is the engine's
 *   messages, plain data every other protocol module may speak.
 * - sdp above media: the SDP of a leg is built from and read into the
 *   engine's endpoint shapes (sdp/leg.ts takes media's Endpoint and
 *   RemoteMedia, types only).
 * - keying above both: a key agreement says what goes in our SDP, reads the
 *   peer's, and yields the engine's SRTP security (keying/sdes uses
 *   media/srtp's suites).
 * - sip beside them and apart: signalling carries SDP as opaque bytes, so it
 *   imports none of the three and none imports it.
 * - status, control and provisioning are siblings that use each other not at
 *   all: each is driven from main.ts.
 *
 * The list of the Layers section (sip, sdp, media, keying, top down) is not
 * this order: keying cannot sit under the SDP it writes and the SRTP it
 * configures, so the call model's order wins.
 */
const SIDEWAYS: Record<string, readonly string[]> = {
  core: [], api: [],
  sdp: ['media'], media: [], keying: ['sdp', 'media'], sip: [], recording: ['media'],
  status: [], control: [], provisioning: [], update: [], backup: [],
  // cli has no index.ts today, so its files belong to the root module; should
  // it become a module, it may start the appliance, never the other way round.
  cli: ['.'], '.': [],
};

/**
 * Firmware files the page may import besides the packages it bundles:
 * the API's shapes, and the plain-language descriptions it shares with the
 * server. Both must be dependency-free (see `impureImports`).
 */
const WEBUI_SHARED: readonly string[] = [join(FIRMWARE, 'api', 'index.ts'), join(FIRMWARE, 'admin', 'explain.ts')];
/** Packages the page bundles. */
const WEBUI_PACKAGES: readonly string[] = ['preact', 'preact/hooks', 'htm', 'sip.js'];
/** The one file that must import nothing at all. */
const API_TYPES = join(FIRMWARE, 'api', 'index.ts');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

interface Import {
  /** The specifier as written. */
  readonly spec: string;
  /** The file it names (relative specifiers only). */
  readonly target: string | null;
  /** `import type` / `export type`: erased when compiled and bundled. */
  readonly typeOnly: boolean;
}

/** Static imports and re-exports of a source file, including bare side-effect imports. */
function importsOf(file: string, src: string): Import[] {
  const out: Import[] = [];
  for (const m of src.matchAll(/^(import|export)(\s+type\b)?(?:[^'";]*?\sfrom)?\s*(['"])([^'"]+)\3/gm)) {
    const spec = m[4]!;
    out.push({
      spec,
      target: spec.startsWith('.') ? resolve(dirname(file), spec.replace(/\.js$/, '.ts')) : null,
      typeOnly: m[2] !== undefined,
    });
  }
  // A dynamic import('...') with a literal is a value import like any other (cli/pbx.ts loads main.ts so).
  for (const m of src.matchAll(/\bimport\(\s*(['"])([^'"]+)\1\s*\)/g)) {
    const spec = m[2]!;
    out.push({ spec, target: spec.startsWith('.') ? resolve(dirname(file), spec.replace(/\.js$/, '.ts')) : null, typeOnly: false });
  }
  return out;
}

const inside = (file: string, dir: string): boolean => file === dir || file.startsWith(`${dir}/`);

/** The module a file belongs to: the nearest folder (up to firmware/) that has an index.ts; board/ is one module. */
function moduleOf(file: string): string {
  if (inside(file, BOARD)) return BOARD;
  let d = dirname(file);
  while (inside(d, FIRMWARE) && d !== FIRMWARE) {
    if (existsSync(join(d, 'index.ts'))) return d;
    d = dirname(d);
  }
  return FIRMWARE;
}

/** The floor name of a module: its top folder under firmware/, or `board`. */
function topFolder(mod: string): string {
  if (mod === BOARD) return 'board';
  const rel = relative(FIRMWARE, mod);
  return rel === '' ? '.' : rel.split('/')[0] ?? '.';
}

const show = (p: string): string => relative(ROOT, p);

/** Every layering rule broken by one import of a firmware or board file. */
function violations(file: string, src: string): string[] {
  const problems: string[] = [];
  const from = moduleOf(file);
  const rel = show(file);
  for (const imp of importsOf(file, src)) {
    const target = imp.target;
    if (target === null) continue; // packages and node: builtins
    if (!inside(target, FIRMWARE) && !inside(target, BOARD)) {
      problems.push(`${rel} imports ${show(target)}, outside firmware/ and board/`);
      continue;
    }
    const to = moduleOf(target);
    if (to === from) continue;
    const face = join(to, 'index.ts');
    if (to !== FIRMWARE && target !== face) problems.push(`${rel} imports ${show(target)}, not ${show(face)}`);
    if (inside(from, to)) problems.push(`${rel} (module ${show(from)}) imports ${show(to)}, the module that encloses it`);
    const tf = topFolder(from);
    const tt = topFolder(to);
    const rf = RANK[tf];
    const rt = RANK[tt];
    if (rf === undefined || rt === undefined) problems.push(`${rel}: ${tf} or ${tt} has no layer in RANK`);
    else if (rt > rf) problems.push(`${rel} (layer ${tf}) imports the higher layer ${tt}`);
    else if (rt === rf && tt !== tf && !(SIDEWAYS[tf] ?? []).includes(tt)) {
      problems.push(`${rel} (layer ${tf}) imports ${tt} sideways: SIDEWAYS lets ${tf} import only ${(SIDEWAYS[tf] ?? []).join(', ') || 'nothing'} on its floor`);
    }
  }
  return problems;
}

/** Edges between modules: importer -> imported, each with one import that makes it. */
function moduleGraph(sources: ReadonlyMap<string, string>): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const [file, src] of sources) {
    const from = moduleOf(file);
    for (const imp of importsOf(file, src)) {
      if (imp.target === null || !(inside(imp.target, FIRMWARE) || inside(imp.target, BOARD))) continue;
      const to = moduleOf(imp.target);
      if (to === from) continue;
      const edges = graph.get(from) ?? new Map<string, string>();
      if (!edges.has(to)) edges.set(to, `${show(file)} -> ${imp.spec}`);
      graph.set(from, edges);
    }
  }
  return graph;
}

/** Every loop in the graph, each as its path of modules and the import that closes each step. */
function cycles(graph: ReadonlyMap<string, ReadonlyMap<string, string>>): string[] {
  const found: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (m: string): void => {
    state.set(m, 'open');
    stack.push(m);
    for (const next of (graph.get(m) ?? new Map<string, string>()).keys()) {
      const s = state.get(next);
      if (s === 'open') {
        const loop = [...stack.slice(stack.indexOf(next)), next];
        const steps = loop.slice(1).map((to, i) => graph.get(loop[i]!)?.get(to) ?? '?');
        found.push(`${loop.map(show).join(' -> ')} (${steps.join('; ')})`);
      } else if (s === undefined) visit(next);
    }
    stack.pop();
    state.set(m, 'done');
  };
  for (const m of [...graph.keys()].sort()) if (!state.has(m)) visit(m);
  return found;
}

/**
 * Why a file the page shares is not dependency-free: it may import only
 * types, only from files that are dependency-free themselves, never a package
 * or a builtin (the page would bundle it, or its type-check would see node:*).
 * The API file may import nothing at all.
 */
function impureImports(file: string, read: (f: string) => string, seen = new Set<string>()): string[] {
  if (seen.has(file)) return [];
  seen.add(file);
  const imports = importsOf(file, read(file));
  if (file === API_TYPES && imports.length > 0) return imports.map((i) => `${show(file)} must import nothing, but imports ${i.spec}`);
  return imports.flatMap((i) => {
    if (i.target === null) return [`${show(file)} is shared with the page but imports the package ${i.spec}`];
    if (!i.typeOnly) return [`${show(file)} is shared with the page but imports ${i.spec} as a value (only \`import type\` is erased)`];
    return impureImports(i.target, read, seen);
  });
}

/** Every rule broken by one import of a webui/src file. */
function webuiViolations(file: string, src: string): string[] {
  const rel = show(file);
  return importsOf(file, src).flatMap((i) => {
    if (i.target === null) return WEBUI_PACKAGES.includes(i.spec) ? [] : [`${rel} imports the package ${i.spec}, which the page does not bundle`];
    if (inside(i.target, WEBUI) || WEBUI_SHARED.includes(i.target)) return [];
    return [`${rel} imports ${show(i.target)}: the page may import only ${WEBUI_SHARED.map(show).join(' and ')} outside webui/src`];
  });
}

const sources = new Map<string, string>([...files(FIRMWARE), ...files(BOARD)].map((f) => [f, readFileSync(f, 'utf8')]));
const readSource = (f: string): string => sources.get(f) ?? readFileSync(f, 'utf8');

t.test('cross-module imports go through index.ts, point down and keep the order of each floor', async (t) => {
  const problems = [...sources].flatMap(([f, src]) => violations(f, src));
  t.same(problems, [], problems.join('\n'));
});

t.test('the module graph of firmware/ and board/ has no loop', async (t) => {
  const loops = cycles(moduleGraph(sources));
  t.same(loops, [], loops.join('\n'));
});

t.test('the page imports only its packages, its own files and the dependency-free shared files', async (t) => {
  const problems = files(WEBUI).flatMap((f) => webuiViolations(f, readFileSync(f, 'utf8')));
  t.same(problems, [], problems.join('\n'));
  const impure = WEBUI_SHARED.flatMap((f) => impureImports(f, readSource));
  t.same(impure, [], impure.join('\n'));
});

t.test('RANK and SIDEWAYS agree: sideways targets are on the same floor, and the order has no loop', async (t) => {
  const problems: string[] = [];
  for (const [from, tos] of Object.entries(SIDEWAYS)) {
    for (const to of tos) if (RANK[to] !== RANK[from]) problems.push(`SIDEWAYS ${from} -> ${to} crosses floors`);
  }
  problems.push(...cycles(new Map(Object.entries(SIDEWAYS).map(([k, v]) => [k, new Map(v.map((x) => [x, `SIDEWAYS.${k}`]))]))));
  t.same(problems, [], problems.join('\n'));
});

t.test('the checker catches a deep import, an upward import, a sideways import and an import of the enclosing module', async (t) => {
  const fake = join(FIRMWARE, 'sip', 'transaction', 'fake.ts');
  t.match(violations(fake, "import { parseMessage } from '../message/parse.js';\n").join(), /not firmware\/sip\/message\/index\.ts/);
  t.match(violations(fake, "import { Registrar } from '../../pbx/index.js';\n").join(), /imports the higher layer pbx/);
  t.same(violations(fake, "import { parseMessage } from '../message/index.js';\n"), []);
  t.same(violations(fake, "import type { Problem } from '../../api/index.js';\n"), [], 'the API shapes are on the bottom floor');
  t.match(violations(fake, "const { B2bua } = await import('../../pbx/index.js');\n").join(), /imports the higher layer pbx/, 'a dynamic import counts');
  const sdp = join(FIRMWARE, 'sdp', 'fake.ts');
  t.match(violations(sdp, "import { sdesOffer } from '../keying/index.js';\n").join(), /imports keying sideways/);
  t.match(violations(fake, "import type { SessionDescription } from '../../sdp/index.js';\n").join(), /imports sdp sideways/);
  t.same(violations(sdp, "import type { Endpoint } from '../media/index.js';\n"), [], 'sdp may import media');
  const call = join(FIRMWARE, 'pbx', 'call', 'fake.ts');
  t.match(violations(call, "import { B2bua } from '../index.js';\n").join(), /the module that encloses it/);
});

t.test('the checker holds board/ to its floor', async (t) => {
  const status = join(FIRMWARE, 'status', 'fake.ts');
  t.match(violations(status, "import { SimBoard } from '../../board/sim.js';\n").join(), /not board\/index\.ts/);
  t.same(violations(status, "import { SimBoard } from '../../board/index.js';\n"), []);
  const board = join(BOARD, 'fake.ts');
  t.match(violations(board, "import { ConfigStore } from '../firmware/config/index.js';\n").join(), /\(layer board\) imports the higher layer config/);
  t.match(violations(board, "import { Clock } from '../firmware/core/clock.js';\n").join(), /not firmware\/core\/index\.ts/);
  t.same(violations(board, "import type { LedState } from '../firmware/api/index.js';\n"), []);
  t.match(violations(join(FIRMWARE, 'core', 'fake.ts'), "import type { Board } from '../../board/index.js';\n").join(), /imports the higher layer board/);
});

t.test('the checker catches a loop', async (t) => {
  const a = join(FIRMWARE, 'sip', 'message', 'fake.ts');
  const b = join(FIRMWARE, 'sip', 'transaction', 'fake.ts');
  const c = join(FIRMWARE, 'sip', 'dialog', 'fake.ts');
  const looped = new Map([
    [a, "import type { ServerTransaction } from '../transaction/index.js';\n"],
    [b, "import { Dialog } from '../dialog/index.js';\n"],
    [c, "import { parseMessage } from '../message/index.js';\n"],
  ]);
  const found = cycles(moduleGraph(looped));
  t.equal(found.length, 1, found.join('\n'));
  t.match(found[0], /firmware\/sip\/dialog -> firmware\/sip\/message -> firmware\/sip\/transaction -> firmware\/sip\/dialog/);
  looped.delete(c);
  t.same(cycles(moduleGraph(looped)), [], 'without the closing import there is no loop');
});

t.test('the checker catches a deep import from the page and an impure shared file', async (t) => {
  const page = join(WEBUI, 'fake.ts');
  t.match(webuiViolations(page, "import type { CallView } from '../../firmware/pbx/views.js';\n").join(), /may import only/);
  t.match(webuiViolations(page, "import type { LedState } from '../../board/hal.js';\n").join(), /may import only/);
  t.match(webuiViolations(page, "import { z } from 'zod';\n").join(), /does not bundle/);
  t.same(webuiViolations(page, "import type { StatusReport } from '../../firmware/api/index.js';\nimport { html } from './html.js';\nimport { h } from 'preact';\n"), []);
  const explain = join(FIRMWARE, 'admin', 'explain.ts');
  const withSource = (src: string) => (f: string): string => (f === explain ? src : readSource(f));
  t.match(impureImports(explain, withSource("import { randomUUID } from 'node:crypto';\n")).join(), /imports the package node:crypto/);
  t.match(impureImports(explain, withSource("import { CALLS_FILE } from '../control/index.js';\n")).join(), /as a value/);
  t.match(impureImports(explain, withSource("import type { Policy } from '../config/index.js';\n")).join(), /firmware\/config\/index\.ts is shared with the page but imports/);
  t.same(impureImports(explain, withSource("import type { LegView } from '../api/index.js';\n")), []);
  t.match(impureImports(API_TYPES, (f) => (f === API_TYPES ? "import type { LedState } from '../../board/hal.js';\n" : readSource(f))).join(), /must import nothing/);
});
