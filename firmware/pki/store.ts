import { createPrivateKey } from 'node:crypto';
import { chmod, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { inspect } from 'node:util';
import type { RenewReason, RenewalRecord } from '../api/index.js';
import { type Clock, type Logger, type Random, cryptoRandom, silentLogger, systemClock, writeFileAtomic } from '../core/index.js';
import { DAY_MS, buildCaCert, buildDeviceCert, buildServerCert, type KeyGenerator, type RsaKeyPair, nativeRsaKeyGen, randomSerial } from './issue.js';
import { type HostIdentity, type SanEntry, serverAltNames, systemIdentity } from './names.js';
import { type CertInfo, type ParsedCert, infoOf, parseCert, splitPem } from './x509.js';

export const PKI_DIR = 'pki';
export const KEY_MODE = 0o600;
export const CERT_MODE = 0o644;
export const DIR_MODE = 0o700;
/** Renewal history entries kept; the oldest fall off. */
export const MAX_HISTORY = 100;
export const DEFAULT_PRODUCT = 'SecurePBX';
/** Warn at boot when the CA has less than this left. */
export const CA_WARN_DAYS = 365;

export function pkiPaths(dataDir: string) {
  const dir = join(dataDir, PKI_DIR);
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    history: join(dir, 'history.json'),
    /** Present while server.crt is a certificate the admin uploaded (custom.ts). */
    customMarker: join(dir, 'server.custom'),
  } as const;
}

/** Where the CA certificate lives (`pbx cert ca` prints it). */
export function caPath(dataDir: string): string {
  return pkiPaths(dataDir).caCert;
}

// The renewal history is shown as it is stored, so its shapes are the API's.
export type { RenewReason, RenewalRecord } from '../api/index.js';

/** What a TLS server needs; `cert` is the chain to present (leaf then CA). */
export interface TlsMaterial {
  readonly key: string;
  readonly cert: string;
  readonly ca: string;
}

export interface PkiOptions {
  readonly clock?: Clock;
  readonly random?: Random;
  readonly logger?: Logger;
  readonly keyGen?: KeyGenerator;
  /** Current hostname and addresses; defaults to the operating system's. */
  readonly identity?: () => HostIdentity;
  readonly productName?: string;
}

async function readOptional(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

interface Loaded {
  readonly certPem: string;
  readonly cert: ParsedCert;
  readonly keyPem: string;
}

/** Why a certificate/key pair on disk cannot be used, or the pair. */
type LoadResult = { ok: true; value: Loaded } | { ok: false; reason: 'missing' | 'corrupt'; detail: string };

function checkPair(certPem: string | null, keyPem: string | null, issuer: ParsedCert | null): LoadResult {
  if (certPem === null || keyPem === null) return { ok: false, reason: 'missing', detail: certPem === null ? 'certificate absent' : 'key absent' };
  let cert: ParsedCert;
  try {
    cert = parseCert(certPem);
  } catch {
    return { ok: false, reason: 'corrupt', detail: 'certificate unreadable' };
  }
  try {
    if (!cert.x509.checkPrivateKey(createPrivateKey(keyPem))) return { ok: false, reason: 'corrupt', detail: 'key does not match certificate' };
  } catch {
    return { ok: false, reason: 'corrupt', detail: 'key unreadable' };
  }
  const signer = issuer ?? cert;
  if (!cert.x509.checkIssued(signer.x509) || !cert.x509.verify(signer.x509.publicKey)) {
    return { ok: false, reason: 'corrupt', detail: issuer ? 'not issued by the current CA' : 'CA is not self-signed' };
  }
  if (!issuer && !cert.x509.ca) return { ok: false, reason: 'corrupt', detail: 'CA certificate lacks the CA flag' };
  return { ok: true, value: { certPem: splitPem(certPem)[0]!, cert, keyPem } };
}

interface PkiContext {
  readonly paths: ReturnType<typeof pkiPaths>;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  readonly keyGen: KeyGenerator;
  readonly identity: () => HostIdentity;
  readonly productName: string;
}

/**
 * The box's CA and its current server certificate. Private keys sit in
 * #private fields, and toJSON/inspect show certificate facts only, so logging
 * a Pki never leaks a key.
 */
export class Pki {
  readonly #ctx: PkiContext;
  readonly #caKeyPem: string;
  #serverKeyPem: string;
  readonly #ca: ParsedCert;
  #server: ParsedCert;
  readonly caCertPem: string;
  #serverCertPem: string;
  /** What follows the leaf in server.crt: our CA, or an uploaded chain. */
  #chainTail: string;
  #queue: Promise<unknown> = Promise.resolve();

  /** Use loadOrCreatePki. */
  private constructor(ctx: PkiContext, ca: Loaded, server: Loaded, chainTail: string = ca.certPem) {
    this.#ctx = ctx;
    this.#caKeyPem = ca.keyPem;
    this.#ca = ca.cert;
    this.caCertPem = ca.certPem;
    this.#serverKeyPem = server.keyPem;
    this.#server = server.cert;
    this.#serverCertPem = server.certPem;
    this.#chainTail = chainTail;
  }

  /** @internal for loadOrCreatePki */
  static async open(ctx: PkiContext): Promise<Pki> {
    const { paths, logger } = ctx;
    await mkdir(paths.dir, { recursive: true, mode: DIR_MODE });
    await tightenKeyModes(paths, logger);

    let ca = checkPair(await readOptional(paths.caCert), await readOptional(paths.caKey), null);
    if (ca.ok) {
      const left = ca.value.cert.notAfter.getTime() - ctx.clock.now();
      // An expired CA fails every phone anyway, so a new one costs nothing more.
      if (left <= 0) ca = { ok: false, reason: 'corrupt', detail: 'CA certificate expired' };
      else if (left < CA_WARN_DAYS * DAY_MS) logger.warn({ file: paths.caCert, notAfter: ca.value.cert.notAfter.toISOString() }, 'CA certificate expires soon; plan to replace it and re-enrol phones');
    }
    let newCa: RenewReason | null = null;
    // A new CA needs a new server certificate too: both RSA keys are made at once (OpenSSL, off the event loop), which halves a first boot's wait for them.
    let serverKeys: Promise<RsaKeyPair> | undefined;
    if (!ca.ok) {
      serverKeys = ctx.keyGen();
      serverKeys.catch(() => undefined);
      newCa = ca.reason === 'missing' ? 'created' : 'new-ca';
      if (ca.reason === 'corrupt') logger.error({ file: paths.caCert, problem: ca.detail }, 'CA unusable; creating a new CA (phones must trust it again)');
      else logger.info({ file: paths.caCert }, 'no CA yet; creating one');
      ca = { ok: true, value: await createCa(ctx) };
    }

    const server = newCa
      ? null
      : checkPair(await readOptional(paths.serverCert), await readOptional(paths.serverKey), ca.value.cert);
    if (server?.ok) return new Pki(ctx, ca.value, server.value);
    if (server && !server.ok && server.detail === 'not issued by the current CA') {
      const custom = await loadCustom(paths, ctx.clock.now());
      if (custom) return new Pki(ctx, ca.value, custom.loaded, custom.tail);
    }

    const reason = server === null ? newCa ?? 'new-ca' : server.reason;
    if (server && !server.ok) logger.warn({ file: paths.serverCert, problem: server.detail }, 'server certificate unusable; issuing a new one');
    const issued = await issueServer(ctx, ca.value, serverKeys);
    const pki = new Pki(ctx, ca.value, issued);
    await pki.#record(reason, null, issued.cert.serial);
    return pki;
  }

  /** True while the server certificate is one the admin uploaded (not issued by our CA). */
  get isCustom(): boolean {
    return this.#chainTail !== this.caCertPem;
  }

  get paths(): ReturnType<typeof pkiPaths> {
    return this.#ctx.paths;
  }

  /** The current server leaf alone, PEM. */
  get serverCertPem(): string {
    return this.#serverCertPem;
  }

  /** server.crt's content: the leaf followed by the CA (or an uploaded chain). */
  get chainPem(): string {
    return this.#serverCertPem + this.#chainTail;
  }

  get caInfo(): CertInfo {
    return infoOf(this.#ca);
  }

  get serverInfo(): CertInfo {
    return infoOf(this.#server);
  }

  /** The CA certificate as DER, for download (application/x-x509-ca-cert). */
  caDer(): Buffer {
    return Buffer.from(this.#ca.der);
  }

  tlsMaterial(): TlsMaterial {
    return { key: this.#serverKeyPem, cert: this.chainPem, ca: this.caCertPem };
  }

  currentIdentity(): HostIdentity {
    return this.#ctx.identity();
  }

  /**
   * Issue a new server certificate from the CA, store it, and record why.
   * Calls run one at a time, so two renewals never interleave their writes.
   */
  renewServer(reason: RenewReason): Promise<RenewalRecord> {
    const run = this.#queue.then(() => this.#renew(reason));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #renew(reason: RenewReason): Promise<RenewalRecord> {
    const oldSerial = this.#server.serial;
    const issued = await issueServer(this.#ctx, { certPem: this.caCertPem, cert: this.#ca, keyPem: this.#caKeyPem });
    this.#serverKeyPem = issued.keyPem;
    this.#server = issued.cert;
    this.#serverCertPem = issued.certPem;
    this.#chainTail = this.caCertPem;
    await rm(this.#ctx.paths.customMarker, { force: true });
    return this.#record(reason, oldSerial, issued.cert.serial);
  }

  /**
   * Use an uploaded certificate (already checked by custom.ts) instead of our
   * own, queued with renewals. A later renewal goes back to our own.
   */
  installServer(leafPem: string, chainTailPem: string, keyPem: string): Promise<RenewalRecord> {
    const run = this.#queue.then(async () => {
      const cert = parseCert(leafPem);
      const oldSerial = this.#server.serial;
      const { paths } = this.#ctx;
      // Key first, marker last: a crash part way leaves a pair the next boot rejects and replaces.
      await writeFileAtomic(paths.serverKey, keyPem, KEY_MODE);
      await writeFileAtomic(paths.serverCert, leafPem + chainTailPem, CERT_MODE);
      await writeFileAtomic(paths.customMarker, 'uploaded\n', CERT_MODE);
      this.#serverKeyPem = keyPem;
      this.#server = cert;
      this.#serverCertPem = splitPem(leafPem)[0]!;
      this.#chainTail = chainTailPem;
      return this.#record('custom', oldSerial, cert.serial);
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * A client certificate for a device (a phone or a softphone), signed by the
   * CA: issue 12's device certificates. The CA key stays in here.
   */
  signDevice(req: { readonly publicKeyPem: string; readonly commonName: string; readonly sans: readonly SanEntry[]; readonly serial: string }): string {
    return buildDeviceCert({ ...req, caCertPem: this.caCertPem, caKeyPem: this.#caKeyPem, now: this.#ctx.clock.now() });
  }

  /** Renewal history, oldest first. */
  async history(): Promise<readonly RenewalRecord[]> {
    return readHistory(this.#ctx);
  }

  async #record(reason: RenewReason, oldSerial: string | null, newSerial: string): Promise<RenewalRecord> {
    const rec: RenewalRecord = { at: new Date(this.#ctx.clock.now()).toISOString(), reason, oldSerial, newSerial };
    const entries = [...(await readHistory(this.#ctx)), rec].slice(-MAX_HISTORY);
    await writeFileAtomic(this.#ctx.paths.history, `${JSON.stringify({ version: 1, entries }, null, 2)}\n`, CERT_MODE);
    this.#ctx.logger.info({ reason, oldSerial, newSerial }, 'server certificate issued');
    return rec;
  }

  toJSON(): { dir: string; ca: CertInfo; server: CertInfo } {
    return { dir: this.#ctx.paths.dir, ca: this.caInfo, server: this.serverInfo };
  }

  [inspect.custom](): string {
    return `Pki ${inspect(this.toJSON(), { depth: 4 })}`;
  }
}

/** An uploaded server certificate on disk, if the marker says there is one and it is still usable. */
async function loadCustom(paths: ReturnType<typeof pkiPaths>, now: number): Promise<{ loaded: Loaded; tail: string } | null> {
  if ((await readOptional(paths.customMarker)) === null) return null;
  const certPem = await readOptional(paths.serverCert);
  const keyPem = await readOptional(paths.serverKey);
  if (certPem === null || keyPem === null) return null;
  const [leafPem, ...rest] = splitPem(certPem);
  if (!leafPem) return null;
  try {
    const cert = parseCert(leafPem);
    if (!cert.x509.checkPrivateKey(createPrivateKey(keyPem))) return null;
    if (now < cert.notBefore.getTime() || now > cert.notAfter.getTime()) return null;
    return { loaded: { certPem: leafPem, cert, keyPem }, tail: rest.join('') };
  } catch {
    return null;
  }
}

async function readHistory(ctx: PkiContext): Promise<RenewalRecord[]> {
  const text = await readOptional(ctx.paths.history);
  if (text === null) return [];
  try {
    const parsed: unknown = JSON.parse(text);
    const entries = (parsed as { entries?: unknown }).entries;
    if (Array.isArray(entries)) return entries.filter(isRecord);
  } catch {
    // fall through
  }
  ctx.logger.warn({ file: ctx.paths.history }, 'renewal history unreadable; starting a new one');
  return [];
}

function isRecord(v: unknown): v is RenewalRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.at === 'string' && typeof r.reason === 'string' && typeof r.newSerial === 'string' && (r.oldSerial === null || typeof r.oldSerial === 'string');
}

/** Keys written by hand or restored from a backup may be world-readable: fix that. */
async function tightenKeyModes(paths: ReturnType<typeof pkiPaths>, logger: Logger): Promise<void> {
  for (const file of [paths.caKey, paths.serverKey]) {
    try {
      const st = await stat(file);
      if ((st.mode & 0o077) !== 0) {
        await chmod(file, KEY_MODE);
        logger.warn({ file }, 'private key was readable by others; mode set to 0600');
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}

async function createCa(ctx: PkiContext): Promise<Loaded> {
  const keys = await ctx.keyGen();
  const now = ctx.clock.now();
  // A short random tag tells apart the CAs of boxes that share a hostname.
  const tag = ctx.random.bytes(3).toString('hex');
  const certPem = buildCaCert({ keys, commonName: `${ctx.productName} CA ${ctx.identity().hostname} ${tag}`, serial: randomSerial(ctx.random), now });
  await writeFileAtomic(ctx.paths.caKey, keys.privateKeyPem, KEY_MODE);
  await writeFileAtomic(ctx.paths.caCert, certPem, CERT_MODE);
  return { certPem, cert: parseCert(certPem), keyPem: keys.privateKeyPem };
}

async function issueServer(ctx: PkiContext, ca: Loaded, made?: Promise<RsaKeyPair>): Promise<Loaded> {
  const keys = await (made ?? ctx.keyGen());
  const id = ctx.identity();
  const certPem = buildServerCert({
    publicKeyPem: keys.publicKeyPem,
    caCertPem: ca.certPem,
    caKeyPem: ca.keyPem,
    commonName: id.hostname || ctx.productName,
    sans: serverAltNames(id),
    serial: randomSerial(ctx.random),
    now: ctx.clock.now(),
  });
  // Key first: a crash between the two leaves a mismatched pair, which the
  // next boot detects and replaces, rather than a certificate without its key.
  await writeFileAtomic(ctx.paths.serverKey, keys.privateKeyPem, KEY_MODE);
  await writeFileAtomic(ctx.paths.serverCert, certPem + ca.certPem, CERT_MODE);
  return { certPem, cert: parseCert(certPem), keyPem: keys.privateKeyPem };
}

/**
 * Load the PKI from `<dataDir>/pki`, creating on first boot what is missing:
 * a broken or absent server certificate is reissued from the existing CA; a
 * broken CA is replaced (and logged, since phones must then trust it again).
 */
export async function loadOrCreatePki(dataDir: string, opts: PkiOptions = {}): Promise<Pki> {
  return Pki.open({
    paths: pkiPaths(dataDir),
    clock: opts.clock ?? systemClock,
    random: opts.random ?? cryptoRandom,
    logger: opts.logger ?? silentLogger,
    keyGen: opts.keyGen ?? nativeRsaKeyGen,
    identity: opts.identity ?? systemIdentity,
    productName: opts.productName ?? DEFAULT_PRODUCT,
  });
}
