import type { Clock, Counters, Logger, Random, TimerHandle } from '../core/index.js';
import { createResponse, getHeader, parseUri, type SipRequest } from '../sip/message/index.js';
import { dialogAsUas, dialogRequest, type Dialog } from '../sip/dialog/index.js';
import type { ServerTransaction, Target, TransactionLayer } from '../sip/transaction/index.js';
import { authenticate, type AuthDeps } from './auth.js';
import { isReachable, type LocationService } from './location.js';

/**
 * Message-waiting indication (RFC 3842): a phone SUBSCRIBEs to its own
 * account's `message-summary` and the box NOTIFYs it at once and whenever
 * the mailbox changes; a phone that never subscribes gets an unsolicited
 * NOTIFY (out of dialog, as many desk phones expect) at each registered
 * contact when the count changes. Bodies are the RFC 3842 3.5 text:
 *
 *   Messages-Waiting: yes
 *   Message-Account: sip:1002@box
 *   Voice-Message: 1/0 (0/0)
 *
 * The SUBSCRIBE is authenticated like a call (digest); a phone may only
 * watch its own mailbox. Each refusal is counted under `mwi.refused.<why>`.
 */

export const MWI_EVENT = 'message-summary';
export const MWI_TYPE = 'application/simple-message-summary';
export const DEFAULT_MWI_EXPIRES = 3600;
export const MIN_MWI_EXPIRES = 60;
export const MAX_MWI_EXPIRES = 86_400;
/** The largest SUBSCRIBE body read (RFC 3842 subscriptions carry none). */
export const MAX_SUBSCRIBE_BODY = 1024;
/** Subscriptions the box keeps (one or two per phone). */
export const MAX_SUBSCRIPTIONS = 4000;

export interface MessageSummary {
  readonly waiting: boolean;
  readonly account: string;
  readonly newCount: number;
  readonly oldCount: number;
}

export function serializeSummary(s: MessageSummary): Buffer {
  return Buffer.from(`Messages-Waiting: ${s.waiting ? 'yes' : 'no'}\r\nMessage-Account: ${s.account}\r\nVoice-Message: ${s.newCount}/${s.oldCount} (0/0)\r\n`, 'latin1');
}

export type SummaryParse = { readonly ok: true; readonly summary: MessageSummary } | { readonly ok: false; readonly reason: 'too-long' | 'no-status' | 'bad-count' };

/** Parse a message-summary body (what the box sends; used by tests and by anything that reads one back). */
export function parseSummary(body: Uint8Array): SummaryParse {
  if (body.length > MAX_SUBSCRIBE_BODY) return { ok: false, reason: 'too-long' };
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('latin1');
  const status = /^messages-waiting\s*:\s*(yes|no)\s*$/im.exec(text);
  if (!status) return { ok: false, reason: 'no-status' };
  const acct = /^message-account\s*:\s*(\S+)\s*$/im.exec(text);
  const voice = /^voice-message\s*:\s*(.*)$/im.exec(text);
  let newCount = 0;
  let oldCount = 0;
  if (voice) {
    const m = /^(\d{1,6})\/(\d{1,6})(\s*\(\d{1,6}\/\d{1,6}\))?\s*$/.exec(voice[1]!);
    if (!m) return { ok: false, reason: 'bad-count' };
    newCount = Number(m[1]);
    oldCount = Number(m[2]);
  }
  return { ok: true, summary: { waiting: status[1]!.toLowerCase() === 'yes', account: acct?.[1] ?? '', newCount, oldCount } };
}

export type SubscribeReject = 'bad-event' | 'bad-expires' | 'body-too-long' | 'bad-accept';
export type SubscribeParse = { readonly ok: true; readonly expires: number } | { readonly ok: false; readonly reason: SubscribeReject };

/** The parts of a SUBSCRIBE the box acts on (RFC 6665 3.1, RFC 3842 4): Event, Expires, Accept, and a body it ignores but bounds. */
export function parseSubscribe(req: Pick<SipRequest, 'headers' | 'body'>): SubscribeParse {
  const event = (getHeader(req as SipRequest, 'event') ?? '').split(';')[0]!.trim().toLowerCase();
  if (event !== MWI_EVENT) return { ok: false, reason: 'bad-event' };
  if (req.body.length > MAX_SUBSCRIBE_BODY) return { ok: false, reason: 'body-too-long' };
  const accept = getHeader(req as SipRequest, 'accept');
  if (accept !== undefined && accept.trim() !== '' && !accept.toLowerCase().split(',').some((x) => x.trim().split(';')[0] === MWI_TYPE || x.trim().startsWith('*/*') || x.trim().startsWith('application/*'))) {
    return { ok: false, reason: 'bad-accept' };
  }
  const raw = getHeader(req as SipRequest, 'expires');
  if (raw === undefined) return { ok: true, expires: DEFAULT_MWI_EXPIRES };
  if (!/^\s*\d{1,10}\s*$/.test(raw)) return { ok: false, reason: 'bad-expires' };
  const n = Number(raw);
  return { ok: true, expires: n === 0 ? 0 : Math.min(MAX_MWI_EXPIRES, Math.max(MIN_MWI_EXPIRES, n)) };
}

export interface MwiDeps extends AuthDeps {
  readonly clock: Clock;
  readonly random: Random;
  readonly transactions: Pick<TransactionLayer, 'sendRequest'>;
  readonly location: LocationService;
  readonly contactFor: (target: Target) => string;
  readonly counters: Counters;
  readonly log: Logger;
  /** The mailbox's counts now. */
  readonly counts: (mailbox: string) => { readonly newCount: number; readonly oldCount: number };
  readonly realm: () => string;
}

interface Subscription {
  readonly key: string;
  readonly mailbox: string;
  dialog: Dialog;
  readonly target: Target;
  expiresAt: number;
  timer?: TimerHandle;
}

export class MessageWaiting {
  private readonly subs = new Map<string, Subscription>();

  constructor(private readonly d: MwiDeps) {}

  get size(): number { return this.subs.size; }

  private summary(mailbox: string): Buffer {
    const c = this.d.counts(mailbox);
    return serializeSummary({ waiting: c.newCount > 0, account: `sip:${mailbox}@${this.d.realm()}`, newCount: c.newCount, oldCount: c.oldCount });
  }

  /** A SUBSCRIBE, new or a refresh (in its dialog). True when it was one for message-summary (answered here). */
  onSubscribe(req: SipRequest, tx: ServerTransaction, source: Target): boolean {
    const d = this.d;
    const refuse = (status: number, reason: string, why: string, headers: { name: string; value: string }[] = []): true => {
      d.counters.inc(`mwi.refused.${why}`);
      tx.respond(createResponse(req, status, reason, { toTag: d.random.token(64), headers }));
      return true;
    };
    const event = (getHeader(req, 'event') ?? '').split(';')[0]!.trim().toLowerCase();
    if (event !== MWI_EVENT) return refuse(489, 'Bad Event', 'bad-event', [{ name: 'allow-events', value: MWI_EVENT }]);
    const parsed = parseSubscribe(req);
    if (!parsed.ok) return parsed.reason === 'body-too-long' ? refuse(413, 'Request Entity Too Large', parsed.reason) : parsed.reason === 'bad-accept' ? refuse(406, 'Not Acceptable', parsed.reason) : refuse(400, 'Bad Request', parsed.reason);
    const callId = getHeader(req, 'call-id') ?? '';
    const fromTag = /;\s*tag=([^;\s]+)/i.exec(getHeader(req, 'from') ?? '')?.[1] ?? '';
    const key = `${callId}\n${fromTag}`;
    const existing = this.subs.get(key);
    const toTag = /;\s*tag=([^;\s]+)/i.exec(getHeader(req, 'to') ?? '')?.[1];
    if (toTag !== undefined && (!existing || existing.dialog.localTag !== toTag)) return refuse(481, 'Subscription Does Not Exist', 'no-subscription');
    const auth = authenticate(d, req, { transport: source.transport, address: source.address, port: source.port, ...(source.flowId ? { flowId: source.flowId } : {}) });
    if (!auth.ok) { tx.respond(auth.response); return true; }
    let mailbox: string | undefined;
    try { mailbox = parseUri(req.uri).user; } catch { mailbox = undefined; }
    // A phone's own mailbox only (the Request-URI names the account, RFC 3842 4.1).
    if (mailbox !== auth.account.extension) return refuse(403, 'Forbidden', 'not-own-mailbox');
    if (!existing && this.subs.size >= MAX_SUBSCRIPTIONS) return refuse(503, 'Service Unavailable', 'too-many');
    let sub = existing;
    if (!sub) {
      const tag = d.random.token(64);
      let dialog: Dialog;
      try { dialog = dialogAsUas(req, tag); } catch { return refuse(400, 'Bad Request', 'no-dialog'); }
      sub = { key, mailbox, dialog, target: source, expiresAt: 0 };
      this.subs.set(key, sub);
      d.counters.inc('mwi.subscribed');
    }
    const expires = parsed.expires;
    tx.respond(createResponse(req, 200, 'OK', {
      toTag: sub.dialog.localTag,
      headers: [{ name: 'expires', value: String(expires) }, { name: 'contact', value: `<${d.contactFor(source)}>` }],
    }));
    sub.timer?.cancel();
    if (expires === 0) {
      this.subs.delete(key);
      this.notify(sub, 'terminated;reason=timeout');
      return true;
    }
    sub.expiresAt = d.clock.now() + expires * 1000;
    const s = sub;
    sub.timer = d.clock.setTimer(expires * 1000, () => { this.subs.delete(key); d.counters.inc('mwi.expired'); });
    this.notify(s, `active;expires=${expires}`);
    return true;
  }

  private notify(sub: Subscription, state: string): void {
    const d = this.d;
    const { request, dialog } = dialogRequest(sub.dialog, 'NOTIFY', {
      headers: [
        { name: 'event', value: MWI_EVENT }, { name: 'subscription-state', value: state },
        { name: 'contact', value: `<${d.contactFor(sub.target)}>` },
      ],
      body: this.summary(sub.mailbox), contentType: MWI_TYPE,
    });
    sub.dialog = dialog;
    try {
      d.transactions.sendRequest(request, sub.target, {
        onResponse: (res) => {
          // 481: the phone forgot the subscription (RFC 6665 4.1.3).
          if (res.status === 481) { sub.timer?.cancel(); this.subs.delete(sub.key); }
        },
      });
      d.counters.inc('mwi.notify');
    } catch (e) {
      d.counters.inc('mwi.notify-failed');
      d.log.info({ mailbox: sub.mailbox, err: e instanceof Error ? e.message : String(e) }, 'message-waiting NOTIFY not sent');
    }
  }

  /** The mailbox changed: NOTIFY its subscribers, and (unsolicited) each registered phone of it that did not subscribe. */
  changed(mailbox: string): void {
    const d = this.d;
    const subscribed = [...this.subs.values()].filter((s) => s.mailbox === mailbox);
    for (const s of subscribed) this.notify(s, `active;expires=${Math.max(0, Math.round((s.expiresAt - d.clock.now()) / 1000))}`);
    const covered = new Set(subscribed.map((s) => `${s.target.address}:${s.target.port}`));
    for (const b of d.location.all()) {
      if (b.extension !== mailbox || b.expiresAt <= d.clock.now() || !isReachable(b) || covered.has(`${b.source.address}:${b.source.port}`)) continue;
      const target: Target = { transport: b.transport, address: b.source.address, port: b.source.port, ...(b.flowId ? { flowId: b.flowId } : {}) };
      const host = d.realm();
      const req: SipRequest = {
        kind: 'request', method: 'NOTIFY', uri: b.contact,
        headers: [
          { name: 'max-forwards', value: '70' },
          { name: 'from', value: `<sip:${mailbox}@${host}>;tag=${d.random.token(64)}` },
          { name: 'to', value: `<sip:${mailbox}@${host}>` },
          { name: 'call-id', value: `${d.random.token(96)}@securepbx` },
          { name: 'cseq', value: '1 NOTIFY' },
          { name: 'contact', value: `<${d.contactFor(target)}>` },
          { name: 'event', value: MWI_EVENT },
          { name: 'subscription-state', value: 'active' },
          { name: 'content-type', value: MWI_TYPE },
        ],
        body: this.summary(mailbox),
      };
      try {
        d.transactions.sendRequest(req, target, { onResponse: () => {} });
        d.counters.inc('mwi.unsolicited');
      } catch { d.counters.inc('mwi.notify-failed'); }
    }
  }

  /** Stop every subscription's timer (shutdown). */
  stop(): void {
    for (const s of this.subs.values()) s.timer?.cancel();
    this.subs.clear();
  }
}
