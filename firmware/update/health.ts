import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * The health check of a firmware that just started: it booted and loaded its
 * config (it wrote run.json with its own pid, which startAppliance does last),
 * SIP answers on UDP (any response to an OPTIONS), and the admin page answers
 * over HTTPS with the box's own CA. All of it before the deadline.
 */

interface RunJson { pid: number; bind: string; ports: { sipUdp: number; web: number }; caPath: string }

function readRun(dataDir: string): RunJson | null {
  try {
    return JSON.parse(readFileSync(join(dataDir, 'run.json'), 'utf8')) as RunJson;
  } catch {
    return null;
  }
}

const host = (bind: string): string => (bind === '0.0.0.0' || bind === '::' ? '127.0.0.1' : bind);

export function sipAnswers(address: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket(address.includes(':') ? 'udp6' : 'udp4');
    const id = randomBytes(8).toString('hex');
    const done = (ok: boolean): void => { clearTimeout(timer); s.close(); resolve(ok); };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.on('error', () => done(false));
    s.on('message', (m) => done(m.subarray(0, 8).toString('latin1') === 'SIP/2.0 '));
    s.bind(0, () => {
      const lp = s.address().port;
      const msg = [
        `OPTIONS sip:${address}:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${lp};branch=z9hG4bK-health-${id}`,
        'Max-Forwards: 70',
        `From: <sip:health@127.0.0.1>;tag=${id}`,
        `To: <sip:${address}>`,
        `Call-ID: health-${id}`,
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
        '', '',
      ].join('\r\n');
      s.send(msg, port, address);
    });
  });
}

export function webAnswers(address: string, port: number, ca: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: address, port, path: '/', method: 'GET', ca, timeout: timeoutMs, servername: undefined, checkServerIdentity: () => undefined }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 500) < 500);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

export type HealthResult = { ok: true; ms: number } | { ok: false; reason: string };

/** Poll until the firmware with this pid is healthy, or the deadline passes, or `gone` says it exited. */
export async function checkHealth(opts: { dataDir: string; pid: number; timeoutMs: number; gone: () => boolean }): Promise<HealthResult> {
  const start = Date.now();
  let stage = 'it did not write run.json (boot and config load)';
  while (Date.now() - start < opts.timeoutMs) {
    if (opts.gone()) return { ok: false, reason: `it exited before it was healthy (${stage})` };
    const run = readRun(opts.dataDir);
    if (run && run.pid === opts.pid) {
      stage = 'SIP did not answer on UDP';
      if (await sipAnswers(host(run.bind), run.ports.sipUdp, 1000)) {
        stage = 'the admin page did not answer over HTTPS';
        let ca = '';
        try { ca = readFileSync(run.caPath, 'utf8'); } catch { /* then the TLS check fails and says so */ }
        if (await webAnswers(host(run.bind), run.ports.web, ca, 2000)) return { ok: true, ms: Date.now() - start };
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ok: false, reason: `no health within ${opts.timeoutMs} ms: ${stage}` };
}
