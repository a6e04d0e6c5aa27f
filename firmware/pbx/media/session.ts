import type {
  EngineEvent, EngineReply, EngineRequest, LegId, LegSecurity, LocalMedia, PayloadTypeMap, RemoteMedia,
} from '../../media/index.js';

/**
 * The only place call control speaks the media engine's messages. A call's
 * media is one engine session: legs by id, each with its ports on the box,
 * and one-way connections between them (relay or bridge falls out of the two
 * legs' security). The messages are plain data, so the engine can run in a
 * worker thread behind `MediaControl` with no change here.
 */

/** The media engine as call control sees it: requests and replies as plain messages, and its events. */
export interface MediaControl {
  request(req: EngineRequest): Promise<EngineReply>;
  onEvent(listener: (e: EngineEvent) => void): () => void;
}

/** Security for the two legs of a two-party call, by leg; a leg left out keeps what it has. */
export interface LegsSecurity {
  readonly a?: LegSecurity;
  readonly b?: LegSecurity;
}

export class MediaSession {
  private opened = false;

  constructor(private readonly media: MediaControl, readonly id: string) {}

  /**
   * Open the session with the call's first two legs, "a" (the caller's, its
   * remote known from an offer) and "b" (the callee's), connected both ways.
   * Nothing is left allocated when a step fails.
   */
  async open(a: { remote?: RemoteMedia; security?: LegSecurity }, b: { security?: LegSecurity } = {}): Promise<{ a: LocalMedia; b: LocalMedia }> {
    const sessionId = this.id;
    await this.media.request({ op: 'create', sessionId });
    this.opened = true;
    try {
      const la = await this.addLeg('a', a);
      const lb = await this.addLeg('b', b);
      await this.media.request({ op: 'connect', sessionId, from: 'a', to: 'b' });
      await this.media.request({ op: 'connect', sessionId, from: 'b', to: 'a' });
      return { a: la, b: lb };
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  /** Open the session with no legs (a conference room: its members join one by one). */
  async create(): Promise<void> {
    await this.media.request({ op: 'create', sessionId: this.id });
    this.opened = true;
  }

  /** Open one more leg's ports (a transfer target, a conference member). */
  async addLeg(leg: LegId, o: { remote?: RemoteMedia; security?: LegSecurity }): Promise<LocalMedia> {
    const r = await this.media.request({
      op: 'add-leg', sessionId: this.id, leg, ...(o.remote ? { remote: o.remote } : {}), ...(o.security ? { security: o.security } : {}),
    });
    if (r.op !== 'add-leg') throw new Error(`engine answered add-leg with ${r.op}`);
    return r.local;
  }

  /**
   * The negotiated answer: a leg's remote and each leg's security as the keys
   * settle them. Only here may a leg still pending (SRTP offered, keys not yet
   * known) settle as plain RTP: a best-effort offer answered without keys.
   */
  async answer(leg: LegId, remote: RemoteMedia, security: LegsSecurity = {}): Promise<void> {
    for (const [id, sec] of Object.entries(security) as Array<[LegId, LegSecurity | undefined]>) {
      if (id !== leg && sec) await this.media.request({ op: 'update-leg', sessionId: this.id, leg: id, security: sec, answer: true });
    }
    const own = (security as Record<string, LegSecurity | undefined>)[leg];
    await this.media.request({ op: 'update-leg', sessionId: this.id, leg, remote, ...(own ? { security: own } : {}), answer: true });
  }

  /** A re-offer or its answer moved a leg (hold, resume, new address) or rekeyed it. */
  async update(leg: LegId, remote: RemoteMedia | undefined, security?: LegSecurity): Promise<void> {
    await this.media.request({ op: 'update-leg', sessionId: this.id, leg, ...(remote ? { remote } : {}), ...(security ? { security } : {}) });
  }

  /** Payload types rewritten on the way from one leg to another (the phones numbered a codec differently). */
  async renumber(from: LegId, to: LegId, ptMap: PayloadTypeMap): Promise<void> {
    await this.media.request({ op: 'connect', sessionId: this.id, from, to, ptMap });
  }

  /** Media from `from`'s phone goes to `to`'s (one direction). */
  async connect(from: LegId, to: LegId): Promise<void> {
    await this.media.request({ op: 'connect', sessionId: this.id, from, to });
  }

  /** Move one of this session's legs into `to` under the id `as` (an attended transfer); its connections stay behind. */
  async moveLeg(leg: LegId, to: MediaSession, as: LegId): Promise<void> {
    await this.media.request({ op: 'move-leg', sessionId: this.id, leg, toSessionId: to.id, as });
  }

  /** Close a leg's ports; its connections go with it. */
  async removeLeg(leg: LegId): Promise<void> {
    await this.media.request({ op: 'remove-leg', sessionId: this.id, leg });
  }

  /** Play audio into a leg (music on hold): its connections are muted until stopPlay. */
  async play(leg: LegId, pcm: Int16Array, codec: 'PCMU' | 'PCMA', payloadType: number): Promise<void> {
    await this.media.request({ op: 'play', sessionId: this.id, leg, pcm, codec, payloadType });
  }

  /** Stop what plays into a leg; what its connections carry is heard again at once. */
  async stopPlay(leg: LegId): Promise<void> {
    await this.media.request({ op: 'stop-play', sessionId: this.id, leg });
  }

  /** A prompt into a leg that plays once (a recording tone); its connections are heard again when it ends. */
  async playOnce(leg: LegId, pcm: Int16Array, codec: 'PCMU' | 'PCMA', payloadType: number): Promise<void> {
    await this.media.request({ op: 'play', sessionId: this.id, leg, pcm, codec, payloadType, loop: false });
  }

  /** A recorder tap on `legs` into the sink the engine's factory makes from `sink` (a serialisable spec). */
  async tap(tapId: string, legs: readonly LegId[], sink: Readonly<Record<string, unknown>>): Promise<void> {
    await this.media.request({ op: 'tap', sessionId: this.id, tapId, legs, sink });
  }

  /** Close a tap's sink (the recording ends); harmless when there is none. */
  async untap(tapId: string): Promise<void> {
    await this.media.request({ op: 'untap', sessionId: this.id, tapId });
  }

  /** Make `leg` a member of the conference mixer `mixer`: it hears the others' sum, encoded in its codec under its keys. */
  async mix(mixer: string, leg: LegId, codec: 'PCMU' | 'PCMA', payloadType: number): Promise<void> {
    await this.media.request({ op: 'mix', sessionId: this.id, mixer, leg, codec, payloadType });
  }

  /** Take `leg` out of the mixer. */
  async unmix(mixer: string, leg: LegId): Promise<void> {
    await this.media.request({ op: 'unmix', sessionId: this.id, mixer, leg });
  }

  /** Free every port of the session; harmless when nothing is open. */
  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    try { await this.media.request({ op: 'delete', sessionId: this.id }); } catch { /* already gone */ }
  }
}
