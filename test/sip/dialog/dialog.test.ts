/**
 * Dialog state as plain data (RFC 3261 12): made from the INVITE and its 2xx
 * on each side, requests built inside it, the peer's CSeq checked, and the
 * remote target moved by a target refresh.
 */
import t from 'tap';
import { acceptRemoteSeq, dialogAsUac, dialogAsUas, dialogRequest, inDialog, refreshTarget } from '../../../firmware/sip/dialog/index.js';
import { getCSeq, getHeader, type Header, type SipRequest, type SipResponse } from '../../../firmware/sip/message/index.js';

// RFC 3665 3.2-style call: Alice calls Bob.
function invite(extra: Header[] = []): SipRequest {
  return {
    kind: 'request', method: 'INVITE', uri: 'sip:bob@biloxi.example.com', body: Buffer.alloc(0),
    headers: [
      { name: 'via', value: 'SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9' },
      { name: 'from', value: 'Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl' },
      { name: 'to', value: 'Bob <sip:bob@biloxi.example.com>' },
      { name: 'call-id', value: '3848276298220188511@atlanta.example.com' },
      { name: 'cseq', value: '1 INVITE' },
      { name: 'contact', value: '<sip:alice@client.atlanta.example.com;transport=udp>' },
      ...extra,
    ],
  };
}

function ok(req: SipRequest, contact = '<sip:bob@client.biloxi.example.com>'): SipResponse {
  return {
    kind: 'response', status: 200, reason: 'OK', body: Buffer.alloc(0),
    headers: [
      ...req.headers.filter((h) => ['via', 'from', 'call-id', 'cseq', 'record-route'].includes(h.name)),
      { name: 'to', value: 'Bob <sip:bob@biloxi.example.com>;tag=314159' },
      { name: 'contact', value: contact },
    ],
  };
}

t.test('RFC 3261 12.1.1 / 12.1.2: both sides of one dialog agree on Call-ID, tags, target and route set', async (t) => {
  const req = invite([{ name: 'record-route', value: '<sip:p1.example.com;lr>' }, { name: 'record-route', value: '<sip:p2.example.com;lr>' }]);
  const uas = dialogAsUas(req, '314159');
  const uac = dialogAsUac(req, ok(req));
  t.same({ id: uas.callId, local: uas.localTag, remote: uas.remoteTag, target: uas.remoteTarget, seq: uas.remoteSeq },
    { id: '3848276298220188511@atlanta.example.com', local: '314159', remote: '9fxced76sl', target: 'sip:alice@client.atlanta.example.com;transport=udp', seq: 1 });
  t.same({ local: uac.localTag, remote: uac.remoteTag, target: uac.remoteTarget, seq: uac.localSeq },
    { local: '9fxced76sl', remote: '314159', target: 'sip:bob@client.biloxi.example.com', seq: 1 });
  t.same(uas.routeSet, ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>'], 'the UAS keeps Record-Route in order');
  t.same(uac.routeSet, ['<sip:p2.example.com;lr>', '<sip:p1.example.com;lr>'], 'the UAC reverses it');
  t.throws(() => dialogAsUas({ ...req, headers: req.headers.filter((h) => h.name !== 'contact') }, 'x'), { code: 'protocol' }, 'no Contact, no dialog');
});

t.test('RFC 3261 12.2.1.1: requests in the dialog count CSeq up, an ACK reuses the INVITE\'s number', async (t) => {
  const req = invite();
  const d = dialogAsUac(req, ok(req));
  const bye = dialogRequest(d, 'BYE');
  t.equal(getCSeq(bye.request).seq, 2);
  t.equal(bye.dialog.localSeq, 2);
  t.equal(bye.request.uri, 'sip:bob@client.biloxi.example.com', 'Request-URI is the remote target');
  const ack = dialogRequest(d, 'ACK');
  t.same({ seq: getCSeq(ack.request).seq, method: getCSeq(ack.request).method }, { seq: 1, method: 'ACK' });
  t.equal(ack.dialog, d, 'an ACK does not move the dialog');
  t.equal(getCSeq(dialogRequest(d, 'ACK', { cseq: 7 }).request).seq, 7, 'the ACK of a later re-INVITE carries that INVITE\'s number');
  t.match(getHeader(bye.request, 'to'), /;tag=314159$/);
});

t.test('RFC 3261 12.2.2: the peer\'s CSeq must grow; ACK and CANCEL may repeat it', async (t) => {
  const req = invite();
  const d = dialogAsUas(req, '314159');
  const inside = (method: string, seq: number): SipRequest => ({
    ...req, method, headers: req.headers.map((h) => (h.name === 'cseq' ? { name: 'cseq', value: `${seq} ${method}` } : h.name === 'to' ? { name: 'to', value: `${h.value};tag=314159` } : h)),
  });
  t.ok(inDialog(d, inside('BYE', 2)));
  t.notOk(inDialog({ ...d, localTag: 'other' }, inside('BYE', 2)), 'another To tag is another dialog');
  t.equal(acceptRemoteSeq(d, inside('BYE', 2))?.remoteSeq, 2);
  t.equal(acceptRemoteSeq(d, inside('INVITE', 1)), undefined, 'an old number is refused');
  t.equal(acceptRemoteSeq(d, inside('ACK', 1))?.remoteSeq, 1, 'an ACK repeats the INVITE\'s number');
});

t.test('RFC 3261 12.2: a target refresh moves the remote target only when a usable Contact says so', async (t) => {
  const req = invite();
  const d = dialogAsUac(req, ok(req));
  const moved = refreshTarget(d, ok(req, '<sip:bob@192.0.2.77:5070>'));
  t.equal(moved.remoteTarget, 'sip:bob@192.0.2.77:5070');
  t.equal(dialogRequest(moved, 'BYE').request.uri, 'sip:bob@192.0.2.77:5070', 'the next request goes there');
  t.equal(refreshTarget(d, ok(req, '<sip:bob@client.biloxi.example.com>')), d, 'the same Contact changes nothing');
  const noContact: SipResponse = { ...ok(req), headers: ok(req).headers.filter((h) => h.name !== 'contact') };
  t.equal(refreshTarget(d, noContact), d, 'no Contact: the target stays');
  t.equal(refreshTarget(d, ok(req, '<<<garbage')), d, 'an unparseable Contact: the target stays, nothing thrown');
});
