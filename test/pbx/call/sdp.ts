/**
 * SDP as the test phones write and read it: plain text, on purpose not the
 * product's SDP module, so the tests read the box's SDP independently.
 */

const CODECS: Record<number, string> = { 0: 'PCMU/8000', 8: 'PCMA/8000', 9: 'G722/8000', 18: 'G729/8000', 101: 'telephone-event/8000' };

export interface PhoneSdp {
  readonly address: string;
  readonly port: number;
  readonly direction?: string;
  readonly version?: number;
  readonly codecs?: readonly number[];
}

export function phoneSdp(o: PhoneSdp): Buffer {
  const codecs = o.codecs ?? [0, 8, 101];
  const lines = [
    'v=0',
    `o=phone 4242 ${o.version ?? 1} IN IP4 ${o.address}`,
    's=-',
    `c=IN IP4 ${o.address}`,
    't=0 0',
    `m=audio ${o.port} RTP/AVP ${codecs.join(' ')}`,
    ...codecs.map((pt) => `a=rtpmap:${pt} ${CODECS[pt] ?? 'X/8000'}`),
    `a=${o.direction ?? 'sendrecv'}`,
  ];
  return Buffer.from(`${lines.join('\r\n')}\r\n`);
}

/** What a test checks in an SDP body. */
export interface SdpFacts {
  readonly address: string | undefined;
  readonly port: number | undefined;
  readonly direction: string;
  readonly version: number | undefined;
  readonly codecs: number[];
}

export function sdpFacts(body: Buffer | string): SdpFacts {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const m = /^m=audio (\d+) \S+((?: \d+)*)/m.exec(text);
  const dir = /^a=(sendrecv|sendonly|recvonly|inactive)\s*$/m.exec(text);
  const o = /^o=\S+ \S+ (\d+) /m.exec(text);
  return {
    address: /^c=IN IP[46] (\S+)/m.exec(text)?.[1],
    port: m ? Number(m[1]) : undefined,
    direction: dir?.[1] ?? 'sendrecv',
    version: o ? Number(o[1]) : undefined,
    codecs: m?.[2]?.trim() ? m[2].trim().split(' ').map(Number) : [],
  };
}

export function directionOf(body: Buffer): string {
  return sdpFacts(body).direction;
}

const MIRROR: Record<string, string> = { sendonly: 'recvonly', recvonly: 'sendonly', inactive: 'inactive', sendrecv: 'sendrecv' };

/** A phone's answer to an offer: its own address, the offer's voice codecs it knows, the mirrored direction. */
export function answerSdp(offer: string, me: { address: string; port: number; version: number }): Buffer {
  const f = sdpFacts(offer);
  const codecs = f.codecs.filter((pt) => pt === 0 || pt === 8 || pt === 101);
  return phoneSdp({ ...me, codecs, direction: MIRROR[f.direction] ?? 'sendrecv' });
}
