import t from 'tap';
import { Counters, type PbxError, seededRandom } from '../../../firmware/core/index.js';
import type { SipRequest, SipResponse } from '../../../firmware/sip/message/index.js';
import {
  type InviteServerTransaction, type NonInviteServerTransaction, type ServerTransaction, type Target,
  OVERLOAD_RETRY_AFTER_S, TransactionLayer, type TransactionLayerUser,
} from '../../../firmware/sip/transaction/index.js';
import { ClientUser, TCP, UDP, header, request, response, setup } from './helpers.js';

const PEER: Target = { transport: 'udp', address: '198.51.100.7', port: 5062 };

class LayerUser implements TransactionLayerUser {
  requests: { req: SipRequest; tx: ServerTransaction }[] = [];
  cancels: { cancel: SipRequest; tx: NonInviteServerTransaction; cancelled: InviteServerTransaction | undefined }[] = [];
  acks: SipRequest[] = [];
  strays: SipResponse[] = [];
  timeouts: ServerTransaction[] = [];
  errors: PbxError[] = [];
  throwOnRequest = false;
  onRequest(req: SipRequest, tx: ServerTransaction): void {
    if (this.throwOnRequest) throw new Error('TU bug');
    this.requests.push({ req, tx });
  }
  onCancel(cancel: SipRequest, tx: NonInviteServerTransaction, cancelled: InviteServerTransaction | undefined): void {
    this.cancels.push({ cancel, tx, cancelled });
  }
  onAck(ack: SipRequest): void {
    this.acks.push(ack);
  }
  onStrayResponse(res: SipResponse): void {
    this.strays.push(res);
  }
  onServerTimeout(tx: ServerTransaction): void {
    this.timeouts.push(tx);
  }
  onServerTransportError(_tx: ServerTransaction, err: PbxError): void {
    this.errors.push(err);
  }
}

function makeLayer() {
  const env = setup();
  const counters = new Counters();
  const user = new LayerUser();
  const layer = new TransactionLayer({
    sink: env.sink,
    clock: env.clock,
    random: seededRandom(7),
    counters,
    user,
    sentBy: (target) => (target.transport === 'udp' ? 'pbx.example.com:5060' : 'pbx.example.com:5061'),
  });
  return { ...env, counters, user, layer };
}

function topViaValue(msg: SipRequest): string {
  return msg.headers.find((h) => h.name === 'via')!.value;
}

function branchOf(msg: SipRequest): string {
  return /;branch=([^;]+)/.exec(topViaValue(msg))![1]!;
}

/** Strip the Via the TU would not have added itself. */
function bare(method: string): SipRequest {
  const r = request(method);
  return { ...r, headers: r.headers.filter((h) => h.name !== 'via') };
}

t.test('8.1.1.7/18.1.1: sendRequest puts our Via on top with a fresh magic-cookie branch', async (t) => {
  const { sink, layer } = makeLayer();
  layer.sendRequest(bare('OPTIONS'), UDP, new ClientUser());
  layer.sendRequest(bare('OPTIONS'), TCP, new ClientUser());
  const [a, b] = sink.requests('OPTIONS');
  t.match(topViaValue(a!), /^SIP\/2\.0\/UDP pbx\.example\.com:5060;branch=z9hG4bK[A-Za-z0-9_-]{12};rport$/);
  t.match(topViaValue(b!), /^SIP\/2\.0\/TCP pbx\.example\.com:5061;branch=z9hG4bK/);
  t.not(branchOf(a!), branchOf(b!));
  t.equal(sink.sent[0]!.target, UDP);
  t.equal(layer.clientCount, 2);
  t.throws(() => layer.sendRequest(bare('ACK'), UDP, new ClientUser()), { code: 'protocol' });
  t.throws(() => layer.sendRequest(bare('CANCEL'), UDP, new ClientUser()), { code: 'protocol' });
  layer.close();
});

t.test('17.1.3: responses match on top-Via branch plus CSeq method; others are stray', async (t) => {
  const { clock, sink, counters, user, layer } = makeLayer();
  const cu = new ClientUser();
  const tx = layer.sendRequest(bare('REGISTER'), UDP, cu);
  const sent = sink.requests('REGISTER')[0]!;
  layer.receive(response(sent, 200), PEER);
  t.same(cu.responses.map((r) => r.status), [200]);
  t.equal(tx.state, 'completed');

  // Same branch, other CSeq method: not this transaction.
  const other = response(sent, 200);
  layer.receive({ ...other, headers: other.headers.map((h) => (h.name === 'cseq' ? { name: 'cseq', value: '314159 OPTIONS' } : h)) }, PEER);
  // Other branch.
  layer.receive(response(request('REGISTER', { branch: 'z9hG4bKnope' }), 200), PEER);
  t.equal(cu.responses.length, 1);
  t.equal(user.strays.length, 2);
  t.equal(counters.get('transaction.response.stray'), 2);

  clock.advance(5000);
  t.equal(tx.state, 'terminated');
  t.equal(layer.clientCount, 0, 'terminated transactions are forgotten');
  layer.receive(response(sent, 200), PEER);
  t.equal(user.strays.length, 3, 'late retransmission is now stray');
  t.equal(clock.timerCount, 0);
});

t.test('malformed input is counted and dropped, never thrown', async (t) => {
  const { counters, user, layer } = makeLayer();
  const inv = request('INVITE');
  const noVia = response(inv, 200);
  layer.receive({ ...noVia, headers: noVia.headers.filter((h) => h.name !== 'via') }, PEER);
  layer.receive({ ...noVia, headers: noVia.headers.filter((h) => h.name !== 'cseq') }, PEER);
  layer.receive({ ...noVia, status: 42 }, PEER);
  layer.receive({ ...inv, headers: inv.headers.filter((h) => h.name !== 'via') }, PEER);
  layer.receive({ ...inv, headers: inv.headers.filter((h) => h.name !== 'cseq') }, PEER);
  layer.receive({ ...inv, headers: inv.headers.filter((h) => h.name !== 'call-id') }, PEER);
  layer.receive(request('INVITE', { cseqMethod: 'BYE' }), PEER);
  t.equal(counters.get('transaction.response.no-via'), 1);
  t.equal(counters.get('transaction.response.no-cseq'), 1);
  t.equal(counters.get('transaction.response.bad-status'), 1);
  t.equal(counters.get('transaction.request.no-via'), 1);
  t.equal(counters.get('transaction.request.no-cseq'), 1);
  t.equal(counters.get('transaction.request.no-call-id'), 1);
  t.equal(counters.get('transaction.request.cseq-method-mismatch'), 1);
  t.equal(user.requests.length + user.strays.length, 0);
  t.equal(layer.serverCount, 0);
});

t.test('17.2.3: requests match on branch + sent-by + method; retransmissions stay in the transaction', async (t) => {
  const { sink, counters, user, layer, clock } = makeLayer();
  const inv = request('INVITE');
  layer.receive(inv, PEER);
  t.equal(user.requests.length, 1);
  const stx = user.requests[0]!.tx;
  t.equal(stx.kind, 'invite-server');
  t.equal(stx.target, PEER, 'responses go back where the request came from');
  stx.respond(response(inv, 180, 'uas'));
  layer.receive(inv, PEER);
  t.equal(user.requests.length, 1, 'retransmission not passed to the TU');
  t.equal(counters.get('transaction.request.retransmission'), 1);
  t.same(sink.responses().map((r) => r.status), [180, 180]);

  layer.receive(request('INVITE', { sentBy: 'other.atlanta.com' }), PEER);
  layer.receive(request('INVITE', { sentBy: 'PC33.ATLANTA.COM:5060' }), PEER);
  layer.receive(request('OPTIONS'), PEER);
  t.equal(user.requests.length, 3, 'other sent-by or method: new transactions; host compared case-insensitively');
  t.equal(layer.serverCount, 3);
  layer.close();
  t.equal(layer.serverCount, 0);
  t.equal(clock.timerCount, 0);
});

t.test('17.2.3: ACK for a non-2xx matches the INVITE transaction; ACK for a 2xx goes to the TU', async (t) => {
  const { clock, user, layer } = makeLayer();
  const inv = request('INVITE');
  layer.receive(inv, PEER);
  const stx = user.requests[0]!.tx;
  stx.respond(response(inv, 486, 'uas'));
  layer.receive(request('ACK', { toTag: 'uas' }), PEER);
  t.equal(stx.state, 'confirmed');
  t.equal(user.acks.length, 0);

  const inv2 = request('INVITE', { branch: 'z9hG4bKsecond', callId: 'c2' });
  layer.receive(inv2, PEER);
  const stx2 = user.requests[1]!.tx;
  stx2.respond(response(inv2, 200, 'uas2'));
  t.equal(stx2.state, 'accepted');
  const ack2xx = request('ACK', { branch: 'z9hG4bKnewone', callId: 'c2', toTag: 'uas2' });
  layer.receive(ack2xx, PEER);
  t.same(user.acks, [ack2xx], 'a 2xx ACK has its own branch and goes to the TU');
  const sameBranchAck = request('ACK', { branch: 'z9hG4bKsecond', callId: 'c2', toTag: 'uas2' });
  layer.receive(sameBranchAck, PEER);
  t.same(user.acks, [ack2xx, sameBranchAck], 'RFC 6026: an ACK matching an Accepted transaction also reaches the TU');

  clock.advance(32_000);
  t.equal(layer.serverCount, 0);
  t.equal(clock.timerCount, 0);
});

t.test('9.2: CANCEL gets its own server transaction and names the INVITE it cancels', async (t) => {
  const { sink, user, layer } = makeLayer();
  const inv = request('INVITE');
  layer.receive(inv, PEER);
  const itx = user.requests[0]!.tx;
  const cancel = request('CANCEL');
  layer.receive(cancel, PEER);
  t.equal(user.requests.length, 1, 'CANCEL is not reported as a plain request');
  t.equal(user.cancels.length, 1);
  const c = user.cancels[0]!;
  t.equal(c.cancelled, itx);
  t.not(c.tx, itx);
  t.equal(c.tx.kind, 'non-invite-server');
  c.tx.respond(response(cancel, 200));
  itx.respond(response(inv, 487, 'uas'));
  t.same(sink.responses().map((r) => `${r.status} ${header(r, 'cseq')}`), ['200 314159 CANCEL', '487 314159 INVITE']);
  layer.receive(cancel, PEER);
  t.equal(user.cancels.length, 1, 'retransmitted CANCEL absorbed by its transaction');

  layer.receive(request('CANCEL', { branch: 'z9hG4bKunknown' }), PEER);
  t.equal(user.cancels.length, 2);
  t.equal(user.cancels[1]!.cancelled, undefined, 'no INVITE matched: the TU answers 481');
  layer.close();
});

t.test('17.2.3: RFC 2543 fallback when the branch lacks the magic cookie', async (t) => {
  const { clock, counters, user, layer } = makeLayer();
  for (const branch of ['', '1234abcd']) {
    user.requests = [];
    user.cancels = [];
    user.acks = [];
    const o = { branch, callId: `legacy-${branch}` };
    const inv = request('INVITE', o);
    layer.receive(inv, PEER);
    layer.receive(request('INVITE', o), PEER);
    t.equal(user.requests.length, 1, `retransmission matched (branch "${branch}")`);
    layer.receive(request('INVITE', { ...o, fromTag: 'other' }), PEER);
    layer.receive(request('INVITE', { ...o, uri: 'sip:carol@biloxi.com' }), PEER);
    layer.receive(request('INVITE', { ...o, sentBy: 'elsewhere.atlanta.com' }), PEER);
    layer.receive(request('INVITE', { ...o, cseq: 2 }), PEER);
    t.equal(user.requests.length, 5, 'From tag, Request-URI, top Via and CSeq all take part');

    const cancel = request('CANCEL', o);
    layer.receive(cancel, PEER);
    const itx = user.requests[0]!.tx;
    t.equal(user.cancels[0]?.cancelled, itx, 'CANCEL matched by the RFC 2543 rules (9.2)');

    itx.respond(response(inv, 486, 'uas'));
    layer.receive(request('ACK', { ...o, toTag: 'wrong' }), PEER);
    t.equal(itx.state, 'completed', 'ACK To tag must equal the tag of our response');
    t.equal(user.acks.length, 1);
    layer.receive(request('ACK', { ...o, toTag: 'uas' }), PEER);
    t.equal(itx.state, 'confirmed');
    t.equal(user.acks.length, 1);
  }
  t.ok(counters.get('transaction.request.retransmission') >= 2);
  layer.close();
  t.equal(clock.timerCount, 0);
});

t.test('9.1: sendCancel only in Proceeding; same branch, own transaction, responses split by CSeq method', async (t) => {
  const { sink, layer, clock } = makeLayer();
  const cu = new ClientUser();
  const itx = layer.sendRequest(bare('INVITE'), UDP, cu);
  if (itx.kind !== 'invite-client') throw new Error('expected INVITE client');
  t.throws(() => layer.sendCancel(itx, new ClientUser()), { code: 'invalid-state' }, 'not before a provisional');
  const invite = sink.requests('INVITE')[0]!;
  layer.receive(response(invite, 180, 'uas'), PEER);
  const ccu = new ClientUser();
  const ctx = layer.sendCancel(itx, ccu);
  const cancel = sink.requests('CANCEL')[0]!;
  t.equal(branchOf(cancel), branchOf(invite));
  t.equal(cancel.uri, invite.uri);
  t.equal(header(cancel, 'cseq'), '314159 CANCEL');
  t.equal(header(cancel, 'to'), header(invite, 'to'));
  t.equal(header(cancel, 'from'), header(invite, 'from'));
  t.equal(header(cancel, 'call-id'), header(invite, 'call-id'));
  t.equal(cancel.headers.filter((h) => h.name === 'via').length, 1);
  t.equal(sink.sent.at(-1)!.target, UDP);

  layer.receive(response(cancel, 200), PEER);
  layer.receive(response(invite, 487, 'uas'), PEER);
  t.same(ccu.responses.map((r) => r.status), [200]);
  t.same(cu.responses.map((r) => r.status), [180, 487]);
  t.equal(ctx.state, 'completed');
  t.equal(itx.state, 'completed');
  t.throws(() => layer.sendCancel(itx, new ClientUser()), { code: 'invalid-state' }, 'not after a final');
  clock.advance(32_000);
  t.equal(layer.clientCount, 0);
  t.equal(clock.timerCount, 0);
});

t.test('13.2.2.4: sendAck stamps a fresh branch and keeps no state', async (t) => {
  const { sink, layer, clock } = makeLayer();
  const itx = layer.sendRequest(bare('INVITE'), UDP, new ClientUser());
  const ack = layer.sendAck(bare('ACK'), UDP);
  t.not(branchOf(ack), branchOf(itx.request));
  t.same(sink.requests('ACK'), [ack]);
  layer.sendStateless(ack, UDP);
  t.equal(sink.requests('ACK').length, 2);
  t.equal(layer.clientCount, 1);
  layer.close();
  t.equal(clock.timerCount, 0);
});

t.test('a closed flow is a transport error for transactions bound to it', async (t) => {
  const { user, layer, clock } = makeLayer();
  const cu = new ClientUser();
  const ctx = layer.sendRequest(bare('OPTIONS'), TCP, cu);
  const udpTx = layer.sendRequest(bare('OPTIONS'), UDP, new ClientUser());
  layer.receive(request('MESSAGE'), TCP);
  layer.flowFailed('flow-1');
  t.equal(ctx.state, 'terminated');
  t.equal(cu.errors[0]?.code, 'transport');
  t.equal(user.errors.length, 1, 'server transaction on the flow reported too');
  t.equal(udpTx.state, 'trying');
  t.equal(layer.serverCount, 0);
  t.equal(layer.clientCount, 1);
  layer.close();
  t.equal(clock.timerCount, 0);
});

t.test('Timer H on a server INVITE reaches the TU through the layer', async (t) => {
  const { user, layer, clock } = makeLayer();
  const inv = request('INVITE');
  layer.receive(inv, PEER);
  user.requests[0]!.tx.respond(response(inv, 404, 'uas'));
  clock.advance(32_000);
  t.equal(user.timeouts.length, 1);
  t.equal(layer.serverCount, 0);
  t.equal(clock.timerCount, 0);
});

t.test('a TU that throws does not unwind receive (style 11)', async (t) => {
  const { user, layer, counters } = makeLayer();
  user.throwOnRequest = true;
  t.doesNotThrow(() => layer.receive(request('OPTIONS'), PEER));
  t.equal(counters.get('transaction.tu-exception'), 1);
  layer.close();
});

t.test('overload: past the server transaction cap a new request gets a stateless 503 with Retry-After, not silence', async (t) => {
  const env = setup();
  const counters = new Counters();
  const user = new LayerUser();
  const layer = new TransactionLayer({
    sink: env.sink, clock: env.clock, random: seededRandom(7), counters, user, maxServerTransactions: 2,
    sentBy: () => 'pbx.example.com:5060',
  });
  layer.receive(request('OPTIONS', { branch: 'z9hG4bK-o1' }), PEER);
  layer.receive(request('OPTIONS', { branch: 'z9hG4bK-o2', cseq: 2 }), PEER);
  t.equal(user.requests.length, 2, 'two requests fit');
  layer.receive(request('OPTIONS', { branch: 'z9hG4bK-o3', cseq: 3 }), PEER);
  t.equal(user.requests.length, 2, 'the third never reaches the TU');
  const [res] = env.sink.responses(503);
  t.ok(res, 'a 503 went back');
  t.equal(res?.headers.find((h) => h.name === 'retry-after')?.value, String(OVERLOAD_RETRY_AFTER_S));
  t.equal(env.sink.sent.at(-1)?.target.address, PEER.address, 'to where the request came from');
  t.equal(counters.get('transaction.request.overload'), 1);
  layer.receive(request('ACK', { branch: 'z9hG4bK-o4', cseq: 4 }), PEER);
  t.equal(env.sink.responses(503).length, 1, 'an ACK is never answered');
});
