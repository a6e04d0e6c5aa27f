/** SIP digest authentication: server verifier, client helper, throttle. */
export { type DigestAlgorithm, DIGEST_ALGORITHMS, ha1, digestResponse, type DigestResponseInput } from './hash.js';
export {
  DigestServer,
  type DigestServerOptions,
  type DigestRequest,
  type DigestFailure,
  type DigestVerifyResult,
  type Ha1Lookup,
  DEFAULT_NONCE_LIFETIME_MS,
  MAX_TRACKED_NONCES,
  SECRET_BYTES,
} from './server.js';
export { digestAuthorization, type DigestClientInput } from './client.js';
export {
  AuthThrottle,
  type AuthThrottleOptions,
  type BlockedSource,
  DEFAULT_THROTTLE_LIMIT,
  DEFAULT_THROTTLE_WINDOW_MS,
  DEFAULT_THROTTLE_BLOCK_MS,
} from './throttle.js';
export { parseAuthParams, type AuthParamsResult } from './params.js';
export {
  GuessGuard,
  type GuessGuardOptions,
  type GuessWindow,
  type GuessLockout,
  type AuthBlock,
  authBlocks,
  DEFAULT_GUESS_WINDOWS,
  TRUSTED_SOURCE_MS,
  guessWindowsOf,
  type GuessLimits,
} from './guess.js';
