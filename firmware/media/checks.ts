/**
 * Requests may cross a thread boundary (and come from JSON): every field is
 * checked for its shape rather than trusted for its type, and what the
 * engine keeps is a fresh copy, never the caller's object.
 */
import { PbxError } from '../core/index.js';
import type { Endpoint, LegId, LegSecurity, PayloadTypeMap, RemoteMedia } from './api.js';
import { PT_NONE } from './destination.js';
import type { SrtpSessionOptions } from './srtp/index.js';

export const MAX_SESSION_ID = 256;
export const MAX_LEG_ID = 64;
/** Legs in one session: a conference of a small office is well below this. */
export const MAX_LEGS_PER_SESSION = 32;

const LEG_ID = /^[A-Za-z0-9._:-]+$/;

export function checkSessionId(id: unknown): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_SESSION_ID) {
    throw new PbxError('protocol', 'bad media session id');
  }
  return id;
}

export function checkLegId(id: unknown, what = 'leg'): LegId {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_LEG_ID || !LEG_ID.test(id)) {
    throw new PbxError('protocol', `bad ${what} id`);
  }
  return id;
}

const DIRECTIONS: ReadonlySet<string> = new Set(['sendrecv', 'sendonly', 'recvonly', 'inactive']);

function checkEndpoint(e: Endpoint | undefined, what: string): Endpoint {
  if (!e || typeof e !== 'object' || typeof e.address !== 'string' || !Number.isInteger(e.port) || e.port < 0 || e.port > 65535) {
    throw new PbxError('protocol', `bad ${what} endpoint`);
  }
  return { address: e.address, port: e.port };
}

export function checkRemote(r: unknown): RemoteMedia {
  if (!r || typeof r !== 'object') throw new PbxError('protocol', 'missing remote media');
  const m = r as RemoteMedia;
  const rtp = checkEndpoint(m.rtp, 'rtp');
  const rtcp = checkEndpoint(m.rtcp, 'rtcp');
  if (typeof m.direction !== 'string' || !DIRECTIONS.has(m.direction)) throw new PbxError('protocol', 'bad direction');
  return { rtp, rtcp, rtcpMux: m.rtcpMux === true, direction: m.direction };
}

const SECURITY_KINDS: ReadonlySet<string> = new Set(['rtp', 'srtp', 'srtp-relay', 'srtp-pending', 'zrtp', 'dtls']);

/** The shape only; SrtpLeg checks the keys themselves (PbxError 'config'). */
export function checkSecurity(l: unknown): LegSecurity {
  const s = l as LegSecurity | null;
  if (!s || typeof s !== 'object' || typeof s.kind !== 'string' || !SECURITY_KINDS.has(s.kind)) {
    throw new PbxError('protocol', 'bad leg security');
  }
  if (s.kind === 'srtp' && !(srtpKeysShaped(s.rx) && srtpKeysShaped(s.tx))) {
    throw new PbxError('protocol', 'SRTP leg security needs rx and tx keys');
  }
  if (s.kind === 'zrtp') checkZrtpSpec(s.zrtp);
  if (s.kind === 'dtls') checkDtlsSpec(s.dtls);
  return s;
}

/** A ZRTP leg's spec: a 32-byte H0, an a=zrtp-hash value of sane size, booleans. */
function checkZrtpSpec(z: unknown): void {
  const o = z as Record<string, unknown> | null;
  const ok = !!o && typeof o === 'object' && o.h0 instanceof Uint8Array && o.h0.length === 32
    && (o.peerHelloHash === undefined || (typeof o.peerHelloHash === 'string' && o.peerHelloHash.length <= 100))
    && (o.mitm === undefined || typeof o.mitm === 'boolean') && (o.enroll === undefined || typeof o.enroll === 'boolean');
  if (!ok) throw new PbxError('protocol', 'ZRTP leg security needs a 32-byte h0');
}

const shortText = (v: unknown, max: number): boolean => typeof v === 'string' && v.length > 0 && v.length <= max;

/** A DTLS leg's spec: a role, a fingerprint of sane size, profile names, an association number, ICE credentials. */
function checkDtlsSpec(d: unknown): void {
  const o = d as Record<string, unknown> | null;
  const fp = o?.fingerprint as Record<string, unknown> | undefined;
  const ice = o?.ice as Record<string, unknown> | undefined;
  const ok = !!o && typeof o === 'object' && (o.role === 'client' || o.role === 'server')
    && !!fp && typeof fp === 'object' && shortText(fp.algorithm, 16) && shortText(fp.value, 200)
    && Number.isSafeInteger(o.association)
    && (o.profiles === undefined || (Array.isArray(o.profiles) && o.profiles.length <= 8 && o.profiles.every((p) => shortText(p, 64))))
    && (ice === undefined || (typeof ice === 'object' && shortText(ice.localUfrag, 256) && shortText(ice.localPwd, 256)
      && (ice.remoteUfrag === undefined || shortText(ice.remoteUfrag, 256))));
  if (!ok) throw new PbxError('protocol', 'DTLS leg security needs a role, the peer fingerprint and an association');
}

/** Key material is bytes (a worker's structured clone keeps them so); SrtpSession checks lengths and the rest. */
function srtpKeysShaped(o: unknown): boolean {
  if (!o || typeof o !== 'object') return false;
  const k = o as SrtpSessionOptions;
  return k.masterKey instanceof Uint8Array && k.masterSalt instanceof Uint8Array && (k.mki === undefined || k.mki instanceof Uint8Array);
}

export function checkOptionalBoolean(v: unknown, what: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new PbxError('protocol', `bad ${what}`);
  return v;
}

/** A payload type map as the lookup table the packet path uses, and a clean copy for stats. */
export function ptTable(map: unknown): { table: Int16Array; map: PayloadTypeMap } {
  if (!map || typeof map !== 'object' || Array.isArray(map)) throw new PbxError('protocol', 'bad payload type map');
  const t = new Int16Array(128).fill(PT_NONE);
  const copy: Record<number, number> = {};
  for (const [k, v] of Object.entries(map as Record<string, unknown>)) {
    const from = /^[0-9]{1,3}$/.test(k) ? Number(k) : -1;
    if (!Number.isInteger(from) || from < 0 || from > 127 || typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 127) {
      throw new PbxError('protocol', `bad payload type mapping ${k} -> ${String(v)}`);
    }
    t[from] = v;
    copy[from] = v;
  }
  return { table: t, map: copy };
}

/** The longest PCM a 'play' takes: ten minutes at 8 kHz. */
export const MAX_PLAY_SAMPLES = 8000 * 600;
/** Tap and mixer names: the same alphabet and length as leg ids. */
export const MAX_NAME = MAX_LEG_ID;

const CODECS: ReadonlySet<string> = new Set(['PCMU', 'PCMA']);

export function checkCodec(c: unknown): 'PCMU' | 'PCMA' {
  if (typeof c !== 'string' || !CODECS.has(c)) throw new PbxError('protocol', 'bad codec (PCMU or PCMA)');
  return c as 'PCMU' | 'PCMA';
}

export function checkPayloadType(pt: unknown): number {
  if (typeof pt !== 'number' || !Number.isInteger(pt) || pt < 0 || pt > 127) throw new PbxError('protocol', 'bad payload type');
  return pt;
}

/** A tap id or mixer name. */
export function checkName(id: unknown, what: string): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_NAME || !LEG_ID.test(id)) {
    throw new PbxError('protocol', `bad ${what}`);
  }
  return id;
}

export function checkPcm(pcm: unknown): Int16Array {
  if (!(pcm instanceof Int16Array) || pcm.length === 0) throw new PbxError('protocol', 'play needs 8 kHz linear PCM as a non-empty Int16Array');
  if (pcm.length > MAX_PLAY_SAMPLES) throw new PbxError('limit', 'the PCM to play is longer than ten minutes');
  return pcm;
}

/** A tap's legs: 1..MAX_LEGS_PER_SESSION distinct, well-formed ids. */
export function checkLegList(legs: unknown): LegId[] {
  if (!Array.isArray(legs) || legs.length === 0 || legs.length > MAX_LEGS_PER_SESSION) throw new PbxError('protocol', 'bad tap leg list');
  const out = legs.map((l) => checkLegId(l, 'tapped leg'));
  if (new Set(out).size !== out.length) throw new PbxError('protocol', 'a leg is listed twice in a tap');
  return out;
}

/** The most a sink spec may weigh as JSON. */
export const MAX_SINK_SPEC = 4096;

/** A sink spec: a plain serialisable object, copied (the factory never sees the caller's object). */
export function checkSinkSpec(spec: unknown): { spec: Readonly<Record<string, unknown>>; json: string } {
  if (!spec || typeof spec !== 'object' || Array.isArray(spec) || ArrayBuffer.isView(spec)) throw new PbxError('protocol', 'bad tap sink spec');
  let copy: Record<string, unknown>;
  let json: string;
  try {
    copy = structuredClone(spec) as Record<string, unknown>;
    json = JSON.stringify(copy);
  } catch {
    throw new PbxError('protocol', 'a tap sink spec must be serialisable');
  }
  if (json.length > MAX_SINK_SPEC) throw new PbxError('limit', 'tap sink spec too large');
  return { spec: Object.freeze(copy), json };
}
