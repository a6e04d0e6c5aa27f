/**
 * The JSON the /api routes (firmware/admin/api.ts) return, as the page reads
 * it. Types from firmware files with no imports of their own are used as
 * they are; the rest are restated here, because their modules pull in
 * node:crypto, node:fs or zod, which the page's type-check must not see.
 */
import type { CalleeStreamOption, CallerStreamOption } from '../../firmware/admin/explain.js';
import type { CallView, LegView } from '../../firmware/pbx/views.js';
import type { LedName, LedState } from '../../board/hal.js';

export type { CallView, LegView, LedName, LedState };

/** An error body: `{ error, code?, field?, problems? }` from the API's error handler. */
export interface Problem { readonly code: string; readonly message: string }

/** GET /api/setup. */
export interface SetupState { readonly needsSetup: boolean; readonly loggedIn: boolean }

/** POST /api/setup, POST /api/login, GET /api/session. */
export interface SessionToken { readonly csrfToken: string }

/* ---- status (control/commands.ts `status`, main.ts Appliance.status) ---- */

/** config/store.ts ConfigHealth. */
export type ConfigHealth =
  | { readonly ok: true }
  | { readonly ok: false; readonly problem: string; readonly brokenCopy: string };

/** A registered phone: pbx/location.ts Binding, as Appliance.status lists it. */
export interface RegistrationView {
  readonly extension: string;
  readonly contact: string;
  readonly transport: 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';
  readonly source: { readonly address: string; readonly port: number };
  readonly expiresAt: number;
  readonly registeredAt: number;
  readonly userAgent?: string;
}

/** sip/digest/throttle.ts BlockedSource. */
export interface BlockedSource {
  readonly address: string;
  readonly until: number;
  readonly failures: number;
}

/** GET /api/status and the `status` live event. The running appliance fills in the optional parts. */
export interface StatusReport {
  readonly running: boolean;
  readonly accounts: number;
  readonly configHealth: ConfigHealth;
  readonly registrations?: readonly RegistrationView[];
  readonly blocked?: readonly BlockedSource[];
  readonly calls?: readonly CallView[];
  readonly leds?: Readonly<Partial<Record<LedName, LedState>>>;
  readonly certificate?: { readonly notAfter: string; readonly serial: string };
}

/* ---- extensions ---- */

/** config/accounts.ts AccountView: GET /api/accounts, PATCH /api/accounts/:extension. */
export interface AccountView {
  readonly extension: string;
  readonly name: string;
  readonly policy: string;
  readonly tlsOnly: boolean;
  readonly staticContact: string | null;
  readonly createdAt: string;
}

/** POST /api/accounts: the account, with the password when the box generated it (shown once). */
export interface AddedAccount extends AccountView { readonly password?: string }

/** POST /api/accounts/:extension/password: the password only when the box generated it. */
export interface PasswordReset { readonly extension: string; readonly password?: string }

/* ---- policies ---- */

/** config/schema.ts Policy. */
export interface Policy {
  readonly name: string;
  readonly callerStream: CallerStreamOption;
  readonly calleeStream: CalleeStreamOption;
}

/** GET /api/policies: each policy with how many extensions use it. */
export interface PolicyListEntry extends Policy { readonly accounts: number }

/* ---- certificates ---- */

/** pki/names.ts SanEntry. */
export interface SanEntry {
  readonly type: 'dns' | 'ip' | 'email' | 'uri' | 'other';
  readonly value: string;
}

/** pki/x509.ts CertInfo. */
export interface CertInfo {
  readonly subjectCn: string | null;
  readonly issuerCn: string | null;
  readonly sans: readonly SanEntry[];
  /** ISO 8601 instants. */
  readonly notBefore: string;
  readonly notAfter: string;
  readonly serial: string;
  readonly sha256: string;
  readonly sha1: string;
  readonly isCa: boolean;
}

/** GET /api/certs. */
export interface CertsInfo {
  readonly ca: CertInfo;
  readonly server: CertInfo;
  /** The server certificate was uploaded rather than issued by the box's CA. */
  readonly custom: boolean;
}

/** pki/store.ts RenewReason. */
export type RenewReason =
  | 'created' | 'missing' | 'corrupt' | 'new-ca' | 'expiring' | 'not-yet-valid' | 'names-changed' | 'manual' | 'custom';

/** pki/store.ts RenewalRecord: GET /api/certs/history lists them newest first. */
export interface RenewalRecord {
  readonly at: string;
  readonly reason: RenewReason;
  readonly oldSerial: string | null;
  readonly newSerial: string;
}

/** POST /api/certs/renew. */
export interface RenewResult { readonly record: RenewalRecord; readonly server: CertInfo }

/** The fields of POST /api/certs/custom. */
export interface CustomCertUpload {
  readonly certPem: string;
  readonly chainPem?: string;
  readonly keyPem: string;
}

/* ---- call history ---- */

/**
 * One line of calls.jsonl, GET /api/calls/history: pbx/records.ts CallRecord
 * as written, instants as ISO strings (epoch milliseconds are read as well).
 */
export interface CallRecordJson {
  readonly id: string;
  readonly caller: string;
  readonly callee: string;
  readonly startedAt: string | number;
  readonly answeredAt?: string | number;
  readonly endedAt: string | number;
  readonly endReason: string;
  readonly legs: { readonly a: LegView; readonly b?: LegView };
  readonly mode: 'relay' | 'bridge';
}
