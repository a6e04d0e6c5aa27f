import type { CallQualityView, MediaStreamView, QualityLegSample, QualitySample } from '../api/index.js';
import type { SessionStats } from '../media/index.js';

/**
 * Per-call media quality over time (issue 16): each time the appliance asks
 * the media engine for its figures, the figures of every call's session are
 * kept as one sample (packets and losses so far, jitter now, and what the
 * phone's RTCP reports said). A call's series stays after it ends, for the
 * history page, until newer calls push it out. Memory only: a restart forgets.
 */

/** Engine sessions of calls are named `call-<call id>` (pbx/call/call.ts). */
export const CALL_SESSION_PREFIX = 'call-';
/** Samples kept per call: 30 minutes at one sample every 2 s; older ones are thinned. */
export const MAX_SAMPLES_PER_CALL = 900;
/** Finished calls whose series are kept. */
export const MAX_CALLS_KEPT = 200;

interface Series { samples: QualitySample[]; live: boolean }

export class CallQuality {
  private readonly series = new Map<string, Series>();

  constructor(readonly everyMs: number) {}

  /** One sample of every call session in `sessions`; calls absent from it have ended. */
  sample(at: number, sessions: readonly SessionStats[]): void {
    const seen = new Set<string>();
    for (const s of sessions) {
      if (!s.sessionId.startsWith(CALL_SESSION_PREFIX)) continue;
      const call = s.sessionId.slice(CALL_SESSION_PREFIX.length);
      seen.add(call);
      const legs: Record<string, QualityLegSample> = {};
      for (const [id, l] of Object.entries(s.legs)) {
        legs[id] = {
          packetsIn: l.packetsIn, packetsOut: l.packetsOut, lost: l.lost, jitterMs: Math.round(l.jitterMs * 100) / 100,
          ...(l.remoteReport ? { remoteJitterMs: Math.round(l.remoteReport.jitterMs * 100) / 100, remoteFractionLost: l.remoteReport.fractionLost } : {}),
        };
      }
      let entry = this.series.get(call);
      if (!entry) {
        entry = { samples: [], live: true };
        this.series.set(call, entry);
      }
      entry.live = true;
      entry.samples.push({ at, legs });
      // Thin the oldest half rather than lose the call's start.
      if (entry.samples.length > MAX_SAMPLES_PER_CALL) entry.samples = entry.samples.filter((_, i) => i % 2 === 0 || i >= MAX_SAMPLES_PER_CALL / 2);
    }
    for (const [call, entry] of this.series) if (!seen.has(call)) entry.live = false;
    while (this.series.size > MAX_CALLS_KEPT) {
      const oldest = [...this.series].find(([, e]) => !e.live)?.[0];
      if (oldest === undefined) break;
      this.series.delete(oldest);
    }
  }

  /** The series of one call, or undefined when none was sampled (never had media, or forgotten). */
  of(call: string): CallQualityView | undefined {
    const e = this.series.get(call);
    return e ? { call, live: e.live, everyMs: this.everyMs, samples: [...e.samples] } : undefined;
  }
}

/** Each session's legs with their packet counts, for `pbx status` (the one-way-audio check): no addresses, no keys. */
export function streamsOf(sessions: readonly SessionStats[]): MediaStreamView[] {
  return sessions.map((s) => ({
    session: s.sessionId,
    legs: Object.fromEntries(Object.entries(s.legs).map(([id, l]) => [id, {
      packetsIn: l.packetsIn, packetsOut: l.packetsOut, security: l.security, ...(l.playing ? { playing: true } : {}),
    }])),
  }));
}
