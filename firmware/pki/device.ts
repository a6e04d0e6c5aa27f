import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import forge from 'node-forge';
import type { DeviceCertView } from '../api/index.js';
import { PbxError, type Clock, type Logger, type Random, writeFileAtomic } from '../core/index.js';
import { type KeyGenerator, nativeRsaKeyGen, randomSerial } from './issue.js';
import { CERT_MODE, type Pki } from './store.js';
import { parseCert, splitPem } from './x509.js';

/**
 * Device certificates (issue 12): client certificates the box's CA issues for
 * a phone or a softphone, bound to one account. The registry (pki/devices.json)
 * keeps each one's serial, account and SHA-256 fingerprint, never a key; the
 * key leaves the box once, inside a PKCS#12 sealed with a passphrase made for
 * that download and not kept. A revoked certificate stays in the registry, so
 * the registrar refuses it and the box closes the connections that carry it.
 */

export const DEVICES_FILE = 'devices.json';
/** Uploaded vendor CAs (a phone's factory certificate chains to one), one PEM file each. */
export const VENDOR_CA_DIR = 'vendor-ca';
export const MAX_DEVICE_CERTS = 4000;
/** A one-time passphrase: 20 letters and digits, about 115 bits. */
export const PASSPHRASE_LENGTH = 20;
const PASSPHRASE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

export interface IssuedDevice {
  readonly view: DeviceCertView;
  readonly certPem: string;
  /** The PKCS#12 (key, certificate, CA) as DER. */
  readonly p12: Buffer;
  readonly passphrase: string;
}

export interface DeviceCertsOptions {
  readonly pki: Pki;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  readonly keyGen?: KeyGenerator;
}

export type RevokeListener = (view: DeviceCertView) => void;

export function makePassphrase(random: Random, length = PASSPHRASE_LENGTH): string {
  let out = '';
  for (let i = 0; i < length; i++) out += PASSPHRASE_ALPHABET[random.int(PASSPHRASE_ALPHABET.length)];
  return out;
}

/** Node writes fingerprints as "AB:CD:..."; the registry keeps that form. */
function normFingerprint(fp: string): string {
  return fp.toUpperCase();
}

export class DeviceCerts {
  #list: DeviceCertView[] = [];
  readonly #path: string;
  readonly #listeners = new Set<RevokeListener>();
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly o: DeviceCertsOptions) {
    this.#path = join(o.pki.paths.dir, DEVICES_FILE);
  }

  static async open(o: DeviceCertsOptions): Promise<DeviceCerts> {
    const d = new DeviceCerts(o);
    let text: string | null = null;
    try { text = await readFile(d.#path, 'utf8'); } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (text !== null) {
      try {
        const parsed = JSON.parse(text) as { devices?: unknown };
        if (Array.isArray(parsed.devices)) d.#list = parsed.devices.filter(isView);
      } catch {
        o.logger.error({ file: d.#path }, 'device certificate registry unreadable; starting empty (issued certificates no longer bind)');
      }
    }
    return d;
  }

  list(): readonly DeviceCertView[] {
    return this.#list;
  }

  onRevoke(fn: RevokeListener): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /**
   * True when the certificate with this SHA-256 fingerprint was issued by the
   * box for this extension, is not revoked and has not expired.
   */
  binds(extension: string, fingerprint256: string | undefined): boolean {
    if (fingerprint256 === undefined) return false;
    const fp = normFingerprint(fingerprint256);
    const now = this.o.clock.now();
    return this.#list.some((d) => d.sha256 === fp && d.extension === extension && d.revokedAt === null && Date.parse(d.notAfter) > now);
  }

  /** The registry entry of a fingerprint, if the box issued that certificate. */
  byFingerprint(fingerprint256: string): DeviceCertView | undefined {
    const fp = normFingerprint(fingerprint256);
    return this.#list.find((d) => d.sha256 === fp);
  }

  /** Issue a certificate for `extension` (CN = extension, SAN URI sip:EXT@realm). */
  issue(extension: string, realm: string, passphrase?: string): Promise<IssuedDevice> {
    const run = this.#queue.then(() => this.#issue(extension, realm, passphrase));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #issue(extension: string, realm: string, given?: string): Promise<IssuedDevice> {
    if (this.#list.length >= MAX_DEVICE_CERTS) throw new PbxError('limit', `at most ${MAX_DEVICE_CERTS} device certificates`);
    if (given !== undefined && (given.length < 8 || given.length > 128)) throw new PbxError('config', 'passphrase must be 8 to 128 characters');
    const { pki, clock, random } = this.o;
    const keys = await (this.o.keyGen ?? nativeRsaKeyGen)();
    const serial = randomSerial(random);
    const certPem = pki.signDevice({
      publicKeyPem: keys.publicKeyPem, commonName: extension, sans: [{ type: 'uri', value: `sip:${extension}@${realm}` }], serial,
    });
    const parsed = parseCert(certPem);
    const passphrase = given ?? makePassphrase(random);
    const asn1 = forge.pkcs12.toPkcs12Asn1(
      forge.pki.privateKeyFromPem(keys.privateKeyPem),
      [forge.pki.certificateFromPem(certPem), forge.pki.certificateFromPem(pki.caCertPem)],
      passphrase,
      { algorithm: 'aes256', friendlyName: `ext ${extension}`, generateLocalKeyId: true },
    );
    const p12 = Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary');
    const view: DeviceCertView = {
      serial: parsed.serial, extension, sha256: normFingerprint(parsed.x509.fingerprint256),
      issuedAt: new Date(clock.now()).toISOString(), notAfter: parsed.notAfter.toISOString(), revokedAt: null,
    };
    this.#list = [...this.#list, view];
    await this.#save();
    this.o.logger.info({ serial: view.serial, extension }, 'device certificate issued');
    return { view, certPem, p12, passphrase };
  }

  /** Revoke by serial (hex, any case); the listeners close live connections that carry it. */
  revoke(serial: string): Promise<DeviceCertView> {
    const run = this.#queue.then(async () => {
      const want = serial.replace(/:/g, '').toUpperCase();
      const i = this.#list.findIndex((d) => d.serial === want);
      const old = this.#list[i];
      if (!old) throw new PbxError('not-found', `no device certificate with serial ${serial}`);
      if (old.revokedAt !== null) return old;
      const view: DeviceCertView = { ...old, revokedAt: new Date(this.o.clock.now()).toISOString() };
      this.#list = this.#list.map((d, j) => (j === i ? view : d));
      await this.#save();
      this.o.logger.warn({ serial: view.serial, extension: view.extension }, 'device certificate revoked');
      for (const fn of this.#listeners) {
        try { fn(view); } catch { /* a listener's fault must not undo the revocation */ }
      }
      return view;
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #save(): Promise<void> {
    await writeFileAtomic(this.#path, `${JSON.stringify({ version: 1, devices: this.#list }, null, 2)}\n`, CERT_MODE);
  }
}

function isView(v: unknown): v is DeviceCertView {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.serial === 'string' && typeof r.extension === 'string' && typeof r.sha256 === 'string'
    && typeof r.notAfter === 'string' && typeof r.issuedAt === 'string' && (r.revokedAt === null || typeof r.revokedAt === 'string');
}

/** The PEM CA certificates the admin uploaded for phones' factory certificates (DATA/pki/vendor-ca/*.pem). */
export function vendorCas(pkiDir: string): string[] {
  const dir = join(pkiDir, VENDOR_CA_DIR);
  let names: string[];
  try { names = readdirSync(dir).filter((n) => /\.(pem|crt)$/i.test(n)).sort(); } catch { return []; }
  return names.flatMap((n) => {
    try { return splitPem(readFileSync(join(dir, n), 'utf8')); } catch { return []; }
  });
}
