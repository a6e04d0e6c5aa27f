/**
 * The TLS settings every server socket of the box uses (SIP TLS, and the admin
 * HTTPS server when it is wired to this): TLS 1.2 and 1.3 only; for TLS 1.2
 * only ephemeral ECDHE key exchange (forward secrecy) with AEAD ciphers
 * (AES-GCM, ChaCha20-Poly1305), in our order of preference; no static-RSA key
 * exchange and no CBC unless the "older phones" profile is chosen, which adds
 * ECDHE with CBC after every AEAD suite for desk phones that lack GCM.
 *
 * Client-initiated renegotiation (TLS 1.2; 1.3 has none) is refused: each one
 * costs the server a full handshake, so it is a CPU lever (RFC 5746 fixed its
 * injection flaw, not its cost). Node's own guard allows three per ten minutes
 * and then only emits an 'error' on the socket; a listener that counts the
 * error without destroying the socket (the SIP transport did) leaves the
 * connection open and the guard toothless, which is why 5061 accepted 40 of
 * 40 while the HTTPS server (whose error handler destroys) closed after 3.
 * refuseRenegotiation() closes the connection at the first attempt.
 */
import type tls from 'node:tls';

export type TlsProfile = 'modern' | 'older-phones';
export const DEFAULT_TLS_PROFILE: TlsProfile = 'modern';

export const TLS_MIN_VERSION = 'TLSv1.2' as const;
export const TLS_MAX_VERSION = 'TLSv1.3' as const;

/** TLS 1.3 suites (all AEAD, all forward secret). */
export const TLS13_SUITES: readonly string[] = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
];

/** TLS 1.2: ECDHE with AEAD only, ECDSA certificates first, then RSA. */
export const TLS12_AEAD_SUITES: readonly string[] = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
];

/** Added by the "older phones" profile, after every AEAD suite: still ECDHE, never static RSA. */
export const TLS12_LEGACY_CBC_SUITES: readonly string[] = [
  'ECDHE-ECDSA-AES128-SHA256',
  'ECDHE-RSA-AES128-SHA256',
  'ECDHE-ECDSA-AES128-SHA',
  'ECDHE-RSA-AES128-SHA',
  'ECDHE-ECDSA-AES256-SHA',
  'ECDHE-RSA-AES256-SHA',
];

/** Key-exchange groups, preferred first. */
export const TLS_GROUPS = 'X25519:P-256:P-384';

/** The OpenSSL cipher string for a profile (TLS 1.3 names mixed in, as Node accepts). */
export function tlsCipherList(profile: TlsProfile = DEFAULT_TLS_PROFILE): string {
  const tls12 = profile === 'older-phones' ? [...TLS12_AEAD_SUITES, ...TLS12_LEGACY_CBC_SUITES] : [...TLS12_AEAD_SUITES];
  return [...TLS13_SUITES, ...tls12].join(':');
}

/** The secure-context options of the policy; spread them beside key and cert. */
export function tlsServerPolicy(profile: TlsProfile = DEFAULT_TLS_PROFILE): Pick<
  tls.SecureContextOptions, 'minVersion' | 'maxVersion' | 'ciphers' | 'honorCipherOrder' | 'ecdhCurve'
> {
  return {
    minVersion: TLS_MIN_VERSION,
    maxVersion: TLS_MAX_VERSION,
    ciphers: tlsCipherList(profile),
    honorCipherOrder: true,
    ecdhCurve: TLS_GROUPS,
  };
}

/** What the page shows of the policy in force. */
export interface TlsPolicyView {
  readonly profile: TlsProfile;
  readonly versions: readonly string[];
  readonly suites: readonly string[];
  readonly clientRenegotiation: false;
}

export function tlsPolicyView(profile: TlsProfile = DEFAULT_TLS_PROFILE): TlsPolicyView {
  return {
    profile,
    versions: [TLS_MIN_VERSION, TLS_MAX_VERSION],
    suites: tlsCipherList(profile).split(':'),
    clientRenegotiation: false,
  };
}

const RENEGOTIATION_ERRORS = new Set(['ERR_TLS_RENEGOTIATION_DISABLED', 'ERR_TLS_SESSION_ATTACK']);

/** True for the errors Node raises on a client's renegotiation attempt. */
export function isRenegotiationError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && RENEGOTIATION_ERRORS.has(code);
}

/**
 * Makes the first client renegotiation on this server socket destroy it;
 * `onAttempt` runs first (count and log there). Call it on a TLSSocket a
 * server accepted, as soon as it exists.
 */
export function refuseRenegotiation(socket: tls.TLSSocket, onAttempt: () => void): void {
  socket.disableRenegotiation();
  socket.on('error', (err) => {
    if (!isRenegotiationError(err)) return;
    try {
      onAttempt();
    } finally {
      socket.destroy();
    }
  });
}
