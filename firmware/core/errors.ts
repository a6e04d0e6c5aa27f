/**
 * The small catalogue of error codes the firmware uses. Tests assert the code,
 * never the message text. Each layer maps a code to its protocol's reply
 * (a SIP parse error -> 400, an unsupported offer -> 488, ...).
 */
export type ErrorCode =
  | 'parse'          // bytes that do not form a valid message
  | 'limit'          // a size or count limit was exceeded
  | 'protocol'       // well-formed but breaks the protocol's rules
  | 'invalid-state'  // an operation the state machine does not allow now
  | 'transport'      // a socket or connection failed
  | 'auth'           // authentication failed or is required
  | 'config'         // configuration is invalid
  | 'not-found'      // the thing named does not exist
  | 'conflict';      // the thing already exists / clashes

export class PbxError extends Error {
  override readonly name = 'PbxError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Byte offset for parse errors, where known. */
    readonly offset?: number,
  ) {
    super(message);
  }
}

export function isPbxError(e: unknown, code?: ErrorCode): e is PbxError {
  return e instanceof PbxError && (code === undefined || e.code === code);
}
