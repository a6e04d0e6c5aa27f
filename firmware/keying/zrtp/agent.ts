/**
 * The box's ZRTP identity and the agents the media engine runs on its legs.
 *
 * One ZrtpBox per appliance: its ZID (stable across restarts, kept by
 * FileZrtpCache), its retained-secret cache, the client id and the
 * algorithms its Hellos offer. Call control asks it for the a=zrtp-hash of
 * a leg's Hello (from a fresh H0 it keeps in the leg's keying); the engine
 * makes each leg's endpoint through `agents` from the same H0, so the Hello
 * on the wire is the one the SDP announced (RFC 6189 8.1).
 */
import type { Clock, Counters, Random } from '../../core/index.js';
import type { ZrtpAgent, ZrtpAgentFactory, ZrtpLegSpec } from '../../media/index.js';
import type { ZrtpHelloSource } from '../leg/index.js';
import type { ZrtpCache } from './cache.js';
import { srtpSuiteOf } from './crypto.js';
import { ZrtpEndpoint, helloOf, type ZrtpSupported } from './endpoint.js';

/** Our Hello's client identifier (RFC 6189 5.2: 16 characters at most). */
export const BOX_CLIENT_ID = 'secure-pbx 1';

export type { ZrtpHelloSource };

export interface ZrtpBoxOptions {
  readonly zid: Buffer;
  readonly cache: ZrtpCache;
  readonly clock: Clock;
  readonly random: Random;
  readonly counters: Counters;
  readonly clientId?: string;
  readonly supported?: ZrtpSupported;
}

export class ZrtpBox implements ZrtpHelloSource {
  /** For the media engine's options (MediaEngineOptions.zrtp). */
  readonly agents: ZrtpAgentFactory;

  constructor(private readonly o: ZrtpBoxOptions) {
    if (o.zid.length !== 12) throw new RangeError('a ZID is 12 bytes');
    this.agents = (spec, hooks) => this.agent(spec, hooks);
  }

  get zid(): Buffer { return Buffer.from(this.o.zid); }

  helloHash(h0: Uint8Array, mitm: boolean): string {
    return helloOf({ zid: this.o.zid, h0: Buffer.from(h0), clientId: this.clientId, mitm, ...(this.o.supported ? { supported: this.o.supported } : {}) }).zrtpHash;
  }

  private get clientId(): string { return this.o.clientId ?? BOX_CLIENT_ID; }

  private agent(spec: ZrtpLegSpec, hooks: Parameters<ZrtpAgentFactory>[1]): ZrtpAgent {
    const o = this.o;
    const ep = new ZrtpEndpoint({
      zid: o.zid, clock: o.clock, random: o.random, cache: o.cache, counters: o.counters, clientId: this.clientId,
      h0: Buffer.from(spec.h0), send: (p) => hooks.send(p),
      ...(o.supported ? { supported: o.supported } : {}),
      ...(spec.mitm ? { mitm: true } : {}), ...(spec.enroll ? { enroll: true } : {}),
      ...(spec.peerHelloHash !== undefined ? { peerHelloHash: spec.peerHelloHash } : {}),
      onSecure: (s) => hooks.secure({
        rx: s.srtp.rx, tx: s.srtp.tx,
        info: {
          sas: s.sas, sasType: s.sasType, sasVerified: s.sasVerified, peerSasVerified: s.peerSasVerified, cacheMatch: s.cacheMatch,
          cipher: s.cipher, authTag: s.authTag, keyAgreement: s.keyAgreement, suite: srtpSuiteOf(s.cipher, s.authTag),
          peerZid: s.peerZid.toString('hex'), peerIsPbx: s.peerIsPbx, pbxEnrolled: s.pbxEnrolled, role: s.role,
        },
      }),
      onFailed: (reason) => hooks.failed(reason),
    });
    return {
      start: () => ep.start(),
      receive: (p) => ep.receive(p),
      setPeerHelloHash: (v) => ep.setPeerHelloHash(v),
      setSasVerified: (v) => ep.setSasVerified(v),
      close: () => ep.close(),
    };
  }
}
