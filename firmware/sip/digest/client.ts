import { type Random, cryptoRandom, PbxError } from '../../core/index.js';
import { formatAuthParams } from '../message/index.js';
import { parseAuthParams, isQuotable } from './params.js';
import { algorithmFromToken, digestResponse, ha1 } from './hash.js';

/** RFC 3261 25.1 / RFC 7616 3.4: these credential values are quoted-strings; algorithm, qop and nc are tokens. */
const CREDENTIALS_QUOTED = ['username', 'realm', 'nonce', 'uri', 'response', 'opaque', 'cnonce'];

export interface DigestClientInput {
  /** One WWW-Authenticate or Proxy-Authenticate value. */
  readonly challenge: string;
  readonly method: string;
  /** The digest-uri: the Request-URI of the request being authorised. */
  readonly uri: string;
  readonly username: string;
  readonly password: string;
  /** Nonce-count for this nonce, starting at 1 (RFC 7616 section 3.4). */
  readonly nc?: number;
  readonly cnonce?: string;
  /** Source for a cnonce when none is given. */
  readonly random?: Random;
}

/**
 * Build the Authorization value answering a Digest challenge (RFC 3261
 * section 22.4, RFC 8760): qop=auth when the challenge offers it, the RFC 2069
 * form when it offers no qop. Throws PbxError 'auth' for a challenge we cannot
 * answer (not Digest, unknown algorithm, only auth-int) and 'parse' for bytes
 * that are not a challenge. For the in-test SIP client and the benches.
 */
export function digestAuthorization(input: DigestClientInput): string {
  const parsed = parseAuthParams(input.challenge);
  if (!parsed.ok) throw new PbxError('parse', `bad challenge: ${parsed.reason}`, parsed.offset);
  if (parsed.scheme.toLowerCase() !== 'digest') throw new PbxError('auth', `unsupported scheme ${parsed.scheme}`);
  const p = parsed.params;
  const realm = p.get('realm');
  const nonce = p.get('nonce');
  if (realm === undefined || nonce === undefined) throw new PbxError('parse', 'challenge lacks realm or nonce');
  const algToken = p.get('algorithm');
  const algorithm = algorithmFromToken(algToken);
  if (algorithm === undefined) throw new PbxError('auth', `unsupported algorithm ${algToken ?? ''}`);

  // qop in a challenge is a quoted, comma-separated list of options.
  const qopOffer = p.get('qop');
  const offered = qopOffer?.split(',').map((s) => s.trim().toLowerCase());
  if (offered !== undefined && !offered.includes('auth')) throw new PbxError('auth', 'challenge offers no qop=auth');

  const nc = input.nc ?? 1;
  if (!Number.isInteger(nc) || nc < 1 || nc > 0xffffffff) throw new PbxError('protocol', 'nonce-count out of range');
  const ncHex = nc.toString(16).padStart(8, '0');
  const cnonce = input.cnonce ?? (input.random ?? cryptoRandom).token(96);
  for (const s of [input.username, input.uri, cnonce]) {
    if (!isQuotable(s)) throw new PbxError('protocol', 'control character in digest parameter');
  }

  const response = digestResponse({
    algorithm,
    ha1: ha1(algorithm, input.username, realm, input.password),
    nonce,
    method: input.method,
    uri: input.uri,
    ...(offered !== undefined ? { qop: 'auth' as const, nc: ncHex, cnonce } : {}),
  });
  const params: Record<string, string> = { username: input.username, realm, nonce, uri: input.uri, response, algorithm };
  const opaque = p.get('opaque');
  if (opaque !== undefined) params.opaque = opaque;
  if (offered !== undefined) Object.assign(params, { qop: 'auth', nc: ncHex, cnonce });
  return formatAuthParams('Digest', params, CREDENTIALS_QUOTED);
}
