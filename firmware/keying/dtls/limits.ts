/**
 * Named limits of the DTLS core. Everything a peer can make us hold is
 * bounded by one of these, so an endpoint's state stays small whatever
 * arrives on the media port.
 */

/** Largest datagram we read (a UDP datagram on a media port; DTLS records never legitimately exceed this). */
export const MAX_DATAGRAM = 4096;
/** Largest record fragment: RFC 6347 4.1 / RFC 5246 6.2.3 allow 2^14 + 2048 for ciphertext. */
export const MAX_RECORD_FRAGMENT = 16384 + 2048;
/** Records in one datagram we look at; the rest are dropped. */
export const MAX_RECORDS_PER_DATAGRAM = 16;
/** Largest handshake message we reassemble (a single self-signed certificate is far smaller). */
export const MAX_HANDSHAKE_MESSAGE = 16384;
/** Fragments accepted for one handshake message before it is abandoned. */
export const MAX_FRAGMENTS_PER_MESSAGE = 64;
/** Messages ahead of the next expected message_seq that are buffered; later ones are dropped. */
export const MAX_PENDING_MESSAGES = 8;
/** Records of the next epoch that arrive before its keys exist and are kept to be read once they do. */
export const MAX_EARLY_RECORDS = 8;
/** Certificates in a Certificate message we accept (WebRTC peers send one). */
export const MAX_CERTIFICATES = 4;
/** Extensions in a hello. */
export const MAX_EXTENSIONS = 64;
/** Cipher suites / SRTP profiles / groups / signature algorithms listed in a hello. */
export const MAX_LIST_ENTRIES = 256;
/** Cookie length (RFC 6347 4.2.1: at most 255; ours is 32). */
export const MAX_COOKIE = 255;
/** Replay window per epoch (RFC 6347 4.1.2.6: a 64-record window is the usual size). */
export const REPLAY_WINDOW = 64;

/** RFC 6347 4.2.4.1: the retransmission timer starts at 1 s ... */
export const INITIAL_RETRANSMIT_MS = 1000;
/** ... doubles on each expiry up to 60 s ... */
export const MAX_RETRANSMIT_MS = 60000;
/** ... and the handshake is abandoned after this many expiries of one flight (1+2+4+8+16+32+60 s ≈ 2 min). */
export const MAX_RETRANSMITS = 6;
/** Default path MTU for handshake datagrams (fits inside a UDP datagram over most paths, also over a VPN). */
export const DEFAULT_MTU = 1200;
/** Smallest MTU an endpoint accepts (room for headers and some handshake bytes). */
export const MIN_MTU = 128;
/** A cookie is honoured for this long (two cookie secrets are kept: current and previous). */
export const COOKIE_LIFETIME_MS = 60000;
/** A flight is sent again on the peer's repeat at most this often (a spoofed repeat must not make us an amplifier). */
export const MIN_REPEAT_RETRANSMIT_MS = 250;
