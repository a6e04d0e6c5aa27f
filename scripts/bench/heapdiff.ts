/**
 * Compare two V8 heap snapshots (.heapsnapshot, as --heapsnapshot-signal or
 * the inspector writes them) by constructor: how many live objects of each
 * kind each holds and their own (shallow) size. A snapshot holds only what
 * was reachable after a full GC, so a kind whose count climbs between two
 * snapshots taken minutes apart under the same load is what a leak keeps.
 *
 * `node dist/scripts/bench/heapdiff.js A.heapsnapshot B.heapsnapshot [N]`
 * prints the N kinds that grew most (by count). Used by bench:soak
 * --heap-snapshots.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export interface KindCount { readonly count: number; readonly bytes: number }
export interface KindDelta { readonly name: string; readonly countA: number; readonly countB: number; readonly bytesA: number; readonly bytesB: number }

interface RawSnapshot {
  readonly snapshot: { readonly meta: { readonly node_fields: readonly string[]; readonly node_types: readonly unknown[] } };
  readonly nodes: readonly number[];
  readonly strings: readonly string[];
}

/** Node types whose name is a constructor worth counting (not strings, code, numbers or V8's own hidden parts). */
const COUNTED = new Set(['object', 'closure', 'array', 'regexp', 'native']);

/** Live objects by "type:name" (e.g. object:Map, closure:onMessage) in one snapshot's text. */
export function countByConstructor(text: string): Map<string, KindCount> {
  const raw = JSON.parse(text) as RawSnapshot;
  const fields = raw.snapshot.meta.node_fields;
  const types = raw.snapshot.meta.node_types[0] as readonly string[];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  if (iType < 0 || iName < 0 || iSize < 0 || !Array.isArray(types)) throw new Error('not a V8 heap snapshot');
  const out = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i + width <= raw.nodes.length; i += width) {
    const type = types[raw.nodes[i + iType] ?? -1];
    if (type === undefined || !COUNTED.has(type)) continue;
    const key = `${type}:${raw.strings[raw.nodes[i + iName] ?? -1] ?? '?'}`;
    const k = out.get(key) ?? { count: 0, bytes: 0 };
    k.count++;
    k.bytes += raw.nodes[i + iSize] ?? 0;
    out.set(key, k);
  }
  return out;
}

/** Every kind in either snapshot, the ones whose count grew most first. */
export function compareSnapshots(a: string, b: string): KindDelta[] {
  const ca = countByConstructor(a);
  const cb = countByConstructor(b);
  const names = new Set([...ca.keys(), ...cb.keys()]);
  return [...names].map((name) => ({
    name, countA: ca.get(name)?.count ?? 0, countB: cb.get(name)?.count ?? 0, bytesA: ca.get(name)?.bytes ?? 0, bytesB: cb.get(name)?.bytes ?? 0,
  })).sort((x, y) => (y.countB - y.countA) - (x.countB - x.countA) || (y.bytesB - y.bytesA) - (x.bytesB - x.bytesA));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [a, b, n] = process.argv.slice(2);
  if (!a || !b) {
    process.stderr.write('usage: heapdiff A.heapsnapshot B.heapsnapshot [N]\n');
    process.exit(2);
  }
  for (const r of compareSnapshots(readFileSync(a, 'utf8'), readFileSync(b, 'utf8')).slice(0, Number(n ?? 25))) {
    process.stdout.write(`${r.name.padEnd(50)} ${String(r.countA).padStart(8)} -> ${String(r.countB).padStart(8)}  (${r.countB - r.countA >= 0 ? '+' : ''}${r.countB - r.countA})  `
      + `${(r.bytesA / 1024).toFixed(0)} -> ${(r.bytesB / 1024).toFixed(0)} KB\n`);
  }
}
