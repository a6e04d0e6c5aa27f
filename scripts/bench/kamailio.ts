/**
 * The reference the SIP benches compare the box with, in the same run:
 * Kamailio (Debian's package) as a registrar with digest auth over UDP, or
 * as a stateful proxy that has rtpengine (Debian's rtpengine-daemon, in
 * userspace: `--table=-1`, no kernel module) rewrite the SDP through its ng
 * protocol. Both are installed by scripts/bench/install.sh. The configs are
 * written here; the subscriber table is a db_text file.
 *
 * CPU of a reference is that of every process it runs: Kamailio's main
 * process and the workers it forks (its children, read from /proc), plus
 * rtpengine's one process (all its threads).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIND, BenchError, cpuTicks, memMb, sleep } from './lib.js';
import { type Bounded, spawnBounded, stop } from './calls.js';
import type { BenchAccount } from './sipp.js';

export const KAMAILIO = '/usr/sbin/kamailio';
export const RTPENGINE = '/usr/bin/rtpengine';
const MODULES = '/usr/lib/x86_64-linux-gnu/kamailio/modules';
/** Kamailio's UDP worker processes: one per core of the bench machine, plus one spare. */
const KAMAILIO_CHILDREN = 3;
const START_TIMEOUT_MS = 15_000;
/** Table versions auth_db and usrloc check at start (Kamailio 5.6 schema). */
const TABLE_VERSIONS = { subscriber: 7, location: 9 };

export function haveKamailio(): boolean {
  return existsSync(KAMAILIO) && existsSync(join(MODULES, 'db_text.so'));
}

export function haveRtpengine(): boolean {
  return existsSync(RTPENGINE);
}

/** The db_text folder with `version` and `subscriber` for these accounts in `domain`. */
export function writeSubscribers(dir: string, accounts: readonly BenchAccount[], domain = BIND): string {
  const db = join(dir, 'db');
  mkdirSync(db, { recursive: true });
  writeFileSync(join(db, 'version'), `id(int,auto) table_name(string) table_version(int) \n${
    Object.entries(TABLE_VERSIONS).map(([t, v], i) => `${i + 1}:${t}:${v}`).join('\n')}\n`);
  // Only the columns auth_db reads with calculate_ha1 (db_text refuses empty values in declared columns).
  writeFileSync(join(db, 'subscriber'), `id(int,auto) username(string) domain(string) password(string) \n${
    accounts.map((a, i) => `${i + 1}:${a.extension}:${domain}:${a.password}`).join('\n')}\n`, { mode: 0o600 });
  return db;
}

const header = (port: number, modules: readonly string[]): string => `#!KAMAILIO
# Written by the bench (scripts/bench/kamailio.ts); not a product config.
debug=1
log_stderror=yes
fork=yes
children=${KAMAILIO_CHILDREN}
auto_aliases=no
disable_tcp=yes
listen=udp:${BIND}:${port}
mpath="${MODULES}/"
${modules.map((m) => `loadmodule "${m}.so"`).join('\n')}
`;

/**
 * Registrar with digest auth (qop=auth), stateful for what it keeps: the
 * challenge is sent statelessly (as the box does since issue 20), an
 * authenticated REGISTER gets a transaction and its 200 from save().
 * Bindings in memory only (usrloc db_mode 0), like the box's location service.
 */
export function registrarConfig(port: number, db: string): string {
  return `${header(port, ['tm', 'sl', 'pv', 'maxfwd', 'textops', 'siputils', 'usrloc', 'registrar', 'db_text', 'auth', 'auth_db'])}
modparam("usrloc", "db_mode", 0)
modparam("auth_db", "db_url", "text://${db}")
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")

request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (!is_method("REGISTER")) { sl_send_reply("405", "Method Not Allowed"); exit; }
  if (!auth_check("$fd", "subscriber", "1")) { auth_challenge("$fd", "1"); exit; }
  if (!t_newtran()) { sl_reply_error(); exit; }
  consume_credentials();
  if (!save("location")) { sl_reply_error(); }
  exit;
}
`;
}

/**
 * Stateful proxy for the call bench: INVITEs are challenged with a 401
 * (www_*, so sipp's UAC scenario sees the same exchange as with the box),
 * then record-routed and relayed to the callee's sipp UAS with rtpengine
 * offer on the INVITE, answer on the 200's SDP and delete on the BYE (or a
 * failed INVITE).
 */
export function proxyConfig(port: number, db: string, ngPort: number, calleePort: number): string {
  return `${header(port, ['tm', 'sl', 'rr', 'pv', 'maxfwd', 'textops', 'siputils', 'db_text', 'auth', 'auth_db', 'rtpengine'])}
modparam("auth_db", "db_url", "text://${db}")
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")
modparam("rtpengine", "rtpengine_sock", "udp:${BIND}:${ngPort}")

request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (has_totag()) {
    if (loose_route()) {
      if (is_method("BYE")) { rtpengine_delete(); }
      t_relay();
      exit;
    }
    # sipp's in-dialog requests carry no Route (the box needs none); they go to the UAS's Contact in the R-URI.
    if (is_method("BYE")) { rtpengine_delete(); }
    t_relay();
    exit;
  }
  if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
  if (is_method("ACK")) { exit; }
  t_check_trans();
  if (!is_method("INVITE")) { sl_send_reply("405", "Method Not Allowed"); exit; }
  if (!www_authorize("$fd", "subscriber")) { www_challenge("$fd", "1"); exit; }
  consume_credentials();
  record_route();
  rtpengine_offer("replace-origin replace-session-connection");
  t_on_reply("MEDIA_ANSWER");
  t_on_failure("MEDIA_DROP");
  $du = "sip:${BIND}:${calleePort}";
  if (!t_relay()) { rtpengine_delete(); sl_reply_error(); }
  exit;
}

onreply_route[MEDIA_ANSWER] {
  if (has_body("application/sdp")) { rtpengine_answer("replace-origin replace-session-connection"); }
}

failure_route[MEDIA_DROP] {
  rtpengine_delete();
}
`;
}

/** A running reference: its processes' CPU ticks and RSS, and how to stop it. */
export interface Reference {
  readonly name: string;
  /** utime+stime of every process of the reference, clock ticks. */
  cpuTicks(): number;
  rssMb(): number;
  stop(): Promise<void>;
}

/** Direct children of a process (Kamailio's forked workers). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((s) => s.length > 0).map(Number);
  } catch {
    return [];
  }
}

/** Every process under `pid`, itself included. */
function tree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...childrenOf(out[i] ?? 0));
  return out;
}

/** `ss -lun` lists a UDP socket bound to this port. */
function udpListening(port: number): boolean {
  const r = spawnSync('ss', ['-Hlun', `sport = :${port}`], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim().length > 0;
}

async function waitListening(b: Bounded, port: number, what: string, log: string): Promise<number> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (b.proc.exitCode !== null) break;
    const pid = b.pid();
    if (pid !== undefined && udpListening(port)) return pid;
    await sleep(100);
  }
  let why = '';
  try { why = readFileSync(log, 'utf8').trim().split('\n').slice(-15).join('\n'); } catch { /* none */ }
  await stop(b);
  throw new BenchError(`${what} did not listen on udp ${port} within ${START_TIMEOUT_MS} ms:\n${why}`);
}

/** Start Kamailio in the foreground (-DD: its main process stays the one `timeout` runs) with `cfg`. */
export async function startKamailio(dir: string, cfg: string, port: number, limitS: number): Promise<Reference & { pid: number }> {
  const cfgPath = join(dir, 'kamailio.cfg');
  writeFileSync(cfgPath, cfg);
  const check = spawnSync(KAMAILIO, ['-c', '-f', cfgPath], { encoding: 'utf8' });
  if (check.status !== 0) throw new BenchError(`kamailio -c rejected ${cfgPath}:\n${check.stderr.trim().split('\n').slice(-10).join('\n')}`);
  const log = join(dir, 'kamailio.log');
  // -m: shared memory (MB) for 1,000 bindings and their transactions; -M: per-process memory.
  const b = spawnBounded(KAMAILIO, ['-DD', '-E', '-f', cfgPath, '-m', '256', '-M', '16', '-P', join(dir, 'kamailio.pid')], limitS, dir, log);
  const pid = await waitListening(b, port, 'kamailio', log);
  return {
    name: 'kamailio', pid,
    cpuTicks: () => tree(pid).reduce((n, p) => n + cpuTicks(p), 0),
    rssMb: () => tree(pid).reduce((n, p) => n + memMb(p, 'VmRSS'), 0),
    stop: () => stop(b),
  };
}

/** Start rtpengine in userspace only (--table=-1: no kernel forwarding) with its ng control port. */
export async function startRtpengine(dir: string, ngPort: number, ports: { min: number; max: number }, limitS: number): Promise<Reference & { pid: number }> {
  const log = join(dir, 'rtpengine.log');
  const b = spawnBounded(RTPENGINE, [
    '--foreground', '--log-stderr', '--log-level=4', '--table=-1', `--interface=${BIND}`, `--listen-ng=${BIND}:${ngPort}`,
    `--port-min=${ports.min}`, `--port-max=${ports.max}`, '--num-threads=2', '--delete-delay=0', `--pidfile=${join(dir, 'rtpengine.pid')}`,
  ], limitS, dir, log);
  const pid = await waitListening(b, ngPort, 'rtpengine', log);
  return { name: 'rtpengine', pid, cpuTicks: () => cpuTicks(pid), rssMb: () => memMb(pid, 'VmRSS'), stop: () => stop(b) };
}

/** Several references measured as one (Kamailio plus rtpengine). */
export function combined(parts: readonly Reference[]): Reference {
  return {
    name: parts.map((p) => p.name).join('+'),
    cpuTicks: () => parts.reduce((n, p) => n + p.cpuTicks(), 0),
    rssMb: () => parts.reduce((n, p) => n + p.rssMb(), 0),
    stop: async () => { for (const p of parts) await p.stop(); },
  };
}
