/**
 * A session: one call's legs by id, the connections between them, and the
 * media timer. Connections are kept on their source leg (`outs`), so the
 * packet path walks an array, not a map.
 */
import { PbxError, type TimerHandle } from '../core/index.js';
import type { ConnectionStats, LegId, PayloadTypeMap, SessionStats } from './api.js';
import type { SessionMixer } from './conference.js';
import { Connection } from './destination.js';
import type { SocketLeg } from './leg.js';
import type { Tap } from './tap.js';

export class Session {
  readonly legs = new Map<LegId, SocketLeg>();
  /** Leg ids whose ports are being opened (add-leg in flight): taken, not yet usable. */
  readonly opening = new Set<LegId>();
  readonly taps = new Map<string, Tap>();
  readonly mixers = new Map<string, SessionMixer>();
  closed = false;
  lastActivity: number;
  timer: TimerHandle | undefined;

  constructor(readonly id: string, readonly createdAt: number) {
    this.lastActivity = createdAt;
  }

  leg(id: LegId): SocketLeg {
    const leg = this.legs.get(id);
    if (!leg) throw new PbxError('not-found', `no leg ${id} in media session ${this.id}`);
    return leg;
  }

  hasLeg(id: LegId): boolean {
    return this.legs.has(id) || this.opening.has(id);
  }

  /** Make (or re-make) from -> to with this payload type map; returns the connection. */
  connect(from: SocketLeg, to: SocketLeg, map: PayloadTypeMap | undefined, table: Int16Array | undefined): Connection {
    let c = from.outs.find((x) => x.to === to);
    if (!c) {
      c = new Connection(from, to);
      // A fresh array: a packet being fanned out keeps walking the one it started on.
      from.outs = [...from.outs, c];
    }
    c.setMap(map, table);
    return c;
  }

  disconnect(from: SocketLeg, to: SocketLeg): void {
    if (from.outs.some((x) => x.to === to)) from.outs = from.outs.filter((x) => x.to !== to);
  }

  /** Take the leg out: its connections both ways go with it. */
  detach(leg: SocketLeg): void {
    this.legs.delete(leg.id);
    leg.outs = [];
    for (const other of this.legs.values()) this.disconnect(other, leg);
  }

  /** Whether media should be flowing now: some connection from a sending phone to a receiving one (RFC 3264 6.1). */
  mediaExpected(): boolean {
    for (const l of this.legs.values()) {
      if (!l.sendsMedia()) continue;
      for (const c of l.outs) if (c.to.receivesMedia()) return true;
    }
    for (const m of this.mixers.values()) if (m.mediaExpected()) return true;
    return false;
  }

  stats(address: string): SessionStats {
    const legs = Object.create(null) as Record<LegId, ReturnType<SocketLeg['stats']>>;
    const connections: ConnectionStats[] = [];
    for (const [id, l] of this.legs) {
      legs[id] = l.stats(address);
      for (const c of l.outs) connections.push({ from: id, to: c.to.id, ...(c.ptMap ? { ptMap: { ...c.ptMap } } : {}) });
    }
    const taps = [...this.taps.values()].map((t) => ({ tapId: t.id, legs: t.legs.map((l) => l.id) }));
    const mixers = [...this.mixers.values()].map((m) => ({ mixer: m.name, members: [...m.members.keys()].map((l) => l.id) }));
    return {
      sessionId: this.id, createdAt: this.createdAt, legs, connections,
      ...(taps.length ? { taps } : {}),
      ...(mixers.length ? { mixers } : {}),
    };
  }
}
