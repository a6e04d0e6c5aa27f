/**
 * Transaction timers (RFC 3261 section 17 and Appendix A, Table 4; Timers L
 * and M from RFC 6026). Values are milliseconds. Retransmission timers (A, E,
 * G) exist only over unreliable transports; the "wait for stragglers" timers
 * (D, I, J, K) shrink to zero over reliable ones, because a reliable transport
 * never delivers a retransmission.
 */

/** Round-trip time estimate. */
export const T1 = 500;
/** Cap on the retransmit interval of non-INVITE requests and INVITE responses. */
export const T2 = 4_000;
/** Longest time a message may stay in the network. */
export const T4 = 5_000;
/** Timer D lower bound over unreliable transports (17.1.1.2: "at least 32 s"). */
export const TIMER_D_UNRELIABLE = 32_000;
/** Timer C (proxy INVITE, "more than 3 minutes"): for proxy cores; no transaction here uses it. */
export const TIMER_C = 181_000;
/** Timer 100 Trying: the INVITE server sends 100 if the TU is silent this long (17.2.1). */
export const TRYING_DELAY = 200;

export interface BaseTimers {
  readonly T1: number;
  readonly T2: number;
  readonly T4: number;
}

export const DEFAULT_BASE_TIMERS: BaseTimers = { T1, T2, T4 };

/** Effective timer values for one transaction. `null` means "not used". */
export interface TimerValues extends BaseTimers {
  /** INVITE request retransmit, initial interval (doubles without cap). */
  readonly A: number | null;
  /** INVITE transaction timeout. */
  readonly B: number;
  /** Wait in Completed for response retransmissions (INVITE client). */
  readonly D: number;
  /** Non-INVITE request retransmit, initial interval (doubles up to T2). */
  readonly E: number | null;
  /** Non-INVITE transaction timeout. */
  readonly F: number;
  /** INVITE final response retransmit, initial interval (doubles up to T2). */
  readonly G: number | null;
  /** Wait for ACK receipt. */
  readonly H: number;
  /** Wait in Confirmed for ACK retransmissions. */
  readonly I: number;
  /** Wait in Completed for non-INVITE request retransmissions. */
  readonly J: number;
  /** Wait in Completed for non-INVITE response retransmissions. */
  readonly K: number;
  /** INVITE server Accepted state: wait for INVITE/ACK retransmissions (RFC 6026). */
  readonly L: number;
  /** INVITE client Accepted state: absorb 2xx retransmissions (RFC 6026). */
  readonly M: number;
}

export function timerValues(reliable: boolean, base: Partial<BaseTimers> = {}): TimerValues {
  const b: BaseTimers = { ...DEFAULT_BASE_TIMERS, ...base };
  const sixtyFour = 64 * b.T1;
  return {
    ...b,
    A: reliable ? null : b.T1,
    B: sixtyFour,
    D: reliable ? 0 : TIMER_D_UNRELIABLE,
    E: reliable ? null : b.T1,
    F: sixtyFour,
    G: reliable ? null : b.T1,
    H: sixtyFour,
    I: reliable ? 0 : b.T4,
    J: reliable ? 0 : sixtyFour,
    K: reliable ? 0 : b.T4,
    L: sixtyFour,
    M: sixtyFour,
  };
}
