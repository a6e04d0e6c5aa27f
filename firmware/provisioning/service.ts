import { appendFile, mkdir, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { PhoneView, ProvisionFetch } from '../api/index.js';
import type { ConfigStore, ReadonlyConfig } from '../config/index.js';
import { type Clock, type Counters, type Logger, writeFileAtomic } from '../core/index.js';
import { DigestServer } from '../sip/digest/index.js';
import { type FileKind, type VendorName, normalizeMac, parseFileName, parseUserAgent, vendorOfKind } from './files.js';
import {
  type GeneratedFile, type PhoneProfile, baresipAccounts, bootstrapFile, grandstreamXml, linphoneRc, polycomMaster, polycomPhone, snomXml, yealinkCfg,
} from './vendors.js';

/**
 * The provisioning service (issue 12): decides what a phone's request for a
 * file under /provision/ gets, and logs every fetch. Transport-free: the
 * admin server hands in the request's facts (HTTPS or not, the client
 * certificate it presented, its Authorization header) and sends back what
 * this returns.
 *
 * A MAC address alone never yields a password (seed 003, and the leak of
 * guessable provisioning URLs): a file carries one only when the phone
 * authenticated, by a client certificate naming its MAC (a vendor's factory
 * certificate, or one the box issued for its account), by its own HTTP
 * digest, or inside the window the admin opened for that MAC; and then only
 * as its password mode allows (never; once, until the admin resets the flag;
 * always). Plain HTTP carries the CA and a bootstrap pointing at HTTPS, the
 * same for any MAC, so it tells a guesser nothing, not even which MACs exist.
 */

export { PROVISION_REALM } from '../config/index.js';
export const PROVISION_DIR = 'provisioning';
export const FETCH_LOG_FILE = 'fetches.jsonl';
export const SEEN_FILE = 'phones-seen.json';
/** The fetch log rolls over to fetches.jsonl.1 past this size. */
export const FETCH_LOG_MAX_BYTES = 1024 * 1024;
/** Fetches kept in memory for the page. */
export const RECENT_FETCHES = 200;
/** Phones that asked but were never assigned: at most this many remembered. */
export const MAX_SEEN = 1000;

export interface ClientCertFacts {
  /** Chained to the box's CA or an uploaded vendor CA. */
  readonly authorized: boolean;
  readonly subjectCn: string | null;
  /** Subject alternative names as Node writes them ("DNS:x, URI:sip:..."). */
  readonly subjectAltName: string | null;
  readonly fingerprint256: string;
}

export interface ProvisionRequest {
  /** The file name after /provision/. */
  readonly file: string;
  readonly secure: boolean;
  readonly source: string;
  readonly method: string;
  readonly userAgent?: string | undefined;
  readonly authorization?: string | undefined;
  readonly clientCert?: ClientCertFacts | null;
}

export interface ProvisionResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface BoxAddress {
  readonly host: string;
  readonly sipTlsPort: number;
  readonly httpsPort: number;
  readonly httpPort: number;
}

export interface ProvisioningDeps {
  readonly store: ConfigStore;
  readonly dataDir: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly counters: Counters;
  readonly caPem: () => string;
  readonly box: () => BoxAddress;
  /** A box-issued device certificate's account (pki DeviceCerts), for phones that present one. */
  readonly deviceCertExtension?: (fingerprint256: string) => string | undefined;
  /** The digest verifier for per-device fetch credentials (realm PROVISION_REALM). */
  readonly digest: DigestServer;
  readonly product?: string;
}

interface Seen {
  mac: string;
  vendor: VendorName | null;
  model: string | null;
  firmware: string | null;
  lastFetch: string;
  lastSource: string;
}

type AuthHow = 'certificate' | 'digest' | 'window' | 'none';
type PhoneEntry = ReadonlyConfig['phones'][number];

const hostPart = (h: string): string => (h.includes(':') ? `[${h}]` : h);

export class ProvisioningService {
  readonly #seen = new Map<string, Seen>();
  readonly #recent: ProvisionFetch[] = [];
  readonly #dir: string;
  #writes: Promise<unknown> = Promise.resolve();

  private constructor(private readonly d: ProvisioningDeps) {
    this.#dir = join(d.dataDir, PROVISION_DIR);
  }

  static async open(d: ProvisioningDeps): Promise<ProvisioningService> {
    const s = new ProvisioningService(d);
    await mkdir(s.#dir, { recursive: true, mode: 0o700 });
    try {
      const raw = JSON.parse(await readFile(join(s.#dir, SEEN_FILE), 'utf8')) as { phones?: unknown };
      if (Array.isArray(raw.phones)) {
        for (const p of raw.phones as Seen[]) if (typeof p?.mac === 'string' && normalizeMac(p.mac) === p.mac) s.#seen.set(p.mac, p);
      }
    } catch { /* first start, or unreadable: the list fills again from the next fetches */ }
    return s;
  }

  get httpsBase(): string {
    const b = this.d.box();
    return `https://${hostPart(b.host)}:${b.httpsPort}/provision/`;
  }

  get httpBase(): string {
    const b = this.d.box();
    return `http://${hostPart(b.host)}:${b.httpPort}/provision/`;
  }

  /** What the office router's DHCP option 66 (or 160 for Polycom) should carry. */
  get dhcpOption(): string {
    return this.httpBase;
  }

  /** The phones the page lists: assigned ones and ones that asked, never a secret. */
  phones(): PhoneView[] {
    const cfg = this.d.store.data;
    const out = new Map<string, PhoneView>();
    for (const p of cfg.phones) out.set(p.mac, phoneView(p, this.#seen.get(p.mac)));
    for (const s of this.#seen.values()) if (!out.has(s.mac)) out.set(s.mac, phoneView(undefined, s));
    return [...out.values()].sort((a, b) => a.mac.localeCompare(b.mac));
  }

  recentFetches(): readonly ProvisionFetch[] {
    return this.#recent;
  }

  /** The phone's main file as it would be generated, with the password masked (the page's preview). */
  preview(mac: string): { file: string; body: string } | null {
    const phone = this.d.store.data.phones.find((p) => p.mac === mac);
    if (!phone) return null;
    const profile = this.#profile(phone, phone.sipPassword === null ? null : '********');
    if (!profile) return null;
    const kind = parseFileName(defaultName(phone));
    if (!kind) return null;
    const f = this.#generate(kind, phone.vendor, profile);
    return f ? { file: defaultName(phone), body: f.body } : null;
  }

  async handle(req: ProvisionRequest): Promise<ProvisionResponse> {
    const { counters } = this.d;
    const kind = parseFileName(req.file);
    const ua = parseUserAgent(req.userAgent);
    const mac = kind && 'mac' in kind ? kind.mac : null;
    const base = { at: new Date(this.d.clock.now()).toISOString(), mac, source: req.source, model: ua.model, file: req.file.slice(0, 64), secure: req.secure };
    const done = (r: ProvisionResponse, auth: AuthHow, vendor: VendorName | null, withPassword: boolean): ProvisionResponse => {
      this.#logFetch({ ...base, vendor, auth, status: r.status, withPassword });
      counters.inc(`provision.${r.status === 200 ? (withPassword ? 'served-password' : 'served') : `status-${r.status}`}`);
      return r;
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return done(text(405, 'method not allowed\n'), 'none', null, false);
    if (!kind) return done(text(404, 'not found\n'), 'none', null, false);
    if (kind.kind === 'ca') return done({ status: 200, headers: { 'content-type': 'application/x-pem-file' }, body: this.d.caPem() }, 'none', null, false);
    if (mac !== null) this.#noteSeen(mac, ua, req.source);

    // Plain HTTP: the CA and the way to HTTPS, the same whatever the MAC.
    if (!req.secure) {
      const vendor = vendorOfKind(kind) ?? ua.vendor ?? 'yealink';
      const f = kind.kind === 'polycom-master'
        ? polycomMaster(null)
        : bootstrapFile(vendor, {
          caPem: this.d.caPem(), httpsBase: this.httpsBase, caHttpUrl: `${this.httpBase}ca.crt`, product: this.product,
        });
      return done(ok(f), 'none', vendor, false);
    }

    if (kind.kind === 'polycom-master') return done(ok(polycomMaster(null)), 'none', 'polycom', false);
    const phone = mac === null ? undefined : this.d.store.data.phones.find((p) => p.mac === mac);
    if (!phone) return done(text(404, 'not found\n'), 'none', vendorOfKind(kind) ?? ua.vendor, false);
    // <mac>.cfg for a Polycom is its master config, which names the per-phone file.
    if (kind.kind === 'mac-cfg' && phone.vendor === 'polycom') return done(ok(polycomMaster(phone.mac)), 'none', 'polycom', false);
    const asked = vendorOfKind(kind) ?? (kind.kind === 'mac-cfg' ? 'yealink' : null);
    if (asked !== phone.vendor) return done(text(404, 'not found\n'), 'none', asked, false);

    const auth = this.#authenticate(phone, req);
    if (auth === 'none' && phone.fetchHa1Md5 !== null) {
      counters.inc('provision.challenged');
      const challenges = this.d.digest.challenge({ stale: false });
      return done({ status: 401, headers: { 'www-authenticate': challenges[0] ?? '', 'content-type': 'text/plain; charset=utf-8' }, body: 'authentication required\n' }, 'none', phone.vendor, false);
    }
    const give = auth !== 'none' && phone.sipPassword !== null
      && (phone.passwordMode === 'always' || (phone.passwordMode === 'once' && !phone.passwordServed));
    const profile = this.#profile(phone, give ? phone.sipPassword : null);
    if (!profile) return done(text(404, 'not found\n'), auth, phone.vendor, false);
    const f = this.#generate(kind, phone.vendor, profile);
    if (!f) return done(text(404, 'not found\n'), auth, phone.vendor, false);
    if (give || auth === 'window') {
      // Once: the flag is set before the file leaves, so two racing fetches cannot both carry it.
      // A window admits one authenticated fetch and closes.
      await this.d.store.update((c) => {
        const p = c.phones.find((x) => x.mac === phone.mac);
        if (!p) return;
        if (give && p.passwordMode === 'once') p.passwordServed = true;
        if (auth === 'window') p.windowUntil = null;
      });
    }
    this.d.log.info({ mac: phone.mac, extension: phone.extension, vendor: phone.vendor, auth, withPassword: give, source: req.source }, 'provisioning file served');
    return done(ok(f), auth, phone.vendor, give);
  }

  get product(): string {
    return this.d.product ?? 'SecurePBX';
  }

  #authenticate(phone: PhoneEntry, req: ProvisionRequest): AuthHow {
    const c = req.clientCert;
    if (c?.authorized) {
      const names = `${c.subjectCn ?? ''} ${c.subjectAltName ?? ''}`;
      const macs = (names.match(/[0-9a-f]{2}(?:[:-]?[0-9a-f]{2}){5}/gi) ?? []).map((m) => normalizeMac(m));
      if (macs.includes(phone.mac)) return 'certificate';
      if (this.d.deviceCertExtension?.(c.fingerprint256) === phone.extension) return 'certificate';
    }
    if (req.authorization !== undefined && phone.fetchUser !== null && phone.fetchHa1Md5 !== null && phone.fetchHa1Sha256 !== null) {
      const r = this.d.digest.verify({ method: req.method, authorization: req.authorization }, (user, alg) => {
        if (user !== phone.fetchUser) return undefined;
        return alg === 'SHA-256' ? phone.fetchHa1Sha256 ?? undefined : phone.fetchHa1Md5 ?? undefined;
      });
      if (r.ok) return 'digest';
      this.d.counters.inc(`provision.digest-${r.reason}`);
    }
    if (phone.windowUntil !== null && Date.parse(phone.windowUntil) > this.d.clock.now()) return 'window';
    return 'none';
  }

  #profile(phone: PhoneEntry, password: string | null): PhoneProfile | null {
    const cfg = this.d.store.data;
    const acct = cfg.accounts.find((a) => a.extension === phone.extension);
    if (!acct) return null;
    const box = this.d.box();
    return {
      mac: phone.mac, extension: acct.extension, displayName: acct.name || acct.extension, password, realm: cfg.sip.realm,
      host: box.host, sipTlsPort: box.sipTlsPort, httpsBase: this.httpsBase, caPem: this.d.caPem(),
      tlsMode: acct.tlsMode, srtp: acct.media.required.includes('sdes') || acct.tlsOnly ? 'mandatory' : 'optional',
      ntpServer: cfg.provisioning.ntpServer, timeZone: cfg.provisioning.timeZone, product: this.product,
    };
  }

  #generate(kind: FileKind, vendor: VendorName, p: PhoneProfile): GeneratedFile | null {
    switch (kind.kind) {
      case 'mac-cfg': return vendor === 'yealink' ? yealinkCfg(p) : null;
      case 'polycom-phone': return polycomPhone(p);
      case 'snom': return snomXml(p);
      case 'grandstream': return grandstreamXml(p);
      case 'baresip': return baresipAccounts(p);
      case 'linphone': return linphoneRc(p);
      default: return null;
    }
  }

  #noteSeen(mac: string, ua: ReturnType<typeof parseUserAgent>, source: string): void {
    const prev = this.#seen.get(mac);
    if (!prev && this.#seen.size >= MAX_SEEN) {
      this.d.counters.inc('provision.seen-full');
      return;
    }
    this.#seen.set(mac, {
      mac, vendor: ua.vendor ?? prev?.vendor ?? null, model: ua.model ?? prev?.model ?? null, firmware: ua.firmware ?? prev?.firmware ?? null,
      lastFetch: new Date(this.d.clock.now()).toISOString(), lastSource: source,
    });
    this.#queueWrite(() => writeFileAtomic(join(this.#dir, SEEN_FILE), `${JSON.stringify({ version: 1, phones: [...this.#seen.values()] })}\n`, 0o600));
  }

  #logFetch(f: ProvisionFetch): void {
    this.#recent.push(f);
    if (this.#recent.length > RECENT_FETCHES) this.#recent.shift();
    const path = join(this.#dir, FETCH_LOG_FILE);
    this.#queueWrite(async () => {
      try {
        if ((await stat(path)).size > FETCH_LOG_MAX_BYTES) await rename(path, `${path}.1`);
      } catch { /* no log yet */ }
      await appendFile(path, `${JSON.stringify(f)}\n`, { mode: 0o600 });
    });
  }

  #queueWrite(fn: () => Promise<unknown>): void {
    this.#writes = this.#writes.then(fn).catch((e: unknown) => {
      this.d.counters.inc('provision.write-error');
      this.d.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'provisioning log write failed');
    });
  }

  /** Resolves when every pending log write is on disk (tests, stop). */
  flush(): Promise<unknown> {
    return this.#writes;
  }
}

function defaultName(p: PhoneEntry): string {
  switch (p.vendor) {
    case 'yealink': return `${p.mac}.cfg`;
    case 'polycom': return `phone${p.mac}.cfg`;
    case 'snom': return `snomd785-${p.mac.toUpperCase()}.htm`;
    case 'grandstream': return `cfg${p.mac}.xml`;
    case 'generic': return `baresip-${p.mac}.conf`;
  }
}

function phoneView(p: PhoneEntry | undefined, s: Seen | undefined): PhoneView {
  return {
    mac: p?.mac ?? s?.mac ?? '',
    extension: p?.extension ?? null,
    vendor: p?.vendor ?? s?.vendor ?? null,
    passwordMode: p?.passwordMode ?? null,
    passwordServed: p?.passwordServed ?? false,
    hasFetchDigest: p?.fetchHa1Md5 !== null && p?.fetchHa1Md5 !== undefined,
    windowUntil: p?.windowUntil ?? null,
    model: s?.model ?? null,
    firmware: s?.firmware ?? null,
    lastFetch: s?.lastFetch ?? null,
    lastSource: s?.lastSource ?? null,
  };
}

function ok(f: GeneratedFile): ProvisionResponse {
  return { status: 200, headers: { 'content-type': f.contentType, 'cache-control': 'no-store' }, body: f.body };
}

function text(status: number, body: string): ProvisionResponse {
  return { status, headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }, body };
}
