/** Human-readable `pbx status`. The JSON form (--json) carries the same data. */

interface Reg { extension: string; contact: string; transport: string; source: { address: string; port: number }; expiresAt: number; userAgent?: string }
interface Blocked { address: string; until: number; failures: number }

export function formatStatus(raw: unknown): string {
  const s = raw as {
    running: boolean; accounts: number; configHealth: { ok: boolean; problem?: string };
    ports?: Record<string, number>; registrations?: Reg[]; blocked?: Blocked[]; leds?: Record<string, { mode: string }>;
    calls?: unknown[];
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
    lines.push(`  ${r.extension}\t${r.transport.toUpperCase()}\t${r.source.address}:${r.source.port}\t${r.contact}\texpires in ${left}s${r.userAgent ? `\t${r.userAgent}` : ''}`);
  }
  if (s.blocked) {
    lines.push(`blocked sources: ${s.blocked.length}`);
    for (const b of s.blocked) lines.push(`  ${b.address}\t${b.failures} failures\tuntil ${new Date(b.until).toISOString()}`);
  }
  if (s.calls) lines.push(`calls: ${s.calls.length}`);
  if (s.leds) lines.push(`leds: ${Object.entries(s.leds).map(([k, v]) => `${k}=${v.mode}`).join(' ')}`);
  return `${lines.join('\n')}\n`;
}
