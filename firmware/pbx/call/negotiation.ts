import { PbxError } from '../../core/index.js';

/**
 * The offer/answer state of one leg (RFC 3264, with the cases RFC 6337
 * spells out): at most one offer is outstanding on a leg, from either side.
 *
 *   none ──offer sent──> local-offer ──answer received──> stable
 *     │                      │  └─offer received: glare (491, RFC 3261 14.1)
 *     └──offer received──> remote-offer ──answer sent──> stable
 *   stable: a new offer either way starts the next round.
 *   A failed round (an error response, 488/491) rolls back to where it began.
 */

export type OfferAnswerState = 'none' | 'local-offer' | 'remote-offer' | 'stable';

export type OfferAnswerEvent = 'send-offer' | 'receive-offer' | 'send-answer' | 'receive-answer' | 'rollback';

/** Why an event is refused in a state; glare is answered 491, the others are the box's or peer's error. */
export type OfferAnswerRefusal = 'glare' | 'offer-pending' | 'no-offer';

export class OfferAnswerError extends PbxError {
  constructor(readonly refusal: OfferAnswerRefusal, readonly state: OfferAnswerState, readonly event: OfferAnswerEvent) {
    super('invalid-state', `offer/answer: ${event} in ${state} (${refusal})`);
  }
}

/** The state after `event`, or why it cannot happen. Pure: `before` is where a rollback returns to. */
export function nextOfferAnswer(state: OfferAnswerState, event: OfferAnswerEvent, before: OfferAnswerState): OfferAnswerState | OfferAnswerRefusal {
  switch (event) {
    case 'send-offer':
      if (state === 'local-offer') return 'offer-pending';
      if (state === 'remote-offer') return 'offer-pending'; // answer first
      return 'local-offer';
    case 'receive-offer':
      if (state === 'local-offer') return 'glare';
      if (state === 'remote-offer') return 'offer-pending';
      return 'remote-offer';
    case 'send-answer':
      return state === 'remote-offer' ? 'stable' : 'no-offer';
    case 'receive-answer':
      return state === 'local-offer' ? 'stable' : 'no-offer';
    case 'rollback':
      return state === 'local-offer' || state === 'remote-offer' ? before : state;
  }
}

/** One leg's negotiation: applies events, remembers where a round began so a failure rolls back. */
export class Negotiation {
  private current: OfferAnswerState = 'none';
  private roundStart: OfferAnswerState = 'none';

  get state(): OfferAnswerState {
    return this.current;
  }

  /** An offer is outstanding in either direction. */
  get pending(): boolean {
    return this.current === 'local-offer' || this.current === 'remote-offer';
  }

  /** Apply `event`; throws OfferAnswerError (with its refusal) when the state does not allow it. */
  apply(event: OfferAnswerEvent): OfferAnswerState {
    const next = nextOfferAnswer(this.current, event, this.roundStart);
    if (next === 'glare' || next === 'offer-pending' || next === 'no-offer') throw new OfferAnswerError(next, this.current, event);
    if (event === 'send-offer' || event === 'receive-offer') this.roundStart = this.current;
    this.current = next;
    return next;
  }

  /** Like apply, but reports a refusal instead of throwing. */
  try(event: OfferAnswerEvent): OfferAnswerState | OfferAnswerRefusal {
    try {
      return this.apply(event);
    } catch (e) {
      if (e instanceof OfferAnswerError) return e.refusal;
      throw e;
    }
  }
}
