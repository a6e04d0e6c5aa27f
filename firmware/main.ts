import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapSpaceStatistics } from 'node:v8';
import type { LiveStatus } from './api/index.js';
import type { Board } from '../board/index.js';
import { ResetController, SerialConsole, keepDataAside, pickBoard, sdNotify, type BoardChoice, type LoginCheck } from '../board/index.js';
import { fileURLToPath } from 'node:url';
// The admin web servers and provisioning load after SIP answers (startAppliance imports them then).
import type { AdminServer } from './admin/index.js';
import { digestHa1 } from './config/index.js';
import { ConfigStore, setAccountFeatures, tryLockConfig, verifyPassword, type ReadonlyConfig } from './config/index.js';
import { ControlServer, controlSocketPath, executeCommand } from './control/index.js';
import {
  Counters, PbxError, cryptoRandom, createLogger, systemClock, writeFileAtomicSync, LogBuffer, bufferedLogger,
  type Clock, type Logger, type Random, type TimerHandle,
} from './core/index.js';
import { Trunks, systemResolver } from './pbx/index.js';
import { Recording, Rooms, type RecordMode } from './pbx/index.js';
import { RecordingStore } from './recording/index.js';
import { Housekeeping, MailboxStore } from './recording/index.js';
import { MessageWaiting, Voicemail } from './pbx/index.js';
import { VOICEMAIL_DIR, attendantGreetingPath } from './control/index.js';
import { checkPin, voicemailOn } from './config/index.js';
import { RECORDINGS_DIR } from './control/index.js';
import { B2bua, HoldMusicSource, LocationService, isReachable, PbxCore, Registrar, fileBindingPersistence, fileCallRecords, type AccountInfo } from './pbx/index.js';
import { MediaEngine } from './media/index.js';
import { defaultHoldMusic } from './media/index.js';
import { FileZrtpCache, ZrtpBox } from './keying/index.js';
import { DtlsBox } from './keying/index.js';
import { loadOrCreateDtlsCertificate } from './dtls-identity.js';
import { CertRenewer, DeviceCerts, loadOrCreatePki, vendorCas, type Pki, type TlsMaterial } from './pki/index.js';
import type { PnpResponder } from './provisioning/index.js';
import { PROVISION_REALM, RecordingSchema } from './config/index.js';
import { AuthThrottle, DigestServer, GuessGuard, authBlocks } from './sip/digest/index.js';
import { guessWindowsOf } from './sip/digest/index.js';
import { isSelfHost, type SelfAddresses } from './sip/transport/index.js';
import { TransactionLayer, type Target } from './sip/transaction/index.js';
import { FileTicketKeys, SipTransports, raiseOpenFileLimit } from './sip/transport/index.js';
import { CallQuality, StatusLeds, secureCallCount, streamsOf } from './status/index.js';
import { BackupService, NightlyBackup, RESTORE_COMMAND, restoreOverControl } from './backup/index.js';
import { DEFAULT_KEYS_DIR, loadTrustedKeys, slotsRootOf } from './update/index.js';

/**
 * The composition root: load the config, pick the board, make sure the PKI
 * exists, and start SIP, the admin servers and the control socket.
 */

export interface ApplianceOptions {
  readonly dataDir: string;
  readonly bind?: string;
  readonly sipPort?: number | undefined;
  readonly tlsPort?: number | undefined;
  readonly webPort?: number | undefined;
  readonly httpPort?: number | undefined;
  readonly rtpPorts?: { min: number; max: number } | undefined;
  /** SIP datagrams a second one address may send (0: no limit); the transports' default otherwise. */
  readonly udpSourceRate?: number;
  readonly board?: Board;
  /** Which board to pick when none is given (pbx run --board); sim by default. */
  readonly boardChoice?: BoardChoice;
  /** A serial console on this device (pbx run --console /dev/serial0); its clock throttles wrong passwords. */
  readonly console?: { readonly path: string; readonly baudRate?: number; readonly clock?: Clock };
  readonly clock?: Clock;
  readonly random?: Random;
  readonly log?: Logger;
  /** Lines for a person at the console (npm start, serial console). */
  readonly print?: (line: string) => void;
  /** SIP over TCP when it differs from sipPort (a restart keeps the ports the first start was given). */
  readonly tcpPort?: number | undefined;
  /** Called with the new appliance when a restore restarted the services in place. */
  readonly onRestart?: (next: Appliance) => void;
  /** Nightly automatic backups (on by default). */
  readonly nightlyBackup?: boolean;
  /**
   * Firmware updates from the page: the A/B slot root (by default the one this
   * firmware runs from, null on a development run), the trusted vendor keys'
   * folder (DEFAULT_KEYS_DIR), and for tests how the supervisor is told.
   */
  readonly firmware?: { readonly slotsRoot?: string | null; readonly keysDir?: string; readonly signal?: (root: string) => boolean; readonly supervised?: (root: string) => boolean };
}

export interface RunInfo {
  readonly pid: number;
  readonly bind: string;
  readonly ports: { sipUdp: number; sipTcp: number; sipTls: number; web: number; http: number };
  readonly rtpPorts: { min: number; max: number };
  readonly adminUrl: string;
  readonly caPath: string;
}

const DIGEST_SECRET_FILE = 'digest.secret';
const RESTART_DELAY_MS = 300;
const MEDIA_STATS_EVERY_MS = 2000;
const MEDIA_STATS_SOON_MS = 200;
const LED_REFRESH_MS = 200;

/** A box-bound secret for stateless nonces, kept across restarts so nonces stay valid. */
function digestSecret(dataDir: string, random: Random): Buffer {
  const path = join(dataDir, DIGEST_SECRET_FILE);
  try {
    const b = readFileSync(path);
    if (b.length >= 32) return b;
  } catch { /* first boot */ }
  const secret = DigestServer.newSecret(random);
  writeFileAtomicSync(path, secret, 0o600);
  return secret;
}

/** The running services, as the composition root wired them. */
export interface ApplianceParts {
  readonly store: ConfigStore;
  readonly board: Board;
  readonly pki: Pki;
  readonly renewer: CertRenewer;
  readonly location: LocationService;
  readonly transports: SipTransports;
  readonly transactions: TransactionLayer;
  readonly throttle: AuthThrottle;
  /** Issue 20: per-account guessing windows (sip/digest/guess.ts). */
  readonly guesses?: GuessGuard;
  readonly counters: Counters;
  readonly calls: B2bua;
  readonly media: MediaEngine;
  readonly admin: AdminServer;
  readonly control: ControlServer;
  readonly leds: StatusLeds;
  readonly log: Logger;
  readonly releaseLock: () => void;
  readonly nightly?: NightlyBackup;
  /** Retention of recordings and voicemail, on a timer. */
  readonly housekeeping?: Housekeeping;
  /** SIP trunks (pbx/trunks): registrations, keep-alives, the dial plan's doors. */
  readonly trunks?: Trunks;
  /** The recording store (DATA/recordings) and the feature that records calls into it. */
  readonly recordings?: RecordingStore;
  /** Per-call media figures over time, for the page's quality chart. */
  readonly quality?: CallQuality;
  readonly reset: ResetController;
  readonly serial: SerialConsole | null;
  /** Message-waiting subscriptions (their expiry timers) and the voicemail store: stopped and closed with the rest. */
  readonly mwi?: MessageWaiting;
  readonly mailboxes?: MailboxStore;
}

// The class carries every part as a field of the same name (declaration merging).
export interface Appliance extends ApplianceParts {}

export class Appliance {
  private stopped = false;
  /** The media engine's latest figures; the engine answers by message, so status() shows the last reply. */
  private mediaStats: NonNullable<LiveStatus['media']> = { sessions: 0, portsInUse: 0, counters: {} };
  private mediaTimer: TimerHandle | null = null;
  /** The clock quality samples are stamped with (watchMedia's). */
  private sampledAt: () => number = () => Date.now();
  private resetDone: ((aside: string) => void) | null = null;
  /** Timers and the like of the composition root that stop() must end (onStop). */
  private readonly stopHooks: Array<() => void> = [];
  /** Settles with the folder the old data went to once a long press restored factory settings. */
  readonly factoryReset: Promise<string> = new Promise((resolve) => { this.resetDone = resolve; });

  constructor(readonly info: RunInfo, parts: ApplianceParts) {
    Object.assign(this, parts);
  }

  /** What `pbx status` and the page show of a running appliance, in the API's shape. Never secrets. */
  status(): LiveStatus {
    return {
      pid: this.info.pid,
      ports: this.info.ports,
      adminUrl: this.info.adminUrl,
      registrations: this.location.all().map((b) => ({
        extension: b.extension, contact: b.contact, transport: b.transport, source: b.source,
        expiresAt: b.expiresAt, registeredAt: b.registeredAt, reachable: isReachable(b), ...(b.userAgent ? { userAgent: b.userAgent } : {}),
      })),
      blocked: this.guesses ? authBlocks(this.throttle, this.guesses).blocked() : this.throttle.blocked(),
      configHealth: this.store.health,
      calls: this.calls.list(),
      media: this.mediaStats,
      leds: this.board.leds.snapshot(),
      certificate: { notAfter: this.pki.serverInfo.notAfter, serial: this.pki.serverInfo.serial },
      counters: { ...this.counters.snapshot(), ...this.transports.counters.snapshot() },
      alarms: this.trunks?.alarms() ?? [],
      process: processFigures(),
      sip: { clientTransactions: this.transactions.clientCount, serverTransactions: this.transactions.serverCount, answered: this.transactions.answeredCount },
    };
  }

  /** Ask the engine for fresh figures (after each call change, and every few seconds while calls run). */
  async refreshMedia(): Promise<void> {
    if (this.stopped) return;
    const r = await this.media.request({ op: 'stats' });
    if (r.op === 'stats') this.mediaStats = { sessions: r.sessions.length, portsInUse: r.portsInUse, counters: r.counters, at: this.sampledAt(), streams: streamsOf(r.sessions) };
    if (r.op === 'stats') this.quality?.sample(this.sampledAt(), r.sessions);
  }

  watchMedia(clock: Clock): void {
    this.sampledAt = () => clock.now();
    const tick = (): void => {
      void this.refreshMedia().catch(() => {});
      this.mediaTimer = this.stopped ? null : clock.setTimer(MEDIA_STATS_EVERY_MS, tick);
    };
    tick();
    // At most one refresh per MEDIA_STATS_SOON_MS however many calls change:
    // the engine's stats walk every session, so one per call event is O(calls).
    let soon: TimerHandle | null = null;
    this.onStop(() => { soon?.cancel(); soon = null; });
    this.calls.onChange(() => {
      soon ??= clock.setTimer(MEDIA_STATS_SOON_MS, () => {
        soon = null;
        void this.refreshMedia().catch(() => {});
      });
    });
  }

  /**
   * Factory settings (a long press of the reset button): stop every service,
   * move the data folder aside whole, leave an empty one; runAppliance then
   * starts again as on a first boot.
   */
  async restoreFactorySettings(dataDir: string, now: number): Promise<string> {
    this.log.warn({ dataDir }, 'factory reset: keeping the old data aside');
    await this.stop();
    const aside = keepDataAside(dataDir, now);
    this.log.warn({ aside }, 'factory reset done');
    this.resetDone?.(aside);
    return aside;
  }

  /** Run `fn` when the appliance stops (a coalescing timer of startAppliance, say). */
  onStop(fn: () => void): void {
    this.stopHooks.push(fn);
  }

  async stop(how: { restarting?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    for (const fn of this.stopHooks.splice(0)) fn();
    this.nightly?.stop();
    this.housekeeping?.stop();
    this.stopped = true;
    this.reset.close();
    await this.serial?.close();
    this.mediaTimer?.cancel();
    this.log.info('stopping');
    this.leds.update({ phase: 'stopping' });
    this.renewer.stop();
    await this.control.stop();
    this.trunks?.stop();
    await this.calls.stopAll();
    await this.admin.stop();
    await this.transports.stop();
    await this.media.close();
    await this.recordings?.close();
    this.mwi?.stop();
    await this.mailboxes?.close();
    // Last: whatever the stopping parts sent (BYEs, NOTIFYs) leaves no retransmission timer behind.
    this.transactions.close();
    await this.location.stop();
    // A restart in place hands the same board to the next start.
    if (!how.restarting) await this.board.close();
    this.releaseLock();
  }
}

export async function startAppliance(opts: ApplianceOptions): Promise<Appliance> {
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? cryptoRandom;
  // The page's log view keeps a copy of each line (secrets replaced); the console gets every line as before.
  const logLines = new LogBuffer();
  const log = bufferedLogger(opts.log ?? createLogger(), logLines);
  const print = opts.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const board = opts.board ?? await pickBoard({ choice: opts.boardChoice ?? 'sim', clock, print });
  const leds = new StatusLeds(board.leds);
  const counters = new Counters();
  const { dataDir } = opts;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });

  // The running appliance is the config's one writer; the CLI talks to it over the control socket.
  const lock = await lockConfig(dataDir);

  raiseOpenFileLimit(log);

  const store = await ConfigStore.open(dataDir, { log, clock });
  if (!store.health.ok) {
    leds.update({ problem: store.health.problem });
    print(`CONFIG PROBLEM: ${store.health.problem} (broken file kept as ${store.health.brokenCopy})`);
  }
  const cfg = (): ReadonlyConfig => store.data;

  // No default admin password: until one is set, a one-time setup code printed
  // here proves that whoever sets it can see this console.
  if (cfg().admin.passwordHash === null && cfg().admin.setupCode === null) {
    const code = random.token(48).replace(/[-_]/g, 'x').slice(0, 8).toUpperCase();
    await store.update((d) => { d.admin.setupCode = code; });
  }

  const pki = await loadOrCreatePki(dataDir, { clock, random, logger: log });
  const renewer = new CertRenewer({ pki, clock, renewBeforeDays: cfg().pki.renewBeforeDays, logger: log });
  const tls = (m: TlsMaterial): { key: string; cert: string } => ({ key: m.key, cert: m.cert });
  // Issue 12: while any account is in mutual mode, SIP TLS asks phones for a certificate (never
  // requires one), checked against our CA and uploaded vendor CAs; those accounts need one bound
  // to them. With no mutual account nobody is asked: some clients stop at the request to ask
  // their user for a certificate (linphonec waits on its console).
  const devices = await DeviceCerts.open({ pki, clock, random, logger: log });
  const clientCas = (): string[] => [pki.caCertPem, ...vendorCas(pki.paths.dir)];
  const sipTls = (m: TlsMaterial): { key: string; cert: string; ca: string[] } => ({ key: m.key, cert: m.cert, ca: clientCas() });

  const anyMutual = (c: ReadonlyConfig): boolean => c.accounts.some((a) => a.tlsMode === 'mutual');
  const net = cfg().network;
  const bind = opts.bind ?? net.bind;
  // Ticket keys in DATA/tls-ticket.keys (0600, a day each): phones resume their TLS sessions after a restart.
  const transports = new SipTransports({
    clock, random, log, counters, ticketKeys: new FileTicketKeys(dataDir, clock, random, log),
    ...(opts.udpSourceRate === undefined ? {} : { udpSourceRate: opts.udpSourceRate }),
  });
  const sipPort = opts.sipPort ?? net.sipPort;
  const bound = await transports.start({
    bind, udpPort: sipPort, tcpPort: opts.tcpPort ?? sipPort, tlsPort: opts.tlsPort ?? net.tlsPort, tls: sipTls(pki.tlsMaterial()), requestClientCert: anyMutual(cfg()),
  });
  store.onChange((c) => { if (bound.tls !== undefined) transports.setRequestClientCert(anyMutual(c)); });
  const ports = { udp: bound.udp ?? 0, tcp: bound.tcp ?? 0, tls: bound.tls ?? 0 };

  const identity = pki.currentIdentity();
  const self: SelfAddresses = {
    hosts: new Set([identity.hostname, `${identity.hostname}.local`, 'localhost', ...identity.addresses, ...(bind !== '0.0.0.0' && bind !== '::' ? [bind] : [])].map((h) => h.toLowerCase())),
    ports,
  };
  // The address phones reach the box at: the bound one, or the first LAN IPv4 when bound to all.
  const advertise = bind === '0.0.0.0' || bind === '::' ? (identity.addresses.find((a) => !a.includes(':') && a !== '127.0.0.1') ?? '127.0.0.1') : bind;
  const hostPart = advertise.includes(':') ? `[${advertise}]` : advertise;
  const portFor = (t: Target): number => (t.transport === 'wss' ? admin.webPort : t.transport === 'tls' ? ports.tls : ports.udp);
  const sentBy = (t: Target): string => `${hostPart}:${portFor(t)}`;
  // RFC 7118 5.2: the URI parameter for SIP over WebSocket, secure or not, is transport=ws.
  const contactFor = (t: Target): string => `sip:securepbx@${hostPart}:${portFor(t)}${t.transport === 'udp' ? '' : `;transport=${t.transport === 'wss' ? 'ws' : t.transport}`}`;

  const location = new LocationService(clock, fileBindingPersistence(dataDir, log));
  const throttle = new AuthThrottle({
    clock, counters, log, name: 'sip digest', limit: cfg().sip.authFailLimit, windowMs: cfg().sip.authFailWindowSec * 1000, blockMs: cfg().sip.authBlockSec * 1000,
  });
  // The guessing windows follow the config: read at every attempt, rebuilt when the config changes.
  const guesses = new GuessGuard({ clock, counters, log, windows: guessWindowsOf(() => cfg().sip) });
  const secret = digestSecret(dataDir, random);
  const makeDigest = (): DigestServer =>
    new DigestServer({ realm: cfg().sip.realm, algorithms: cfg().sip.digestAlgorithms, secret, clock, random, counters });
  let digest = makeDigest();
  let digestKey = JSON.stringify([cfg().sip.realm, cfg().sip.digestAlgorithms]);
  store.onChange((c) => {
    const key = JSON.stringify([c.sip.realm, c.sip.digestAlgorithms]);
    if (key !== digestKey) { digestKey = key; digest = makeDigest(); }
  });
  // Accounts by extension, rebuilt when the (frozen, replaced-on-change) config object changes:
  // every REGISTER and INVITE looks one up, so not a linear search over up to 2,000.
  let indexed: { of: ReadonlyConfig; byExt: Map<string, ReadonlyConfig['accounts'][number]> } | undefined;
  const account = (extension: string): ReadonlyConfig['accounts'][number] | undefined => {
    const c = cfg();
    if (indexed?.of !== c) indexed = { of: c, byExt: new Map(c.accounts.map((a) => [a.extension, a])) };
    return indexed.byExt.get(extension);
  };
  const accounts = { get: (extension: string): AccountInfo | undefined => account(extension) };
  const toTag = (): string => random.token(64);
  const certBinds = (extension: string, src: { flowId?: string }): boolean => {
    const peer = src.flowId === undefined ? undefined : transports.flowTls(src.flowId);
    return peer?.authorized === true && devices.binds(extension, peer.peerFingerprint256);
  };
  // A revoked certificate's live connections close at once (and their bindings with them).
  devices.onRevoke((v) => {
    const closed = new Set(transports.closeFlowsWithPeer(v.sha256));
    // Its bindings go too: a binding kept for a flow's return would wait for a phone that can no longer come back.
    for (const b of location.all()) if (b.flowId !== undefined && closed.has(b.flowId)) location.removeWhere(b.extension, (x) => x.flowId === b.flowId);
    log.warn({ serial: v.serial, extension: v.extension, closed: closed.size }, 'closed the connections of a revoked device certificate');
  });
  const registrar = new Registrar({
    clock, location, accounts, digest: () => digest, throttle, guesses, counters, log, toTag, certBinds,
    limits: () => cfg().sip,
    realm: () => cfg().sip.realm,
    isOurDomain: (h) => isSelfHost(h, self),
  });
  const rtpPorts = opts.rtpPorts ?? { ...net.rtpPorts };
  // Recordings (issue 9): sealed files under DATA/recordings, fed by engine taps the recording feature asks for.
  const recordings = await RecordingStore.open({ dir: join(dataDir, RECORDINGS_DIR), clock, random, counters });
  let recorder: Recording | undefined;
  // Voicemail (issue 15): messages and greetings sealed like recordings, in a store of their own (DATA/voicemail).
  const mailboxes = await MailboxStore.open({ dir: join(dataDir, VOICEMAIL_DIR), clock, random, counters });
  // Retention: old recordings (config recording.retentionDays / maxMegabytes) and voicemail past its age, every 6 h while running.
  const housekeeping = new Housekeeping({
    clock, log, recordings, mailboxes, settings: () => cfg().recording ?? RecordingSchema.parse({}),
  });
  let voicemail: Voicemail | undefined;
  // ZRTP (RFC 6189): the box's ZID and retained secrets live in DATA/zrtp-cache.json (0600, atomic), the same across restarts.
  const zrtpCache = FileZrtpCache.open(dataDir, random);
  const zrtp = new ZrtpBox({ zid: zrtpCache.zid, cache: zrtpCache, clock, random, counters });
  // DTLS-SRTP: the box's certificate (made once, kept in DATA/dtls) and the engine's handshakes over it.
  const dtls = new DtlsBox({ certificate: loadOrCreateDtlsCertificate(dataDir, { clock, random, log }), clock, random, counters });
  const media = new MediaEngine({
    bindAddress: bind, advertiseAddress: advertise, portRange: rtpPorts, clock, counters, log,
    mediaTimeoutMs: cfg().calls.mediaTimeoutSec * 1000,
    zrtp: zrtp.agents,
    dtls: dtls.factory,
    tapSinks: (spec) => {
      const vm = voicemail?.sinkFor(spec);
      if (vm) return vm;
      if (!recorder) throw new PbxError('invalid-state', 'no recorder yet');
      return recorder.sinkFor(spec);
    },
  });
  const transactions = new TransactionLayer({
    sink: { send: (msg, target) => { transports.send(msg, target); }, sendSerialized: (bytes, target) => { transports.sendSerialized(bytes, target); } },
    clock, random, counters, sentBy,
    user: {
      onRequest: (req, tx, source) => {
        if (pnp?.onRequest(req, (res) => tx.respond(res), source)) return;
        core.onRequest(req, tx, source);
      },
      onCancel: (req, tx, cancelled) => core.onCancel(req, tx, cancelled),
      onAck: (ack) => core.onAck(ack),
    },
  });
  // Music on hold: the admin's upload (pbx moh set), else the box's built-in tune (issue 8: "a built-in default made by the box").
  // Rendered at the first hold, not at boot (SIP answers first).
  let builtInMusic: Int16Array | undefined;
  const holdMusic = new HoldMusicSource(dataDir, () => (builtInMusic ??= defaultHoldMusic()), log);
  const b2bua = new B2bua({
    clock, random, transactions, media, location, accounts, digest: () => digest, throttle, guesses, counters, log, toTag, contactFor, certBinds,
    dtlsFingerprint: dtls.fingerprint,
    // An inbound trunk call's caller ("NUMBER~TRUNK") has the trunk's policy and media abilities.
    callee: (ext) => account(ext) ?? trunks.callerAccount(ext),
    noAnswerMs: () => cfg().calls.noAnswerSec * 1000,
    records: fileCallRecords(dataDir, log),
    policies: () => cfg().policies,
    holdMusic: () => (cfg().features.musicOnHold ? holdMusic.get() : undefined),
    groups: () => cfg().groups,
    pickupCodes: () => cfg().features.codes,
    parkSettings: () => ({ park: cfg().features.codes.park, slots: cfg().features.parkSlots, timeoutMs: cfg().features.parkTimeoutSec * 1000 }),
    holdRecallMs: () => cfg().features.holdRecallSec * 1000,
    settingCodes: {
      codes: () => cfg().features.codes,
      setDnd: async (ext, on) => { await store.update((d) => setAccountFeatures(d, ext, { dnd: on })); },
    },
    zrtp,
  });
  const modeOf = (ext: string): RecordMode => {
    const acct = account(ext);
    if (!acct) return 'never';
    return acct.record ?? cfg().policies.find((p) => p.name === acct.policy)?.record ?? 'never';
  };
  recorder = new Recording({
    counters, log, modeOf, tone: () => cfg().recording?.tone ?? true,
    store: { start: (meta) => { const r = recordings.start(meta); return { id: r.id, sink: r }; } },
  }, b2bua);
  // Meet-me rooms (pbx room add): a destination beside the accounts, mixed by the engine.
  b2bua.addDestination(new Rooms({
    clock, random, transactions, media, counters, log, contactFor, location,
    callee: (ext) => account(ext), noAnswerMs: () => cfg().calls.noAnswerSec * 1000, policies: () => cfg().policies,
    rooms: () => cfg().rooms ?? [],
  }, b2bua));
  // Attendant greetings (pbx attendant add --greeting): converted once to 8 kHz PCM in DATA/attendant, re-read when changed.
  const attendantGreetings = new AttendantGreetings(dataDir);
  voicemail = new Voicemail({
    clock, random, transactions, media, counters, log, contactFor, location,
    callee: (ext) => account(ext), noAnswerMs: () => cfg().calls.noAnswerSec * 1000, policies: () => cfg().policies,
    store: mailboxes,
    enabled: (ext) => { const a = account(ext); return a !== undefined && voicemailOn(a); },
    code: () => cfg().features.codes.voicemail,
    checkPin: async (ext, pin) => checkPin(pin, account(ext)?.voicemail?.pinHash),
    setPin: async (ext, pin) => { await store.update((d) => setAccountFeatures(d, ext, { voicemailPin: pin })); },
    attendants: () => cfg().attendants ?? [],
    attendantGreeting: (ext) => attendantGreetings.get(ext),
  }, b2bua);
  b2bua.addDestination(voicemail);
  const vmHook = voicemail;
  b2bua.setVoicemail({ leave: (incoming, mailbox, after, why) => vmHook.leave(incoming, mailbox, after, why), on: (ext) => vmHook.on(ext) });
  const core = new PbxCore(registrar, b2bua, counters, log, toTag);
  // Message-waiting (RFC 3842): SUBSCRIBE/NOTIFY of message-summary, and unsolicited NOTIFYs when a mailbox changes.
  const mwi = new MessageWaiting({
    accounts, digest: () => digest, throttle, guesses, counters, log, toTag, certBinds, location, clock, random, transactions, contactFor,
    counts: (mb) => mailboxes.counts(mb), realm: () => cfg().sip.realm,
  });
  core.subscribe = (req, tx, source) => mwi.onSubscribe(req, tx, source);
  mailboxes.onChange((mb) => mwi.changed(mb));
  // SIP trunks: the outbound routes as a destination (it lets the accounts go first), inbound calls by DID before digest.
  const trunks = new Trunks({
    clock, random, log, counters, dns: await systemResolver(), contactFor,
    send: (req, target, user) => { transactions.sendRequest(req, target, user); },
    config: () => cfg().trunking,
    account: (ext) => account(ext),
    clientCert: () => tls(pki.tlsMaterial()),
    onChange: () => b2bua.changed(),
    onAlarm: () => { showProblems(); b2bua.changed(); },
  });
  // The error LED: a config problem, else a toll-fraud alarm, until the admin clears it.
  const showProblems = (): void => {
    const alarms = trunks.alarms();
    const config = store.health.ok ? null : store.health.problem;
    leds.update({ problem: config ?? (alarms.length > 0 ? `toll-fraud alarm: ${alarms.map((a) => a.extension).join(', ')}` : null) });
  };
  b2bua.addDestination({ name: 'trunks', take: (incoming) => trunks.outbound(incoming, b2bua) });
  b2bua.setTrunkInbound((req, tx, source) => trunks.inbound(req, tx, source, b2bua));
  transports.outboundTls = (target) => trunks.tlsFor(target);
  // RFC 6080 plug-and-play answers once provisioning is up (below); until then such a SUBSCRIBE goes to the core.
  let pnp: PnpResponder | undefined;
  transports.onMessage = (msg, source) => transactions.receive(msg, source);
  // A flow that carries a live registration stays open however quiet it is (RFC 5626).
  transports.isFlowInUse = (id) => location.flowInUse(id);
  transports.onFlowClosed = (flowId) => {
    transactions.flowFailed(flowId);
    location.flowClosed(flowId);
  };
  location.start();
  trunks.reload();
  store.onChange(() => trunks.reload());
  // SIP answers from here on. What it does not need loads and starts now: provisioning, the admin
  // web servers (fastify), backups, the control socket; run.json is still written last, once all are up.
  const [{ PNP_GROUP, PNP_PORT, PnpResponder, ProvisioningService }, { AdminServer, AuditLog, certSource, describeCommand, isChangeCommand, tokensEqual }] =
    await Promise.all([import('./provisioning/index.js'), import('./admin/index.js')]);
  // Issue 12: desk phone provisioning under /provision/, and RFC 6080 plug-and-play.
  const provisioning = await ProvisioningService.open({
    store, dataDir, clock, log, counters,
    caPem: () => pki.caCertPem,
    box: () => ({ host: advertise, sipTlsPort: ports.tls, httpsPort: admin.webPort, httpPort: admin.httpPort }),
    deviceCertExtension: (fp) => { const d = devices.byFingerprint(fp); return d && d.revokedAt === null ? d.extension : undefined; },
    digest: new DigestServer({ realm: PROVISION_REALM, algorithms: ['MD5'], secret, clock, random, counters }),
  });
  pnp = new PnpResponder({
    url: () => provisioning.httpBase, contact: `sip:securepbx@${hostPart}:${ports.udp}`, random, counters, log,
    enabled: () => cfg().provisioning.pnp,
    sendRequest: (req, target) => { transactions.sendRequest(req, target, { onResponse: () => {} }); },
  });
  if (cfg().provisioning.pnp && ports.udp === PNP_PORT && transports.joinMulticast(PNP_GROUP)) log.info({ group: PNP_GROUP }, 'plug-and-play: listening');

  // The web API runs the very commands of the pbx CLI (control/commands.ts),
  // here with the running appliance's certificates and live status.
  const commandContext = {
    store, dataDir, random, blocks: authBlocks(throttle, guesses), trunks: () => trunks.views(),
    alarms: {
      list: () => trunks.alarms(),
      clear: (ext: string) => { const had = trunks.clearAlarm(ext); showProblems(); b2bua.changed(); return had; },
    },
    zrtp: {
      list: () => zrtpCache.list(),
      forget: (zid: string) => { const z = Buffer.from(zid, 'hex'); if (!zrtpCache.get(z)) return false; zrtpCache.delete(z); return true; },
    },
    liveStatus: () => appliance?.status() ?? {},
    recordings: {
      list: () => recordings.list(), get: (id: string) => recordings.get(id),
      exportTo: (id: string, out: string) => recordings.exportTo(id, out),
      toggle: (call: string, on?: boolean) => recorder!.toggle(call, on),
    },
    voicemail: { list: (ext: string) => mailboxes.list(ext) },
    calls: { hangup: (id: string) => b2bua.hangupById(id) },
    accountsChanged: () => dropRemoved(),
    certs: certSource({ pki, renewer, clock, swap: (m) => { transports.setTlsMaterial(sipTls(m)); admin.setTlsMaterial(tls(m)); } }),
    provisioning,
    devices: {
      list: () => devices.list(),
      issue: async (extension: string, passphrase?: string) => {
        const r = await devices.issue(extension, cfg().sip.realm, passphrase);
        return { ...r.view, p12Base64: r.p12.toString('base64'), passphrase: r.passphrase };
      },
      revoke: (serial: string) => devices.revoke(serial),
    },
  };
  // Backups: the page and `pbx restore` on a running box check the file, then
  // the services stop, the files are replaced and everything starts again on
  // the same ports (restart below).
  const backups = new BackupService({
    dataDir, clock, random, log,
    replace: async (apply) => {
      // Reply first: the request that asked is served by what stops next.
      clock.setTimer(RESTART_DELAY_MS, () => {
        restartWith(apply).catch((e: unknown) => { log.error({ err: e instanceof Error ? e.message : String(e) }, 'restart after restore failed'); });
      });
    },
  });
  const restartWith = async (apply: () => void): Promise<void> => {
    await appliance?.stop({ restarting: true });
    apply();
    const next = await startAppliance({
      ...opts, board, bind, sipPort: ports.udp, tcpPort: ports.tcp, tlsPort: ports.tls, webPort: web.webPort, httpPort: web.httpPort, rtpPorts,
    });
    log.info('services restarted with the restored data');
    opts.onRestart?.(next);
  };
  const quality = new CallQuality(MEDIA_STATS_EVERY_MS);
  const admin = new AdminServer({
    backups, logs: logLines, quality, recordings,
    firmware: {
      slotsRoot: opts.firmware?.slotsRoot !== undefined ? opts.firmware.slotsRoot : slotsRootOf(fileURLToPath(import.meta.url)),
      keys: () => loadTrustedKeys(opts.firmware?.keysDir ?? DEFAULT_KEYS_DIR),
      ...(opts.firmware?.signal ? { signal: opts.firmware.signal } : {}),
      ...(opts.firmware?.supervised ? { supervised: opts.firmware.supervised } : {}),
    },
    bind, webPort: opts.webPort ?? net.webPort, httpPort: opts.httpPort ?? net.httpPort,
    tls: tls(pki.tlsMaterial()), caPem: () => readFileSync(pki.paths.caCert, 'utf8'), caDer: () => pki.caDer(), log,
    store, clock, random, counters,
    selfHosts: () => self.hosts, defaultHost: advertise,
    execute: (req) => executeCommand(commandContext, req),
    provisioning, clientCa: clientCas,
    // Issue 10: the browser phone (SIP over WSS on /sip, the page on /phone), logged in with the extension's own SIP password.
    phone: {
      checkPassword: async (ext, password, address) => {
        if (throttle.isBlocked(address)) return 'blocked';
        // Issue 20: the browser phone's login counts against the account's guessing windows too.
        if (guesses.refusal(ext, address) !== undefined) return 'blocked';
        const acct = account(ext);
        const ok = acct !== undefined && tokensEqual(digestHa1('SHA-256', ext, cfg().sip.realm, password), acct.ha1Sha256);
        if (ok) throttle.recordSuccess(address);
        else throttle.recordFailure(address, ext);
        if (ok) guesses.recordSuccess(ext, address);
        else guesses.recordFailure(ext, address);
        return ok ? 'ok' : 'wrong';
      },
      calls: (ext) => b2bua.list().filter((c) => c.caller === ext || c.callee === ext),
      sipWebSocket: (conn) => transports.acceptWebSocket(conn) !== undefined,
    },
    // What the dashboard shows live: registrations, calls, LEDs, config, certificate.
    live: {
      onChange: (fn) => {
        const offs = [location.onChange(fn), b2bua.onChange(fn), board.leds.onChange(() => fn()), store.onChange(() => fn()), renewer.onRenew(() => fn())];
        return () => { for (const off of offs) off(); };
      },
    },
  });
  const web = await admin.start();

  renewer.onRenew((m) => {
    transports.setTlsMaterial(sipTls(m));
    admin.setTlsMaterial(tls(m));
    log.info({ serial: pki.serverInfo.serial, notAfter: pki.serverInfo.notAfter }, 'server certificate renewed and swapped in');
  });
  renewer.start();

  // Accounts removed while registered lose their bindings at once.
  const dropRemoved = (): void => {
    const known = new Set(cfg().accounts.map((a) => a.extension));
    for (const b of location.all()) if (!known.has(b.extension)) location.removeAll(b.extension);
  };
  store.onChange(dropRemoved);

  let appliance: Appliance | undefined;
  // Every change made with the pbx CLI is in the audit log beside the page's.
  const audit = new AuditLog(dataDir, clock, log);
  const control = new ControlServer(controlSocketPath(dataDir), async (req) => {
    const change = isChangeCommand(req.command);
    try {
      const r = await (req.command === RESTORE_COMMAND ? restoreOverControl(backups, req) : executeCommand(commandContext, req));
      if (change) audit.record({ who: 'cli', from: 'local', what: describeCommand(req.command, req.args), ok: true });
      return r;
    } catch (e) {
      if (change) audit.record({ who: 'cli', from: 'local', what: describeCommand(req.command, req.args), ok: false });
      throw e;
    }
  }, { counters, log });
  await control.start();

  const adminHost = bind === '0.0.0.0' || bind === '::' ? (identity.addresses.find((a) => !a.includes(':') && a !== '127.0.0.1') ?? '127.0.0.1') : bind;
  const info: RunInfo = {
    pid: process.pid,
    bind,
    ports: { sipUdp: ports.udp, sipTcp: ports.tcp, sipTls: ports.tls, web: web.webPort, http: web.httpPort },
    rtpPorts,
    adminUrl: `https://${adminHost.includes(':') ? `[${adminHost}]` : adminHost}:${web.webPort}/`,
    caPath: pki.paths.caCert,
  };
  writeFileAtomicSync(join(dataDir, 'run.json'), `${JSON.stringify(info, null, 2)}\n`, 0o644);

  // The serial console: the admin password (or, before one is set, the setup code), then pbx commands.
  let serial: SerialConsole | null = null;
  const say = (line: string): void => { print(line); serial?.print(line); };
  if (opts.console) {
    const login = async (password: string): Promise<LoginCheck> => {
      const { passwordHash, setupCode } = cfg().admin;
      if (passwordHash !== null) return (await verifyPassword(password, passwordHash)) ? 'ok' : 'wrong';
      if (setupCode !== null) return password === setupCode ? 'ok' : { hint: `no admin password is set yet: type the setup code (${setupCode}), or set a password at ${info.adminUrl}` };
      return 'wrong';
    };
    serial = await SerialConsole.open({
      path: opts.console.path, ...(opts.console.baudRate ? { baudRate: opts.console.baudRate } : {}), clock: opts.console.clock ?? clock, login,
      banner: () => `SecurePBX console; admin ${info.adminUrl}; SIP udp/tcp ${ports.udp}, tls ${ports.tls}`,
      pbx: { script: fileURLToPath(new URL('./cli/pbx.js', import.meta.url)), dataDir },
      note: (event) => log.info({ console: opts.console?.path }, event),
    });
  }

  // The reset button: a short press shows where the box is, a long one restores factory settings.
  const IDENTIFY_MS = 5_000;
  let identifyTimer: TimerHandle | null = null;
  const reset = new ResetController(board.resetButton, clock, {
    identify: () => {
      say(`SecurePBX at ${[...new Set(identity.addresses)].join(', ') || bind}`);
      say(`  admin:   ${info.adminUrl}`);
      leds.update({ identify: true });
      identifyTimer?.cancel();
      identifyTimer = clock.setTimer(IDENTIFY_MS, () => { identifyTimer = null; leds.update({ identify: false }); });
    },
    pending: (on) => {
      if (on) say('reset button held: release after 10 s to restore factory settings (the old data is kept aside)');
      leds.update({ resetPending: on });
    },
    factoryReset: () => {
      print('restoring factory settings');
      void appliance?.restoreFactorySettings(dataDir, clock.now()).then(
        (aside) => print(`factory settings restored; the old data is in ${aside}`),
        (e: unknown) => { log.error({ err: e }, 'factory reset failed'); print(`factory reset failed: ${e instanceof Error ? e.message : String(e)}`); },
      );
    },
  });

  const nightly = opts.nightlyBackup === false ? undefined : new NightlyBackup({ dataDir, clock, random, log });
  nightly?.start();
  housekeeping.start();
  appliance = new Appliance(info, {
    store, board, pki, renewer, location, transports, transactions, throttle, guesses, counters,
    calls: b2bua, media, admin, control, leds, log, releaseLock: lock, trunks, recordings, housekeeping, quality, reset, serial, ...(nightly ? { nightly } : {}),
    mwi, mailboxes,
  });
  // The registration LED counts accounts with a binding; a burst of REGISTERs recounts once.
  let ledsSoon: TimerHandle | null = null;
  location.onChange(() => {
    ledsSoon ??= clock.setTimer(LED_REFRESH_MS, () => {
      ledsSoon = null;
      leds.update({ registeredPhones: location.registeredAccounts() });
    });
  });
  appliance.onStop(() => { ledsSoon?.cancel(); ledsSoon = null; identifyTimer?.cancel(); identifyTimer = null; });
  b2bua.onChange(() => {
    const calls = b2bua.list();
    leds.update({ activeCalls: calls.length, secureCalls: secureCallCount(calls) });
  });
  appliance.watchMedia(clock);
  leds.update({ phase: 'running', registeredPhones: location.registeredAccounts() });

  print(`SecurePBX ready`);
  print(`  admin:   ${info.adminUrl}`);
  print(`  SIP:     udp ${ports.udp}, tcp ${ports.tcp}, tls ${ports.tls} on ${bind}`);
  print(`  CA:      ${info.caPath} (also http://${adminHost}:${web.httpPort}/ca.crt)`);
  const setupCode = cfg().admin.setupCode;
  if (cfg().admin.passwordHash === null && setupCode) print(`  setup code for the first admin login: ${setupCode}`);
  log.info({ ports: info.ports, dataDir }, 'appliance running');
  sdNotify.ready();
  return appliance;
}

/** Take the data folder's config lock, waiting briefly for a CLI change in progress. */
async function lockConfig(dataDir: string): Promise<() => void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const lock = tryLockConfig(dataDir, 'appliance');
    if (lock.acquired) return () => lock.release();
    if (lock.holder?.owner === 'appliance') {
      throw new PbxError('conflict', `another appliance (pid ${lock.holder.pid}) is running with ${dataDir}`);
    }
    if (Date.now() > deadline) throw new PbxError('conflict', `the config in ${dataDir} stays locked by ${lock.holder ? `pid ${lock.holder.pid}` : 'another process'}`);
    await new Promise((r) => setTimeout(r, 30));
  }
}

/** `pbx run`: start, then stop cleanly on SIGINT/SIGTERM; after a factory reset, start again as on a first boot. */
export async function runAppliance(opts: ApplianceOptions): Promise<void> {
  if (!existsSync(opts.dataDir)) mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const watchdog = sdNotify.startWatchdog();
  let signalled = false;
  let current: Appliance | undefined;
  const signal = new Promise<'signal'>((resolve) => {
    const stop = (): void => { signalled = true; void (current?.stop() ?? Promise.resolve()).then(() => resolve('signal')); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  while (!signalled) {
    current = await startAppliance({ ...opts, onRestart: (next) => { current = next; opts.onRestart?.(next); } });
    // A signal while it started (SIP answers before the rest is up) found nothing to stop: stop it now.
    if (signalled) { await current.stop(); break; }
    if (await Promise.race([signal, current.factoryReset.then(() => 'reset' as const)]) === 'signal') break;
  }
  watchdog.stop();
}

/** Memory (process.memoryUsage(), cheap) and open descriptors (/proc/self/fd where there is one). */
function processFigures(): NonNullable<LiveStatus['process']> {
  const m = process.memoryUsage();
  let openFds: number | undefined;
  try { openFds = readdirSync('/proc/self/fd').length; } catch { /* not Linux */ }
  const heapSpaces = Object.fromEntries(getHeapSpaceStatistics().map((h) => [h.space_name, { size: h.space_size, used: h.space_used_size }]));
  return {
    rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, ...(openFds === undefined ? {} : { openFds }), heapSpaces,
  };
}

/** The attendants' uploaded greetings, read from DATA/attendant/EXT.pcm and cached by mtime. */
class AttendantGreetings {
  private readonly cache = new Map<string, { mtimeMs: number; pcm: Int16Array }>();

  constructor(private readonly dataDir: string) {}

  get(extension: string): Int16Array | undefined {
    const path = attendantGreetingPath(this.dataDir, extension);
    let mtimeMs: number;
    try { mtimeMs = statSync(path).mtimeMs; } catch { this.cache.delete(extension); return undefined; }
    const hit = this.cache.get(extension);
    if (hit && hit.mtimeMs === mtimeMs) return hit.pcm;
    try {
      const buf = readFileSync(path);
      const pcm = new Int16Array(buf.length >> 1);
      for (let i = 0; i < pcm.length; i++) pcm[i] = buf.readInt16LE(2 * i);
      this.cache.set(extension, { mtimeMs, pcm });
      return pcm;
    } catch { return undefined; }
  }
}
