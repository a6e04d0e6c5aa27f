import type { Counters, Logger } from '../core/index.js';
import { createResponse, type SipRequest, type SipResponse } from '../sip/message/index.js';
import type {
  InviteServerTransaction, NonInviteServerTransaction, ServerTransaction, Target, TransactionLayerUser,
} from '../sip/transaction/index.js';
import type { Registrar } from './registrar.js';

/** Methods this firmware answers; calls (INVITE and the dialog methods) come with the B2BUA. */
const ALLOW = 'REGISTER, OPTIONS';

/**
 * The transaction user on top of the SIP stack: hands each new request to the
 * part of the PBX that owns its method.
 */
export class PbxCore implements TransactionLayerUser {
  constructor(
    private readonly registrar: Registrar,
    private readonly counters: Counters,
    private readonly log: Logger,
    private readonly toTag: () => string,
  ) {}

  onRequest(req: SipRequest, tx: ServerTransaction, source: Target): void {
    let res: SipResponse;
    try {
      switch (req.method) {
        case 'REGISTER':
          res = this.registrar.handle(req, source);
          break;
        case 'OPTIONS':
          res = createResponse(req, 200, 'OK', { toTag: this.toTag(), headers: [{ name: 'allow', value: ALLOW }, { name: 'accept', value: 'application/sdp' }] });
          break;
        default:
          this.counters.inc(`sip.method-not-allowed.${req.method.toLowerCase().slice(0, 16)}`);
          res = createResponse(req, 405, 'Method Not Allowed', { toTag: this.toTag(), headers: [{ name: 'allow', value: ALLOW }] });
      }
    } catch (e) {
      // A request that parses but breaks a rule deeper down gets a 400, never a crash.
      this.counters.inc('sip.request-error');
      this.log.warn({ method: req.method, err: e instanceof Error ? e.message : String(e) }, 'request failed');
      res = createResponse(req, 400, 'Bad Request', { toTag: this.toTag() });
    }
    tx.respond(res);
  }

  onCancel(cancel: SipRequest, tx: NonInviteServerTransaction, cancelled: InviteServerTransaction | undefined): void {
    // No INVITE transactions exist before the B2BUA; RFC 3261 9.2: nothing to cancel -> 481.
    tx.respond(createResponse(cancel, cancelled ? 200 : 481, undefined, { toTag: this.toTag() }));
  }

  onAck(): void {
    // ACKs for 2xx belong to dialogs, which arrive with the B2BUA.
  }
}
