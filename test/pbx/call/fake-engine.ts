import type { EngineEvent, EngineReply, EngineRequest, LegId, LegSecurity, LocalMedia, RemoteMedia } from '../../../firmware/media/index.js';
import type { MediaControl } from '../../../firmware/pbx/index.js';

/**
 * A media engine in memory for call-control tests. It keeps what call control
 * told it per session (each leg's remote media and security, deleted or not)
 * and answers with local ports of its own.
 *
 * All knowledge of the engine's message names lives in this file: the tests
 * read the state through the accessors below (remote, security, deleted,
 * raiseTimeout ...), so when the engine's messages change, only this fake
 * needs editing.
 */

export const ENGINE_ADDRESS = '10.0.0.1';

interface Session {
  readonly id: string;
  readonly local: Record<LegId, LocalMedia>;
  readonly remote: Record<LegId, RemoteMedia>;
  readonly security: Record<LegId, LegSecurity>;
  /** How many times each leg's remote was set (when the leg was added with one, and every update that names one). */
  readonly changes: Record<LegId, number>;
  /** One-way connections "from>to". */
  readonly connections: Set<string>;
  /** What plays into each leg (music on hold), as the request gave it. */
  readonly playing: Record<LegId, { codec: string; payloadType: number; samples: number }>;
  deleted: boolean;
}

export class FakeEngine implements MediaControl {
  private readonly sessions = new Map<string, Session>();
  private readonly listeners = new Set<(e: EngineEvent) => void>();
  private nextPort = 20_000;
  /** Requests refused from now on (a full port range, a broken engine). */
  private refuseAllocations = false;
  /** Legs moved between sessions, "from/leg>to/as". */
  readonly moves: string[] = [];
  /** Every request, for the rare test that needs the order of things. */
  readonly log: EngineRequest[] = [];

  /** While held, requests wait here unanswered (the engine is busy opening ports). */
  private held: Array<() => void> | undefined;

  /** Requests about a session that was already freed (call control touching media of an ended call). */
  lateRequests = 0;

  request(req: EngineRequest): Promise<EngineReply> {
    this.log.push(req);
    if (req.op !== 'stats' && this.sessions.get(req.sessionId)?.deleted) this.lateRequests++;
    if (this.held) {
      const queue = this.held;
      return new Promise((resolve, reject) => {
        queue.push(() => { try { resolve(this.handle(req)); } catch (e) { reject(e instanceof Error ? e : new Error(String(e))); } });
      });
    }
    return Promise.resolve().then(() => this.handle(req));
  }

  /** Requests wait unanswered until release(). */
  hold(): void {
    this.held ??= [];
  }

  /** Answer every request held, in order. */
  release(): void {
    const queue = this.held ?? [];
    this.held = undefined;
    for (const f of queue) f();
  }

  onEvent(listener: (e: EngineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private handle(req: EngineRequest): EngineReply {
    switch (req.op) {
      case 'create': {
        if (this.refuseAllocations) throw new Error('fake engine: no ports');
        if (this.sessions.get(req.sessionId)?.deleted === false) throw new Error(`fake engine: session ${req.sessionId} exists`);
        this.sessions.set(req.sessionId, {
          id: req.sessionId, local: {}, remote: {}, security: {}, changes: {}, connections: new Set(), playing: {}, deleted: false,
        });
        return { op: 'create' };
      }
      case 'add-leg': {
        const s = this.live(req.sessionId);
        if (s.local[req.leg]) throw new Error(`fake engine: leg ${req.leg} exists`);
        const p = this.nextPort;
        this.nextPort += 2;
        s.local[req.leg] = { address: ENGINE_ADDRESS, rtpPort: p, rtcpPort: p + 1 };
        s.changes[req.leg] = 0;
        if (req.remote) { s.remote[req.leg] = req.remote; s.changes[req.leg]!++; }
        if (req.security) s.security[req.leg] = req.security;
        return { op: 'add-leg', leg: req.leg, local: s.local[req.leg]! };
      }
      case 'update-leg': {
        const s = this.live(req.sessionId);
        if (!s.local[req.leg]) throw new Error(`fake engine: no leg ${req.leg}`);
        if (req.remote) { s.remote[req.leg] = req.remote; s.changes[req.leg] = (s.changes[req.leg] ?? 0) + 1; }
        if (req.security) s.security[req.leg] = req.security;
        return { op: 'update-leg' };
      }
      case 'connect':
      case 'disconnect': {
        const s = this.live(req.sessionId);
        if (!s.local[req.from] || !s.local[req.to]) throw new Error('fake engine: connect of an unknown leg');
        if (req.op === 'connect') s.connections.add(`${req.from}>${req.to}`); else s.connections.delete(`${req.from}>${req.to}`);
        return { op: req.op };
      }
      case 'remove-leg': {
        const s = this.live(req.sessionId);
        delete s.local[req.leg];
        delete s.playing[req.leg];
        for (const c of [...s.connections]) if (c.startsWith(`${req.leg}>`) || c.endsWith(`>${req.leg}`)) s.connections.delete(c);
        return { op: 'remove-leg' };
      }
      case 'delete': {
        const s = this.sessions.get(req.sessionId);
        if (!s) throw new Error(`fake engine: no session ${req.sessionId}`);
        s.deleted = true;
        return { op: 'delete' };
      }
      case 'play': {
        const s = this.live(req.sessionId);
        if (!s.local[req.leg]) throw new Error(`fake engine: no leg ${req.leg}`);
        const kind = s.security[req.leg]?.kind ?? 'rtp';
        // As the real engine: nothing can be protected toward a leg whose keys the box lacks.
        if (kind === 'srtp-relay' || kind === 'srtp-pending') throw new Error(`fake engine: cannot play into a ${kind} leg`);
        s.playing[req.leg] = { codec: req.codec, payloadType: req.payloadType, samples: req.pcm.length };
        return { op: 'play' };
      }
      case 'move-leg': {
        const s = this.live(req.sessionId);
        const to = this.live(req.toSessionId);
        const as = req.as ?? req.leg;
        if (!s.local[req.leg]) throw new Error(`fake engine: no leg ${req.leg}`);
        if (to.local[as]) throw new Error(`fake engine: leg ${as} exists in ${req.toSessionId}`);
        to.local[as] = s.local[req.leg]!;
        if (s.remote[req.leg]) to.remote[as] = s.remote[req.leg]!;
        if (s.security[req.leg]) to.security[as] = s.security[req.leg]!;
        to.changes[as] = s.changes[req.leg] ?? 0;
        delete s.local[req.leg];
        delete s.playing[req.leg];
        for (const c of [...s.connections]) if (c.startsWith(`${req.leg}>`) || c.endsWith(`>${req.leg}`)) s.connections.delete(c);
        this.moves.push(`${req.sessionId}/${req.leg}>${req.toSessionId}/${as}`);
        return { op: 'move-leg' };
      }
      case 'stop-play': {
        const s = this.live(req.sessionId);
        delete s.playing[req.leg];
        return { op: 'stop-play' };
      }
      case 'stats':
        return { op: 'stats', sessions: [], portsInUse: 0, counters: {} };
      default:
        throw new Error(`fake engine: call control sent ${(req as { op: string }).op}, which the engine does not know`);
    }
  }

  /** What plays into `leg` (music on hold), if anything (the latest session by default). */
  playing(leg: LegId, sessionId?: string): { codec: string; payloadType: number; samples: number } | undefined {
    return this.session(sessionId)?.playing[leg];
  }

  /** Whether media received on `from` goes to `to` (the latest session by default). */
  connected(from: LegId, to: LegId, sessionId?: string): boolean {
    return this.session(sessionId)?.connections.has(`${from}>${to}`) ?? false;
  }

  private live(id: string): Session {
    const s = this.sessions.get(id);
    if (!s || s.deleted) throw new Error(`fake engine: no live session ${id}`);
    return s;
  }

  private session(id?: string): Session | undefined {
    if (id !== undefined) return this.sessions.get(id);
    let last: Session | undefined;
    for (const s of this.sessions.values()) last = s;
    return last;
  }

  /** Sessions ever allocated. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Sessions allocated and not freed. */
  get liveCount(): number {
    return [...this.sessions.values()].filter((s) => !s.deleted).length;
  }

  /** The box's own ports for a leg (what its SDP toward that leg must name); the latest session by default. */
  /** The legs that have ports now (the latest session by default). */
  legs(sessionId?: string): LegId[] | undefined {
    const s = this.session(sessionId);
    return s ? Object.keys(s.local) : undefined;
  }

  local(leg: LegId, sessionId?: string): LocalMedia | undefined {
    return this.session(sessionId)?.local[leg];
  }

  /** Where the engine sends a leg's media now, as call control last told it. */
  remote(leg: LegId, sessionId?: string): RemoteMedia | undefined {
    return this.session(sessionId)?.remote[leg];
  }

  /** How many times call control set the leg's remote media. */
  changes(leg: LegId, sessionId?: string): number {
    return this.session(sessionId)?.changes[leg] ?? 0;
  }

  /** The leg's protection kind as call control last set it ('rtp' when never said). */
  security(leg: LegId, sessionId?: string): LegSecurity['kind'] | undefined {
    const s = this.session(sessionId);
    return s ? (s.security[leg]?.kind ?? 'rtp') : undefined;
  }

  /** Was the session freed? (the latest session by default) */
  deleted(sessionId?: string): boolean {
    return this.session(sessionId)?.deleted ?? false;
  }

  /** The id of the latest session (undefined before any call allocated media). */
  get lastSession(): string | undefined {
    return this.session()?.id;
  }

  /** From now on allocating media fails (as when the port range is used up). */
  failAllocations(on = true): void {
    this.refuseAllocations = on;
  }

  /** The engine reports no media on the session for idleMs. */
  raiseTimeout(sessionId = this.lastSession, idleMs = 30_000): void {
    if (sessionId === undefined) throw new Error('fake engine: no session to time out');
    for (const l of [...this.listeners]) l({ type: 'media-timeout', sessionId, idleMs });
  }
}
