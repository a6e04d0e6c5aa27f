#!/usr/bin/env node
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CONFIG_FILE, ConfigStore, tryLockConfig } from '../config/index.js';
import { controlSocketPath, callControl, executeCommand, isAlive, readFileLimited, type ControlRequest } from '../control/index.js';
import { PbxError, createLogger, isPbxError } from '../core/index.js';
import { formatPolicies, formatStatus, type PolicyLine } from './format.js';
import { BLOCK_NEEDS_RUNNING, BLOCK_READ_ONLY, BLOCK_USAGE, BlockUsageError, blockCommand } from './block.js';
import { BACKUP_USAGE, BackupUsageError, backupCommand } from './backup.js';
import { TRUNK_USAGE, TrunkUsageError, trunkCommand } from './trunk.js';
import {
  RECORDING_NEEDS_RUNNING, RECORDING_READ_ONLY, RECORDING_USAGE, RecordingUsageError, recordingCommand, roomCommand,
} from './recording.js';
import { VOICEMAIL_READ_ONLY, VOICEMAIL_USAGE, VoicemailUsageError, voicemailCli } from './voicemail.js';
import { PHONE_USAGE, PhoneUsageError, deviceCertCli, phoneCli } from './phone.js';
import { PHONE_NEEDS_RUNNING, PHONE_READ_ONLY } from '../control/index.js';
import {
  ACCOUNT_FEATURE_OPTIONS, ACCOUNT_FEATURE_USAGE, FeatureUsageError, GROUP_READ_ONLY, GROUP_USAGE, accountFeatureArgs, describeAccountFeatures, groupCommand,
} from './features.js';
import { UPDATE_USAGE, UpdateUsageError, bootCommand, isUpdateError, updateCommand } from '../update/index.js';

/**
 * The `pbx` command. Every command takes --data DIR (default ./var). Commands
 * that change the config go to the running appliance over its control socket
 * when one runs, so the change applies at once; otherwise they edit the
 * config file directly through the same store.
 */

const USAGE = `usage:
  pbx run [--data DIR] [--bind ADDR] [--sip-port N] [--tls-port N] [--web-port N] [--http-port N] [--rtp-ports A-B]
          [--board sim|gpio|auto]      auto (default): the GPIO board on a known Raspberry Pi, else sim
          [--console DEVICE]           a serial console there (115200 8N1): admin password, then pbx commands
          [--update-keys DIR]          vendor keys for updates from the page (/etc/securepbx/update-keys)
          [--udp-source-rate N]        SIP datagrams a second one address may send (0: no limit; benches)
  pbx account add EXT --password P [--name NAME] [--policy NAME] [--tls-only] [--contact URI]
                      [--media rtp,sdes,dtls,zrtp] [--require sdes]
  pbx account import FILE.csv
  pbx zrtp list [--json] | pbx zrtp forget ZID
  pbx account set EXT [--policy NAME] [--name NAME] [--tls-only | --no-tls-only] [--media LIST] [--require LIST]
                      [--record always|on-demand|never]
                      [--tls-mode encrypt|server|mutual]
${ACCOUNT_FEATURE_USAGE}
  pbx account list [--json]
  pbx account remove EXT
  pbx policy list [--json]
  pbx policy add NAME [--caller forced_relay|relay_or_decrypt|decrypt] [--callee as_caller|decrypted|sdes|dtls|zrtp]
                     [--record always|on-demand|never]
  pbx policy set NAME [--caller MODE] [--callee MODE] [--record MODE]
  pbx policy remove NAME
${GROUP_USAGE}
  pbx moh set FILE.wav               music on hold: any PCM or G.711 WAV, converted once to 8 kHz
  pbx moh reset                      back to the box's built-in tune
  pbx status [--json]
  pbx call hangup ID                 end a call in progress (BYE or CANCEL to each phone; pbx status lists the ids)
  pbx cert ca | info [--json] | renew
${BLOCK_USAGE}
${TRUNK_USAGE}
${RECORDING_USAGE}
${VOICEMAIL_USAGE}
${UPDATE_USAGE}
${PHONE_USAGE}
${BACKUP_USAGE}`;

class UsageError extends Error {}

interface CertSummary { subjectCn: string; serial: string; notAfter: string; sha256: string; sans: Array<{ type: string; value: string }> }
interface CertReply { ca?: CertSummary; server: CertSummary; custom?: boolean }

function parse(argv: string[], options: ParseArgsConfig['options'], positionals: number): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  let r;
  try {
    r = parseArgs({ args: argv, options: { data: { type: 'string' }, ...options }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message.split('\n')[0] ?? 'bad arguments' : 'bad arguments');
  }
  if (r.positionals.length !== positionals) {
    throw new UsageError(r.positionals.length > positionals ? `unexpected argument: ${r.positionals[positionals]}` : 'missing argument');
  }
  return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
}

function port(name: string, v: string | boolean | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d{1,5}$/.test(v) || Number(v) > 65535) throw new UsageError(`--${name} must be a port number 0-65535`);
  return Number(v);
}

function udpSourceRate(v: string | boolean): number {
  if (typeof v !== 'string' || !/^\d{1,7}$/.test(v)) throw new UsageError('--udp-source-rate must be a whole number of datagrams a second (0: no limit)');
  return Number(v);
}

function rtpRange(v: string | boolean | undefined): { min: number; max: number } | undefined {
  if (v === undefined) return undefined;
  const m = typeof v === 'string' ? /^(\d{1,5})-(\d{1,5})$/.exec(v) : null;
  const min = Number(m?.[1]);
  const max = Number(m?.[2]);
  if (!m || min < 1024 || max > 65535 || min >= max) throw new UsageError('--rtp-ports must be A-B with 1024 <= A < B <= 65535');
  return { min, max };
}

/** Commands that only look: offline they read the config without repairing or writing anything. */
const READ_ONLY = new Set<string>(['account.list', 'status', 'cert.ca', 'cert.info', 'policy.list', ...BLOCK_READ_ONLY, ...GROUP_READ_ONLY, 'trunk.list', 'route.list', 'did.list', ...RECORDING_READ_ONLY, ...PHONE_READ_ONLY, ...VOICEMAIL_READ_ONLY]);
/** Commands only a running appliance can carry out (offline they must not create a data folder). */
const NEEDS_RUNNING = new Set<string>(['cert.renew', ...BLOCK_NEEDS_RUNNING, 'zrtp.list', 'zrtp.forget', ...RECORDING_NEEDS_RUNNING, ...PHONE_NEEDS_RUNNING, 'call.hangup']);
/** How long a change waits for another writer (a CLI run, or an appliance starting up). */
const LOCK_WAIT_MS = 15_000;

/**
 * Run one command against the appliance in dataDir, running or not. A running
 * appliance holds the config lock and answers on its control socket; offline,
 * a change takes the lock for its one write, so parallel runs never lose one.
 */
async function command(dataDir: string, req: ControlRequest): Promise<unknown> {
  const sock = controlSocketPath(dataDir);
  const log = createLogger({ level: 'warn', destination: process.stderr });
  if (READ_ONLY.has(req.command)) {
    if (await isAlive(sock)) return callControl(sock, req);
    const store = await ConfigStore.open(dataDir, { log, readOnly: true });
    return executeCommand({ store, dataDir }, req);
  }
  if (NEEDS_RUNNING.has(req.command)) {
    if (await isAlive(sock)) return callControl(sock, req);
    throw new PbxError('invalid-state', `no appliance is running with ${dataDir}; it renews the certificate itself when it starts`);
  }
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    if (await isAlive(sock)) return callControl(sock, req);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const lock = tryLockConfig(dataDir, 'cli');
    if (lock.acquired) {
      try {
        const store = await ConfigStore.open(dataDir, { log });
        return await executeCommand({ store, dataDir }, req);
      } finally {
        lock.release();
      }
    }
    if (Date.now() > deadline) {
      const who = lock.holder ? `${lock.holder.owner} (pid ${lock.holder.pid})` : 'another process';
      throw new PbxError('conflict', `the config in ${dataDir} is locked by ${who}`);
    }
    await new Promise((r) => setTimeout(r, 30));
  }
}

async function main(argv: string[]): Promise<number> {
  const [cmd, sub, ...rest] = argv;
  switch (cmd) {
    case 'run': {
      const { values } = parse(argv.slice(1), {
        bind: { type: 'string' }, 'sip-port': { type: 'string' }, 'tls-port': { type: 'string' },
        'web-port': { type: 'string' }, 'http-port': { type: 'string' }, 'rtp-ports': { type: 'string' },
        board: { type: 'string' }, console: { type: 'string' },
        'update-keys': { type: 'string' },
        'udp-source-rate': { type: 'string' },
      }, 0);
      const boardChoice = values.board ?? 'auto';
      if (boardChoice !== 'sim' && boardChoice !== 'gpio' && boardChoice !== 'auto') throw new UsageError('--board must be sim, gpio or auto');
      const { runAppliance } = await import('../main.js');
      await runAppliance({
        dataDir: resolve(String(values.data ?? 'var')),
        ...(typeof values.bind === 'string' ? { bind: values.bind } : {}),
        sipPort: port('sip-port', values['sip-port']),
        tlsPort: port('tls-port', values['tls-port']),
        webPort: port('web-port', values['web-port']),
        httpPort: port('http-port', values['http-port']),
        rtpPorts: rtpRange(values['rtp-ports']),
        boardChoice,
        ...(typeof values.console === 'string' ? { console: { path: values.console } } : {}),
        ...(typeof values['update-keys'] === 'string' ? { firmware: { keysDir: resolve(values['update-keys']) } } : {}),
        ...(values['udp-source-rate'] === undefined ? {} : { udpSourceRate: udpSourceRate(values['udp-source-rate']) }),
      });
      return 0;
    }
    case 'account': {
      if (sub === 'add') {
        const { values, positionals } = parse(rest, {
          password: { type: 'string' }, name: { type: 'string' }, policy: { type: 'string' },
          'tls-only': { type: 'boolean' }, contact: { type: 'string' }, media: { type: 'string' }, require: { type: 'string' },
        }, 1);
        if (typeof values.password !== 'string') throw new UsageError('account add needs --password');
        const acct = await command(String(values.data ?? 'var'), {
          command: 'account.add',
          args: {
            extension: positionals[0], password: values.password, name: values.name, policy: values.policy,
            tlsOnly: values['tls-only'] === true, contact: values.contact, media: values.media, requireMedia: values.require,
          },
        }) as { extension: string };
        process.stdout.write(`added account ${acct.extension}\n`);
        return 0;
      }
      if (sub === 'import') {
        const { values, positionals } = parse(rest, {}, 1);
        // Bounded: `pbx account import /dev/zero` must not grow without end.
        const csv = readFileLimited(positionals[0] ?? '');
        const r = await command(String(values.data ?? 'var'), { command: 'account.import', args: { csv } }) as { imported: number };
        process.stdout.write(`imported ${r.imported} account${r.imported === 1 ? '' : 's'}\n`);
        return 0;
      }
      if (sub === 'list') {
        const { values } = parse(rest, { json: { type: 'boolean' } }, 0);
        const list = await command(String(values.data ?? 'var'), { command: 'account.list', args: {} }) as Array<{ extension: string; name: string; policy: string; tlsOnly: boolean }>;
        if (values.json) process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
        else if (list.length === 0) process.stdout.write('no accounts\n');
        else for (const a of list) process.stdout.write(`${a.extension}\t${a.name}\tpolicy=${a.policy}${a.tlsOnly ? '\ttls-only' : ''}\n`);
        return 0;
      }
      if (sub === 'remove') {
        const { values, positionals } = parse(rest, {}, 1);
        await command(String(values.data ?? 'var'), { command: 'account.remove', args: { extension: positionals[0] } });
        process.stdout.write(`removed account ${positionals[0]}\n`);
        return 0;
      }
      if (sub === 'set') {
        const { values, positionals } = parse(rest, {
          policy: { type: 'string' }, name: { type: 'string' }, 'tls-only': { type: 'boolean' }, 'no-tls-only': { type: 'boolean' },
          media: { type: 'string' }, require: { type: 'string' }, record: { type: 'string' }, 'tls-mode': { type: 'string' }, ...ACCOUNT_FEATURE_OPTIONS,
        }, 1);
        const features = accountFeatureArgs(values);
        if (typeof values['tls-mode'] === 'string') {
          const r = await command(String(values.data ?? 'var'), { command: 'account.tls-mode', args: { extension: positionals[0], tlsMode: values['tls-mode'] } }) as { extension: string; tlsMode: string };
          process.stdout.write(`account ${r.extension}: tls-mode=${r.tlsMode}\n`);
          if (values.policy === undefined && values.name === undefined && values['tls-only'] === undefined && values['no-tls-only'] === undefined
            && values.media === undefined && values.require === undefined && Object.keys(features).length === 0) return 0;
        }
        if (values['tls-only'] && values['no-tls-only']) throw new UsageError('--tls-only and --no-tls-only exclude each other');
        const tlsOnly = values['tls-only'] ? true : values['no-tls-only'] ? false : undefined;
        if (values.policy === undefined && values.name === undefined && tlsOnly === undefined && values.media === undefined && values.require === undefined && Object.keys(features).length === 0 && values.record === undefined) {
          throw new UsageError('account set needs something to change: --policy, --name, --[no-]tls-only, --media, --require, a forward, --[no-]dnd, --pickup-group, --[no-]call-waiting or --record');
        }
        const acct = await command(String(values.data ?? 'var'), {
          command: 'account.update',
          args: { extension: positionals[0], policy: values.policy, name: values.name, media: values.media, requireMedia: values.require, record: values.record, ...(tlsOnly !== undefined ? { tlsOnly } : {}), ...features },
        }) as Parameters<typeof describeAccountFeatures>[0] & { policy: string; record?: string };
        process.stdout.write(`account ${acct.extension}: policy=${acct.policy}; ${describeAccountFeatures(acct)}${acct.record ? ` record=${acct.record}` : ''}\n`);
        return 0;
      }
      throw new UsageError(sub ? `unknown account command: ${sub}` : 'account needs a command: add, set, import, list, remove');
    }
    case 'policy': {
      const modes = { caller: { type: 'string' }, callee: { type: 'string' }, record: { type: 'string' } } as const;
      if (sub === 'list') {
        const { values } = parse(rest, { json: { type: 'boolean' } }, 0);
        const list = await command(String(values.data ?? 'var'), { command: 'policy.list', args: {} }) as PolicyLine[];
        process.stdout.write(values.json ? `${JSON.stringify(list, null, 2)}\n` : formatPolicies(list));
        return 0;
      }
      if (sub === 'add' || sub === 'set') {
        const { values, positionals } = parse(rest, modes, 1);
        if (sub === 'set' && values.caller === undefined && values.callee === undefined && values.record === undefined) throw new UsageError('policy set needs --caller, --callee or --record');
        const p = await command(String(values.data ?? 'var'), {
          command: sub === 'add' ? 'policy.add' : 'policy.update',
          args: { name: positionals[0], callerStream: values.caller, calleeStream: values.callee, record: values.record },
        }) as PolicyLine;
        process.stdout.write(`${sub === 'add' ? 'added' : 'updated'} policy ${formatPolicies([p])}`);
        return 0;
      }
      if (sub === 'remove') {
        const { values, positionals } = parse(rest, {}, 1);
        await command(String(values.data ?? 'var'), { command: 'policy.remove', args: { name: positionals[0] } });
        process.stdout.write(`removed policy ${positionals[0]}\n`);
        return 0;
      }
      throw new UsageError(sub ? `unknown policy command: ${sub}` : 'policy needs a command: list, add, set, remove');
    }
    case 'backup':
    case 'restore':
      return backupCommand(cmd, argv.slice(1), { write: (text) => process.stdout.write(text) });
    case 'group':
      return groupCommand(argv.slice(1), { command, write: (text) => process.stdout.write(text) });
    case 'update':
      return updateCommand(argv.slice(1), (text) => process.stdout.write(text));
    case 'boot':
      return bootCommand(argv.slice(1));
    case 'block':
      return blockCommand(argv.slice(1), { command, write: (text) => process.stdout.write(text) });
    case 'zrtp': {
      // The phones the box keeps ZRTP retained secrets for (RFC 6189 4.6.1), and forgetting one.
      if (sub === 'list') {
        const { values } = parse(rest, { json: { type: 'boolean' } }, 0);
        const list = await command(String(values.data ?? 'var'), { command: 'zrtp.list', args: {} }) as Array<{ zid: string; verified: boolean; retainedSecret: boolean; enrolled: boolean }>;
        process.stdout.write(values.json ? `${JSON.stringify(list, null, 2)}\n`
          : list.length === 0 ? 'no ZRTP peers\n' : list.map((p) => `${p.zid}  ${p.verified ? 'verified' : 'unverified'}${p.retainedSecret ? '' : '  no-secret'}${p.enrolled ? '  enrolled' : ''}\n`).join(''));
        return 0;
      }
      if (sub === 'forget') {
        const { values, positionals } = parse(rest, {}, 1);
        await command(String(values.data ?? 'var'), { command: 'zrtp.forget', args: { zid: positionals[0] } });
        process.stdout.write(`forgot ZRTP peer ${positionals[0]}\n`);
        return 0;
      }
      throw new UsageError(sub ? `unknown zrtp command: ${sub}` : 'zrtp needs a command: list, forget');
    }
    case 'trunk':
    case 'route':
    case 'did':
    case 'alarm':
      return trunkCommand(cmd, argv.slice(1), { command, write: (text) => process.stdout.write(text), readFile: (p) => readFileLimited(p) });
    case 'call': {
      if (sub !== 'hangup') throw new UsageError(sub ? `unknown call command: ${sub}` : 'call needs a command: hangup');
      const { values, positionals } = parse(rest, {}, 1);
      const r = await command(String(values.data ?? 'var'), { command: 'call.hangup', args: { id: positionals[0] } }) as { ended: string; caller: string; callee: string; state: string };
      process.stdout.write(`ended call ${r.ended} (${r.caller} -> ${r.callee}, ${r.state === 'answered' ? 'answered: BYE to both phones' : 'not answered yet: cancelled'})\n`);
      return 0;
    }
    case 'recording':
      return recordingCommand(argv.slice(1), { command, write: (text) => process.stdout.write(text) });
    case 'voicemail':
    case 'attendant':
      return voicemailCli(cmd, argv.slice(1), { command, write: (text) => process.stdout.write(text) });
    case 'room':
      return roomCommand(argv.slice(1), { command, write: (text) => process.stdout.write(text) });
    case 'phone':
      return phoneCli(argv.slice(1), { command, write: (text) => process.stdout.write(text) });
    case 'moh': {
      if (sub === 'reset') {
        const { values } = parse(rest, {}, 0);
        const r = await command(String(values.data ?? 'var'), { command: 'moh.reset', args: {} }) as { removed: boolean };
        process.stdout.write(r.removed ? 'music on hold: the uploaded music was removed; the built-in tune plays from the next hold on\n'
          : 'music on hold: no upload was stored; the built-in tune plays\n');
        return 0;
      }
      if (sub !== 'set') throw new UsageError(sub ? `unknown moh command: ${sub}` : 'moh needs a command: set or reset');
      const { values, positionals } = parse(rest, {}, 1);
      const r = await command(String(values.data ?? 'var'), { command: 'moh.set', args: { path: resolve(positionals[0]!) } }) as {
        seconds: number; cut: boolean; source: { format: string; sampleRate: number; channels: number; bitsPerSample: number };
      };
      const s = r.source;
      process.stdout.write(`music on hold set: ${r.seconds.toFixed(1)} s${r.cut ? ' (cut to that length)' : ''}, from ${s.bitsPerSample}-bit ${s.format} at ${s.sampleRate} Hz, ${s.channels} channel${s.channels === 1 ? '' : 's'}\n`);
      return 0;
    }
    case 'status': {
      const { values } = parse(argv.slice(1), { json: { type: 'boolean' } }, 0);
      const dataDir = String(values.data ?? 'var');
      // A folder with no box in it is no healthy box: say so instead of "config: ok".
      if (!existsSync(join(dataDir, CONFIG_FILE)) && !(await isAlive(controlSocketPath(dataDir)))) {
        throw new PbxError('not-found', `there is no box in ${resolve(dataDir)} (no ${CONFIG_FILE}, none running); give its folder with --data DIR`);
      }
      const s = await command(dataDir, { command: 'status', args: {} });
      process.stdout.write(values.json ? `${JSON.stringify(s, null, 2)}\n` : formatStatus(s));
      return 0;
    }
    case 'cert': {
      const device = await deviceCertCli(sub, rest, { command, write: (text) => process.stdout.write(text) });
      if (device !== undefined) return device;
      if (sub === 'info' || sub === 'renew') {
        const { values } = parse(rest, { json: { type: 'boolean' } }, 0);
        const r = await command(String(values.data ?? 'var'), { command: `cert.${sub}`, args: {} }) as CertReply;
        const server = r.server;
        if (values.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        else {
          if (sub === 'renew') process.stdout.write('renewed the server certificate; SIP TLS and HTTPS use it now\n');
          if (r.ca) process.stdout.write(`CA:     ${r.ca.subjectCn}, expires ${r.ca.notAfter}, SHA-256 ${r.ca.sha256}\n`);
          process.stdout.write(`server: ${server.subjectCn} (serial ${server.serial}), expires ${server.notAfter}${r.custom ? ', uploaded' : ''}\n`);
          process.stdout.write(`        names: ${server.sans.map((n) => `${n.type.toUpperCase()}:${n.value}`).join(' ')}\n`);
        }
        return 0;
      }
      if (sub !== 'ca') throw new UsageError(sub ? `unknown cert command: ${sub}` : 'cert needs a command: ca, info, renew');
      const { values } = parse(rest, {}, 0);
      const dataDir = resolve(String(values.data ?? 'var'));
      const r = await command(dataDir, { command: 'cert.ca', args: {} }) as { path: string };
      process.stdout.write(`${r.path}\n`);
      // The path is where the CA will be, so scripts can rely on it; say so when it is not there yet.
      if (!existsSync(r.path)) process.stderr.write(`pbx: no CA certificate yet; the appliance creates ${r.path} when it first starts (pbx run --data ${dataDir})\n`);
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return cmd === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command: ${cmd}`);
  }
}

// A reader that went away (`pbx account list | head`) is no error: stop quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => {
    if (e instanceof UsageError || e instanceof BlockUsageError || e instanceof FeatureUsageError || e instanceof TrunkUsageError || e instanceof RecordingUsageError || e instanceof UpdateUsageError || e instanceof PhoneUsageError || e instanceof BackupUsageError || e instanceof VoicemailUsageError) {
      process.stderr.write(`pbx: ${e.message} (pbx help for usage)\n`);
      process.exitCode = 2;
    } else if (isPbxError(e) || isUpdateError(e)) {
      process.stderr.write(`pbx: ${e.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`pbx: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    }
  },
);
