/** Key agreement for SRTP: SDES today; DTLS-SRTP and ZRTP join here. */
export * from './sdes/index.js';
