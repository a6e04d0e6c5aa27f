/**
 * The media bench's box (a child process of media.ts): the real appliance
 * (startAppliance, the same composition `pbx run` boots, SIP on UDP and all),
 * whose media engine the bench drives through its seam (`media.request`),
 * the messages the B2BUA sends for a bridged SDES call: create, add-leg x2
 * with 'srtp' security (the keys each phone offered and the box answered),
 * connect both ways. So the packets cross exactly the path of a call's
 * media, and SIP answers come from the same process while they do.
 *
 * Why not place the calls over SIP: SDES keys travel only over TLS
 * (RFC 4568 8.3, and the box refuses a=crypto on UDP), so N calls would need
 * 2N TLS dialogs and a UA that pulls every key out of the box's SDP; the
 * engine requests would be the same ones. See scripts/bench/README.md.
 *
 * IPC ('advanced'): {op:'setup', calls} -> {op:'setup-done', ports};
 * {op:'teardown'} -> {op:'teardown-done', counters}; {op:'exit'}.
 * On start: {op:'ready', pid, sipUdp}.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../firmware/core/index.js';
import { startAppliance } from '../../firmware/main.js';
import type { SrtpSessionOptions } from '../../firmware/media/srtp/index.js';

export interface BoxLeg {
  /** Where the phone's socket is (the generator's port on 127.0.0.1). */
  readonly phonePort: number;
  /** The phone's key (the box decrypts with it) and the box's (the phone decrypts with it). */
  readonly rx: SrtpSessionOptions;
  readonly tx: SrtpSessionOptions;
}
export interface BoxCall { readonly a: BoxLeg; readonly b: BoxLeg }

export type BoxCommand =
  | { readonly op: 'setup'; readonly calls: readonly BoxCall[] }
  | { readonly op: 'teardown' }
  | { readonly op: 'exit' };

const [dataDir, rtpMin, rtpMax] = process.argv.slice(2);
if (!dataDir || !rtpMin || !rtpMax) throw new Error('usage: media-box DATA RTP_MIN RTP_MAX');

const box = await startAppliance({
  dataDir, bind: '127.0.0.1', sipPort: 0, tlsPort: 0, tcpPort: 0, webPort: 0, httpPort: 0,
  rtpPorts: { min: Number(rtpMin), max: Number(rtpMax) }, log: silentLogger, print: () => {}, nightlyBackup: false,
});
const info = JSON.parse(readFileSync(join(dataDir, 'run.json'), 'utf8')) as { ports: { sipUdp: number } };
const media = box.media;
let sessions: string[] = [];

const remote = (port: number) => ({
  rtp: { address: '127.0.0.1', port }, rtcp: { address: '127.0.0.1', port: port + 1 }, rtcpMux: true, direction: 'sendrecv' as const,
});

async function setup(calls: readonly BoxCall[]): Promise<{ a: number; b: number }[]> {
  const out: { a: number; b: number }[] = [];
  for (let i = 0; i < calls.length; i++) {
    const c = calls[i]!;
    const sessionId = `bench-${sessions.length}`;
    sessions.push(sessionId);
    await media.request({ op: 'create', sessionId });
    const ports: number[] = [];
    for (const [leg, l] of [['a', c.a], ['b', c.b]] as const) {
      const r = await media.request({
        op: 'add-leg', sessionId, leg, rtcpMux: true, remote: remote(l.phonePort), security: { kind: 'srtp', rx: l.rx, tx: l.tx },
      });
      if (r.op !== 'add-leg') throw new Error('add-leg gave no ports');
      ports.push(r.local.rtpPort);
    }
    await media.request({ op: 'connect', sessionId, from: 'a', to: 'b' });
    await media.request({ op: 'connect', sessionId, from: 'b', to: 'a' });
    out.push({ a: ports[0]!, b: ports[1]! });
  }
  return out;
}

async function teardown(): Promise<Record<string, number>> {
  const r = await media.request({ op: 'stats' });
  for (const sessionId of sessions) await media.request({ op: 'delete', sessionId });
  sessions = [];
  return r.op === 'stats' ? { ...r.counters } : {};
}

process.on('message', (cmd: BoxCommand) => {
  const fail = (e: unknown): void => { process.send?.({ op: 'error', message: e instanceof Error ? e.message : String(e) }); };
  if (cmd.op === 'setup') setup(cmd.calls).then((ports) => process.send?.({ op: 'setup-done', ports }), fail);
  else if (cmd.op === 'teardown') teardown().then((counters) => process.send?.({ op: 'teardown-done', counters }), fail);
  else if (cmd.op === 'exit') void box.stop().finally(() => process.exit(0));
});
process.send?.({ op: 'ready', pid: process.pid, sipUdp: info.ports.sipUdp });
