import { PbxError, type Clock, type Counters, type Random } from '../../core/index.js';
import type { DtlsAgent, DtlsAgentFactory, DtlsAgentHooks, DtlsLegSpec } from '../../media/index.js';
import { FINGERPRINT_ALGORITHMS, parseFingerprint, type DtlsCertificate, type Fingerprint } from './cert.js';
import { SRTP_PROFILE_NAMES, type SrtpProfileName } from './crypto.js';
import { DtlsEndpoint } from './endpoint.js';

export interface DtlsBoxOptions {
  /** The box's DTLS certificate (ECDSA P-256): its fingerprint goes in every a=fingerprint the box writes. Never log its key. */
  readonly certificate: DtlsCertificate;
  readonly clock: Clock;
  readonly random: Random;
  readonly counters: Counters;
  readonly mtu?: number;
}

/** The peer's fingerprint as the engine got it, checked again here: the engine's checks are for shape only. */
function fingerprintOf(spec: DtlsLegSpec): Fingerprint {
  const algorithm = spec.fingerprint.algorithm.toLowerCase();
  const f = FINGERPRINT_ALGORITHMS.some((a) => a === algorithm) ? parseFingerprint(`${algorithm} ${spec.fingerprint.value}`) : undefined;
  if (!f) throw new PbxError('protocol', 'DTLS: the peer fingerprint is not a SHA-256/384/512 fingerprint');
  return f;
}

function profilesOf(spec: DtlsLegSpec): readonly SrtpProfileName[] | undefined {
  if (spec.profiles === undefined) return undefined;
  const out: SrtpProfileName[] = [];
  for (const p of spec.profiles) {
    const n = SRTP_PROFILE_NAMES.find((x) => x === p);
    if (!n) throw new PbxError('protocol', `DTLS: unknown SRTP profile ${p}`);
    out.push(n);
  }
  if (out.length === 0) throw new PbxError('protocol', 'DTLS: no SRTP profile');
  return out;
}

/**
 * The box's DTLS-SRTP side, as the media engine takes it (its
 * DtlsAgentFactory): one DtlsEndpoint per leg, with the box's certificate,
 * on the injected clock and randomness. Built once at the composition
 * root; media cannot import keying, so the engine knows only the factory.
 */
export class DtlsBox {
  constructor(private readonly o: DtlsBoxOptions) {}

  get fingerprint(): Fingerprint {
    return this.o.certificate.fingerprint;
  }

  readonly factory: DtlsAgentFactory = (spec: DtlsLegSpec, hooks: DtlsAgentHooks): DtlsAgent => {
    const profiles = profilesOf(spec);
    const ep = new DtlsEndpoint({
      role: spec.role,
      certificate: this.o.certificate,
      expectedFingerprint: fingerprintOf(spec),
      ...(profiles ? { srtpProfiles: profiles } : {}),
      clock: this.o.clock,
      random: this.o.random,
      counters: this.o.counters,
      ...(this.o.mtu !== undefined ? { mtu: this.o.mtu } : {}),
      send: (d, to) => hooks.send(d, to),
      onConnected: (c) => hooks.connected({
        rx: c.srtp.localRx,
        tx: c.srtp.localTx,
        info: { role: c.role, profile: c.profile, suite: c.srtp.localTx.suite, cipherSuite: c.suite, group: c.group },
      }),
      onFailed: (f) => hooks.failed(`${f.code}: ${f.message}`),
    });
    return {
      start: () => ep.start(),
      receive: (d, from) => ep.receive(d, from),
      close: () => ep.close(),
    };
  };
}
