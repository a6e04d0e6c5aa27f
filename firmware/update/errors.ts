/** Why an update bundle was refused or an install failed; tests assert the code. */
export type UpdateErrorCode =
  | 'too-large'      // the bundle or its unpacked contents exceed the limits
  | 'bad-archive'    // not a gzip'd ustar archive of the expected shape
  | 'bad-manifest'   // the manifest is missing, malformed or not for this product
  | 'bad-signature'  // no trusted vendor key signed this manifest
  | 'hash-mismatch'  // a file's size or SHA-256 differs from the manifest
  | 'missing-file'   // the manifest lists a file the bundle lacks
  | 'extra-file'     // the bundle carries a file the manifest does not list
  | 'downgrade'      // older than the running firmware, and not forced
  | 'no-keys'        // no vendor key is trusted on this box
  | 'slots';         // the slot store is missing or inconsistent

export class UpdateError extends Error {
  override readonly name = 'UpdateError';
  constructor(readonly code: UpdateErrorCode, message: string) {
    super(message);
  }
}

export function isUpdateError(e: unknown): e is UpdateError {
  return e instanceof UpdateError;
}
