/** DTLS 1.2 (RFC 6347) keying SRTP (RFC 5764), and the DTLS-SRTP leg keying for SDP (RFC 5763, RFC 8842): the public face of firmware/keying/dtls. */
export {
  DtlsEndpoint, DTLS_COUNTER, DTLS_DROP_PREFIX,
  type DtlsEndpointOptions, type DtlsConnected, type DtlsFailure, type DtlsFailureCode, type DtlsPeer, type DtlsRole, type DtlsState, type DtlsDrop,
} from './endpoint.js';
export {
  generateCertificate, certificateFrom, fingerprint, formatFingerprint, parseFingerprint, fingerprintMatches, peerPublicKey,
  FINGERPRINT_ALGORITHMS, DEFAULT_CERT_VALID_DAYS,
  derSequence, derSet, derOid, derUnsigned, derTime, derBitString, derOctetString, derExplicit, derNull, derUtf8, derBoolean,
  type DtlsCertificate, type Fingerprint, type FingerprintAlgorithm, type CertificateOptions,
} from './cert.js';
export {
  CIPHER_SUITES, CIPHER_SUITE_NAMES, SRTP_PROFILES, SRTP_PROFILE_NAMES, DEFAULT_SRTP_PROFILES, SRTP_EXPORTER_LABEL, GROUPS, SIGNATURE_SCHEMES,
  prf, extendedMasterSecret, recordKeys, finishedData, exportKeyingMaterial, exportLength, splitSrtpKeys, srtpProfileByName, srtpProfileByCode,
  ephemeralKey, signWith, verifyWith,
  type CipherSuite, type CipherSuiteName, type SrtpProfile, type SrtpProfileName, type GroupName, type SignatureSchemeName, type DtlsSrtpKeys,
  type EphemeralKey, type RecordKeys,
} from './crypto.js';
export {
  parseRecords, serializeRecord, protectFragment, unprotectFragment, isDtlsDatagram, ReplayWindow as DtlsReplayWindow, ContentType, DTLS12, DTLS10,
  RECORD_HEADER, AEAD_OVERHEAD,
  type DtlsRecord, type AeadKeys, type ContentTypeValue,
} from './record.js';
export {
  parseHandshakeFragments, serializeFragment, fragmentMessage, transcriptBytes, Reassembler, HandshakeType, ExtensionType, AlertDescription,
  parseClientHello, serializeClientHello, parseServerHello, serializeServerHello, parseHelloVerifyRequest, serializeHelloVerifyRequest,
  parseCertificate, serializeCertificate, parseServerKeyExchange, serializeServerKeyExchange, serverKeyParams,
  parseCertificateRequest, serializeCertificateRequest, parseClientKeyExchange, serializeClientKeyExchange,
  parseCertificateVerify, serializeCertificateVerify, parseUseSrtp, serializeUseSrtp, parseU16ListExtension, serializeU16ListExtension,
  parsePointFormats, parseRenegotiationInfo, parseAlert, serializeAlert, findExtension, HANDSHAKE_HEADER,
  type HandshakeFragment, type HandshakeMessage, type HandshakeTypeValue, type ClientHello, type ServerHello, type HelloVerifyRequest,
  type ServerKeyExchange, type CertificateRequest, type DigitallySigned, type UseSrtp, type Extension, type Alert, type ReassemblyDrop,
} from './handshake.js';
export * from './limits.js';
export { type Parsed } from './wire.js';
export {
  dtlsOfMedia, withSessionDtls, parseSetup, fingerprintAttribute, setupAttribute, DTLS_SDP_COUNTER_PREFIX,
  type DtlsSetup, type DtlsMedia,
} from './sdp.js';
export { DtlsLeg, type DtlsLegOptions, type DtlsLegEndpoint } from './leg.js';
export { fuzzDtlsEndpoint, mutate as mutateDtlsDatagram, type FuzzReport } from './fuzz.js';
export { DtlsBox, type DtlsBoxOptions } from './agent.js';
export { DtlsRelayLeg } from './relay.js';
