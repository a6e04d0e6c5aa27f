import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startProc, type Proc } from './harness.js';

/** Start baresip with one account, as REAL-CLIENTS.md describes. */
export function startBaresip(dir: string, opts: {
  sipPort: number; ctrlPort?: number; account: string; timeoutSec: number; extraConfig?: string[];
  /** baresip reads the first line of a key only, so this replaces the default source. */
  audioSource?: string;
  /** Modules the account line needs (srtp.so for mediaenc): loaded before account.so reads it. */
  preAccountModules?: readonly string[];
}): Proc {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config'), [
    `sip_listen 127.0.0.1:${opts.sipPort}`,
    'net_interface 127.0.0.1',
    'dns_server 127.0.0.1:53',
    'audio_player alsa,null',
    `audio_source ${opts.audioSource ?? 'ausine,1000'}`,
    'module_path /usr/lib/baresip/modules',
    'module g711.so',
    'module ausine.so',
    ...(opts.preAccountModules ?? []).map((m) => `module ${m}`),
    'module account.so',
    ...(opts.ctrlPort ? ['module ctrl_tcp.so', `ctrl_tcp_listen 127.0.0.1:${opts.ctrlPort}`] : []),
    ...(opts.extraConfig ?? []),
    '',
  ].join('\n'));
  writeFileSync(join(dir, 'accounts'), `${opts.account}\n`);
  return startProc('baresip', ['-f', dir, '-s'], { cwd: dir, timeoutSec: opts.timeoutSec, log: join(dir, 'baresip.log') });
}

/** Start linphonec with one TLS account; commands go in through stdin. */
export function startLinphonec(dir: string, opts: {
  tlsPort: number; boxTlsPort: number; user: string; password: string; realm: string; rootCa: string; timeoutSec: number;
  /** More `key=value` lines for the [sip] section (media_encryption, keep_srtp_keys, ...). */
  sipExtra?: readonly string[];
  /** Further sections, written after the account's (`[rtp]`, codec sections, ...). */
  extraRc?: readonly string[];
  /** More lines for [auth_info_0] (client_cert_chain / client_cert_key for mutual TLS). */
  authExtra?: readonly string[];
}): Proc {
  mkdirSync(join(dir, '.local/share/linphone'), { recursive: true });
  writeFileSync(join(dir, 'rc'), [
    '[sip]',
    'sip_port=-1',
    'sip_tcp_port=-1',
    `sip_tls_port=${opts.tlsPort}`,
    'bind_address=127.0.0.1',
    'verify_server_certs=1',
    'verify_server_cn=1',
    `root_ca=${opts.rootCa}`,
    'default_proxy=0',
    // Inside the test's network namespace only lo is up: linphone would call
    // the network "down" and never register unless told not to watch it.
    'register_only_when_network_is_up=0',
    'auto_net_state_mon=0',
    ...(opts.sipExtra ?? []),
    '',
    '[proxy_0]',
    `reg_proxy=<sip:127.0.0.1:${opts.boxTlsPort};transport=tls>`,
    `reg_identity=sip:${opts.user}@127.0.0.1`,
    'reg_expires=600',
    'reg_sendregister=1',
    '',
    '[auth_info_0]',
    `username=${opts.user}`,
    `passwd=${opts.password}`,
    `realm=${opts.realm}`,
    ...(opts.authExtra ?? []),
    '',
    ...(opts.extraRc ?? []),
    '',
  ].join('\n'));
  return startProc('linphonec', ['-c', join(dir, 'rc'), '-d', '6', '-l', join(dir, 'debug.log')], {
    cwd: dir, env: { ...process.env, HOME: dir }, timeoutSec: opts.timeoutSec, log: join(dir, 'linphonec.log'), stdin: 'pipe',
  });
}
