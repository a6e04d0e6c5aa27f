/**
 * The media engine's public face. Call control talks to it only through
 * the messages in api.ts (request/reply/event); the rest is exported for
 * tools and tests (parsers, allocator, socket interface).
 */
export type {
  LegId, LegSecurity, Endpoint, RemoteMedia, PayloadTypeMap, LocalMedia,
  EngineRequest, EngineReply, EngineEvent,
  LegStats, ConnectionStats, SessionStats, ReceptionReport, ZrtpLegSpec, ZrtpKeyingInfo,
} from './api.js';
export type { ZrtpAgent, ZrtpAgentFactory, ZrtpAgentHooks, ZrtpAgentSecure } from './zrtp-leg.js';
export type { DtlsLegSpec, DtlsFingerprintSpec, DtlsKeyingInfo, IceLiteSpec } from './api.js';
export type { DtlsAgent, DtlsAgentFactory, DtlsAgentHooks, DtlsAgentConnected } from './dtls-leg.js';
export { buildCheck as buildIceCheck, buildCheckSuccess as buildIceCheckSuccess, verifyCheck as verifyIceCheck } from './ice-lite.js';
export {
  MediaEngine, type MediaEngineOptions, type EngineListener,
  MAX_MEDIA_PACKET, DEFAULT_MEDIA_TIMEOUT_MS, RELATCH_SILENCE_MS, MAX_SESSION_ID, MAX_LEG_ID, MAX_LEGS_PER_SESSION,
} from './engine.js';
export { MAX_PLAY_SAMPLES, MAX_SINK_SPEC } from './checks.js';
export { type TapSink, type TapSinkFactory, MAX_TAPS_PER_SESSION } from './tap.js';
export { defaultHoldMusic, DEFAULT_HOLD_MUSIC_NOTES_HZ, DEFAULT_HOLD_MUSIC_PEAK } from './hold-music.js';
export {
  Mixer, MixerMember, JITTER_RING_SAMPLES, JITTER_DELAY_SAMPLES, MAX_MIXER_MEMBERS, type MixerMemberOptions, type MixReject,
} from './mixer.js';
export { MAX_MIXERS_PER_SESSION } from './conference.js';
export { FRAME_MS, FRAME_SAMPLES } from './frames.js';
export { PortPairAllocator, isPortBusyError, type PortRange, type PortPair } from './ports.js';
export { dgramSocketFactory, type UdpSocketLike, type UdpSocketFactory, type UdpType, type RemoteInfo } from './udp.js';
export { SrtpLeg, SRTP_OUT_RING, REKEY_OVERLAP_PACKETS, type LegTransform, type MediaKind, type SrtpLegKeys } from './transform.js';
export { classifyPacket, classifyFirstByte, type PacketClass } from './demux.js';
export {
  parseRtp, inspectRtp, newRtpView, checkRtcpCompound, parseRtcpCompound, SourceStats,
  RTP_HEADER_MIN, DEFAULT_CLOCK_RATE, RTCP_SR, RTCP_RR,
  type RtpView, type RtpHeader, type RtpParseResult, type RtpReject,
  type RtcpPacket, type RtcpReportBlock, type RtcpSenderInfo, type RtcpParseResult, type RtcpReject,
} from './rtp.js';
export {
  parseStun, buildBindingSuccess, readXorMappedAddress, addressBytes, crc32,
  STUN_MAGIC_COOKIE, STUN_BINDING_REQUEST, STUN_BINDING_SUCCESS, STUN_BINDING_INDICATION,
  type StunMessage, type StunAttribute, type StunParseResult, type StunReject, type MappedAddress,
} from './stun.js';
export * from './codec/index.js';
