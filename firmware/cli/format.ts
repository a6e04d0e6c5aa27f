/** Human-readable `pbx status`. The JSON form (--json) carries the same data. */

interface Reg { extension: string; contact: string; transport: string; source: { address: string; port: number }; expiresAt: number; userAgent?: string; reachable?: boolean }
interface Blocked { address: string; until: number; failures: number }
interface LegLine { party: string; transport: string; protection: string; suite?: string; keys?: string; held?: boolean; music?: boolean }
interface CallLine { id?: string; caller: string; callee: string; state: string; mode: string; recordingPossible: boolean; legs: { a: LegLine; b?: LegLine }; notes?: string[]; parked?: string }

/** One named media policy as `policy.list` returns it. */
export interface PolicyLine { readonly name: string; readonly callerStream: string; readonly calleeStream: string; readonly accounts?: number }

export function formatPolicies(list: readonly PolicyLine[]): string {
  return list.map((p) => `${p.name}\tcaller=${p.callerStream}\tcallee=${p.calleeStream}${p.accounts !== undefined ? `\taccounts=${p.accounts}` : ''}\n`).join('');
}

/** How a leg's media is protected, e.g. `SDES AES_CM_128_HMAC_SHA1_80 (box keys)` or `RTP`. Never a key. */
export function formatLegProtection(l: LegLine): string {
  if (l.protection === 'rtp') return 'RTP';
  return `${l.protection.toUpperCase()}${l.suite ? ` ${l.suite}` : ''}${l.keys ? ` (${l.keys === 'box' ? 'box keys' : 'end to end'})` : ''}`;
}

export function formatStatus(raw: unknown): string {
  const s = raw as {
    running: boolean; accounts: number; configHealth: { ok: boolean; problem?: string };
    ports?: Record<string, number>; registrations?: Reg[]; blocked?: Blocked[]; leds?: Record<string, { mode: string }>;
    calls?: CallLine[];
  };
  const now = Date.now();
  const lines: string[] = [];
  lines.push(`appliance: ${s.running ? 'running' : 'not running'}`);
  if (s.ports) lines.push(`ports: ${Object.entries(s.ports).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  lines.push(`config: ${s.configHealth.ok ? 'ok' : `PROBLEM: ${s.configHealth.problem ?? ''}`}`);
  lines.push(`accounts: ${s.accounts}`);
  const regs = s.registrations ?? [];
  lines.push(`registrations: ${regs.length}${s.running ? '' : ' (saved; restored when the appliance starts)'}`);
  for (const r of regs) {
    const left = Math.max(0, Math.round((r.expiresAt - now) / 1000));
    lines.push(`  ${r.extension}\t${r.transport.toUpperCase()}\t${r.source.address}:${r.source.port}\t${r.contact}\texpires in ${left}s${r.reachable === false ? '\tUNREACHABLE (connection gone)' : ''}${r.userAgent ? `\t${r.userAgent}` : ''}`);
  }
  if (s.blocked) {
    lines.push(`blocked sources: ${s.blocked.length}`);
    for (const b of s.blocked) lines.push(`  ${b.address}\t${b.failures} failures\tuntil ${new Date(b.until).toISOString()}`);
  }
  if (s.calls) {
    lines.push(`calls: ${s.calls.length}`);
    for (const c of s.calls) {
      const legs = [`a ${c.legs.a.party}/${c.legs.a.transport.toUpperCase()} ${formatLegProtection(c.legs.a)}`];
      if (c.legs.b) legs.push(`b ${c.legs.b.party}/${c.legs.b.transport.toUpperCase()} ${formatLegProtection(c.legs.b)}`);
      lines.push(`  ${c.caller} -> ${c.callee}\t${c.state}\t${c.mode === 'bridge' ? 'bridged (box decrypts)' : 'relayed'}\t${legs.join('; ')}${c.id ? `\tid ${c.id}` : ''}`);
      const held = [c.legs.a, c.legs.b].filter((l) => l?.held).map((l) => `held by ${l!.party}`);
      if (c.parked) held.push(`parked at ${c.parked}`);
      for (const x of [...held, ...(c.notes ?? [])]) lines.push(`    ${x}`);
    }
  }
  if (s.leds) lines.push(`leds: ${Object.entries(s.leds).map(([k, v]) => `${k}=${v.mode}`).join(' ')}`);
  return `${lines.join('\n')}\n`;
}
