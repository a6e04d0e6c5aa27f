/**
 * TRANSITIONAL: the old two-party requests (offer/answer/update/map, legs
 * 'a' and 'b' wired both ways), as a translation onto the N-leg requests and
 * nothing else. Call control (pbx/b2bua.ts) still speaks them; this file goes
 * once it speaks create/add-leg/update-leg/connect itself.
 *
 *   offer  = create + add-leg a (its remote, if known) + add-leg b
 *            + connect a->b + connect b->a          (any failure: delete)
 *   answer = update-leg a (its security, as the answer) when given
 *            + update-leg b (remote, security, as the answer)
 *   update = connect other->leg with ptMap when given + update-leg leg
 *   map    = connect a->b (aToB) + connect b->a (bToA)
 *
 * Each request is checked in full before the first step, so a malformed one
 * changes nothing, as before.
 */
import { PbxError } from '../core/index.js';
import type { EngineReply, EngineRequest, LegSecurity, TwoPartyLeg, TwoPartyReply, TwoPartyRequest } from './api.js';
import { checkRemote, checkSecurity, ptTable } from './checks.js';
import { SrtpLeg } from './transform.js';

type Run = (req: EngineRequest) => Promise<EngineReply>;

const TWO_PARTY_OPS: ReadonlySet<unknown> = new Set(['offer', 'answer', 'update', 'map']);

export function isTwoPartyRequest(req: EngineRequest): req is TwoPartyRequest {
  return TWO_PARTY_OPS.has(req.op);
}

/** The shape and, for SRTP, the keys (PbxError 'config'), without changing anything. */
function preCheck(sec: unknown): LegSecurity {
  const l = checkSecurity(sec);
  if (l.kind === 'srtp') SrtpLeg.check({ rx: l.rx, tx: l.tx });
  return l;
}

function other(leg: TwoPartyLeg): TwoPartyLeg {
  return leg === 'a' ? 'b' : 'a';
}

export async function twoPartyRequest(req: TwoPartyRequest, run: Run): Promise<TwoPartyReply> {
  const sessionId = req.sessionId;
  switch (req.op) {
    case 'offer': {
      const sec = req.security ?? {};
      await run({ op: 'create', sessionId });
      try {
        const a = await run({
          op: 'add-leg', sessionId, leg: 'a', ...(req.a !== undefined ? { remote: req.a } : {}),
          ...(req.rtcpMux !== undefined ? { rtcpMux: req.rtcpMux } : {}), ...(sec.a ? { security: sec.a } : {}),
        });
        const b = await run({
          op: 'add-leg', sessionId, leg: 'b',
          ...(req.rtcpMux !== undefined ? { rtcpMux: req.rtcpMux } : {}), ...(sec.b ? { security: sec.b } : {}),
        });
        await run({ op: 'connect', sessionId, from: 'a', to: 'b' });
        await run({ op: 'connect', sessionId, from: 'b', to: 'a' });
        if (a.op !== 'add-leg' || b.op !== 'add-leg') throw new PbxError('protocol', 'add-leg answered with something else');
        return { op: 'offer', a: a.local, b: b.local };
      } catch (e) {
        await run({ op: 'delete', sessionId }).catch(() => {});
        throw e;
      }
    }
    case 'answer': {
      const remote = checkRemote(req.b);
      const secA = req.security?.a !== undefined ? preCheck(req.security.a) : undefined;
      const secB = req.security?.b !== undefined ? preCheck(req.security.b) : undefined;
      if (secA) await run({ op: 'update-leg', sessionId, leg: 'a', security: secA, answer: true });
      await run({ op: 'update-leg', sessionId, leg: 'b', remote, ...(secB ? { security: secB } : {}), answer: true });
      return { op: 'answer' };
    }
    case 'update': {
      if (req.leg !== 'a' && req.leg !== 'b') throw new PbxError('protocol', `bad leg ${String(req.leg)}`);
      const remote = checkRemote(req.remote);
      const security = req.security !== undefined ? preCheck(req.security) : undefined;
      if (req.ptMap !== undefined) {
        ptTable(req.ptMap);
        await run({ op: 'connect', sessionId, from: other(req.leg), to: req.leg, ptMap: req.ptMap });
      }
      await run({ op: 'update-leg', sessionId, leg: req.leg, remote, ...(security ? { security } : {}) });
      return { op: 'update' };
    }
    case 'map': {
      if (req.aToB !== undefined) ptTable(req.aToB);
      if (req.bToA !== undefined) ptTable(req.bToA);
      if (req.aToB !== undefined) await run({ op: 'connect', sessionId, from: 'a', to: 'b', ptMap: req.aToB });
      if (req.bToA !== undefined) await run({ op: 'connect', sessionId, from: 'b', to: 'a', ptMap: req.bToA });
      return { op: 'map' };
    }
  }
}
