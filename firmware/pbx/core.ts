import type { Counters, Logger } from '../core/index.js';
import { createResponse, toTag, type SipRequest, type SipResponse } from '../sip/message/index.js';
import type {
  InviteServerTransaction, NonInviteServerTransaction, ServerTransaction, Target, TransactionLayerUser,
} from '../sip/transaction/index.js';
import type { B2bua } from './b2bua.js';
import type { Registrar } from './registrar.js';

const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REGISTER';

/**
 * The transaction user on top of the SIP stack: hands each new request to the
 * part of the PBX that owns it (the registrar, or call control).
 */
export class PbxCore implements TransactionLayerUser {
  constructor(
    private readonly registrar: Registrar,
    private readonly calls: B2bua,
    private readonly counters: Counters,
    private readonly log: Logger,
    private readonly toTag: () => string,
  ) {}

  /** SUBSCRIBE handling (message-waiting, pbx/mwi.ts): true when it answered the request. */
  subscribe?: (req: SipRequest, tx: ServerTransaction, source: Target) => boolean;

  onRequest(req: SipRequest, tx: ServerTransaction, source: Target): void {
    try {
      if (req.method === 'SUBSCRIBE' && this.subscribe?.(req, tx, source)) return;
      if (req.method === 'INVITE') {
        this.calls.onInvite(req, tx as InviteServerTransaction, source);
        return;
      }
      if (toTag(req) !== undefined && req.method !== 'REGISTER') {
        // In a dialog (RFC 3261 12.2.2): the call it belongs to answers, else 481.
        if (!this.calls.onInDialog(req, tx, source)) tx.respond(createResponse(req, 481, 'Call/Transaction Does Not Exist'));
        return;
      }
      tx.respond(this.outOfDialog(req, source));
    } catch (e) {
      // A request that parses but breaks a rule deeper down gets an error answer, never a crash.
      this.counters.inc('sip.request-error');
      this.log.warn({ method: req.method, err: e instanceof Error ? e.message : String(e) }, 'request failed');
      try { tx.respond(createResponse(req, 500, 'Server Internal Error', { toTag: this.toTag() })); } catch { /* already answered */ }
    }
  }

  private outOfDialog(req: SipRequest, source: Target): SipResponse {
    switch (req.method) {
      case 'REGISTER':
        return this.registrar.handle(req, source);
      case 'OPTIONS':
        return createResponse(req, 200, 'OK', { toTag: this.toTag(), headers: [{ name: 'allow', value: ALLOW }, { name: 'accept', value: 'application/sdp' }] });
      default:
        this.counters.inc(`sip.method-not-allowed.${req.method.toLowerCase().slice(0, 16)}`);
        return createResponse(req, 405, 'Method Not Allowed', { toTag: this.toTag(), headers: [{ name: 'allow', value: ALLOW }] });
    }
  }

  onCancel(cancel: SipRequest, tx: NonInviteServerTransaction, cancelled: InviteServerTransaction | undefined): void {
    this.calls.onCancel(cancel, tx, cancelled);
  }

  onAck(ack: SipRequest): void {
    this.calls.onAck(ack);
  }
}
