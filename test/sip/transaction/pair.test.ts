/**
 * Two whole transaction layers talking over an in-memory network that
 * serialises and parses every message, with a fixed latency and a switch to
 * drop datagrams. Proves the state machines interoperate on real wire bytes.
 */
import t from 'tap';
import { Counters, FakeClock, seededRandom } from '../../../firmware/core/index.js';
import { createResponse, parseMessage, serialize } from '../../../firmware/sip/message/index.js';
import type { SipMessage, SipRequest, SipResponse } from '../../../firmware/sip/message/index.js';
import {
  type InviteServerTransaction, type NonInviteServerTransaction, type ServerTransaction, type Target,
  TransactionLayer, type TransactionLayerUser, type TransportSink,
} from '../../../firmware/sip/transaction/index.js';
import { ClientUser, header, request } from './helpers.js';

const LATENCY = 10;

class Network {
  layers = new Map<string, TransactionLayer>();
  /** Drop the next n messages sent by this address. */
  drops = new Map<string, number>();
  wire: string[] = [];
  constructor(private readonly clock: FakeClock) {}
  sinkFor(self: string, transport: 'udp' | 'tcp'): TransportSink {
    return {
      send: (msg: SipMessage, target: Target) => {
        const bytes = serialize(msg);
        this.wire.push(bytes.toString('utf8').split('\r\n')[0]!);
        const left = this.drops.get(self) ?? 0;
        if (left > 0) {
          this.drops.set(self, left - 1);
          return;
        }
        this.clock.setTimer(LATENCY, () => {
          const parsed = parseMessage(bytes);
          if (!parsed.ok) throw parsed.error;
          this.layers.get(target.address)!.receive(parsed.message, { transport, address: self, port: 5060 });
        });
      },
    };
  }
}

class Tu implements TransactionLayerUser {
  requests: { req: SipRequest; tx: ServerTransaction }[] = [];
  cancels: { tx: NonInviteServerTransaction; cancelled: InviteServerTransaction | undefined; cancel: SipRequest }[] = [];
  acks: SipRequest[] = [];
  strays: SipResponse[] = [];
  answer: ((req: SipRequest, tx: ServerTransaction) => void) | undefined;
  onRequest(req: SipRequest, tx: ServerTransaction): void {
    this.requests.push({ req, tx });
    this.answer?.(req, tx);
  }
  onCancel(cancel: SipRequest, tx: NonInviteServerTransaction, cancelled: InviteServerTransaction | undefined): void {
    this.cancels.push({ tx, cancelled, cancel });
  }
  onAck(ack: SipRequest): void {
    this.acks.push(ack);
  }
  onStrayResponse(res: SipResponse): void {
    this.strays.push(res);
  }
}

function world(transport: 'udp' | 'tcp' = 'udp') {
  const clock = new FakeClock();
  const net = new Network(clock);
  const mk = (addr: string, seed: number) => {
    const tu = new Tu();
    const counters = new Counters();
    const layer = new TransactionLayer({
      sink: net.sinkFor(addr, transport), clock, random: seededRandom(seed), user: tu, counters, sentBy: () => `${addr}:5060`,
    });
    net.layers.set(addr, layer);
    return { tu, layer, counters };
  };
  const a = mk('10.0.0.1', 1);
  const b = mk('10.0.0.2', 2);
  const toB: Target = { transport, address: '10.0.0.2', port: 5060 };
  const invite = (): SipRequest => {
    const r = request('INVITE');
    return { ...r, headers: r.headers.filter((h) => h.name !== 'via') };
  };
  return { clock, net, a, b, toB, invite };
}

t.test('lost INVITE over UDP: retransmitted by Timer A, rejected, ACKed, all state gone afterwards', async (t) => {
  const { clock, net, a, b, toB, invite } = world();
  net.drops.set('10.0.0.1', 1);
  b.tu.answer = (req, tx) => {
    tx.respond(createResponse(req, 180, undefined, { toTag: 'bob1' }));
    tx.respond(createResponse(req, 486, undefined, { toTag: 'bob1' }));
  };
  const user = new ClientUser();
  const itx = a.layer.sendRequest(invite(), toB, user);
  clock.advance(600);
  t.same(user.responses.map((r) => r.status), [180, 486]);
  t.equal(itx.state, 'completed');
  t.equal(b.tu.requests.length, 1);
  t.equal(b.tu.requests[0]!.tx.state, 'confirmed', 'the ACK matched the server transaction');
  t.same(net.wire, ['INVITE sip:bob@biloxi.com SIP/2.0', 'INVITE sip:bob@biloxi.com SIP/2.0', 'SIP/2.0 180 Ringing', 'SIP/2.0 486 Busy Here', 'ACK sip:bob@biloxi.com SIP/2.0']);
  clock.advance(40_000);
  t.equal(a.layer.clientCount + b.layer.serverCount, 0);
  t.equal(clock.timerCount, 0);
});

t.test('lost ACK over UDP: Timer G resends the 486, the client re-ACKs without bothering its TU', async (t) => {
  const { clock, net, a, b, toB, invite } = world();
  b.tu.answer = (req, tx) => tx.respond(createResponse(req, 486, undefined, { toTag: 'bob1' }));
  const user = new ClientUser();
  a.layer.sendRequest(invite(), toB, user);
  net.drops.set('10.0.0.1', 0);
  clock.advance(15); // INVITE delivered at 10, 486 sent at 10
  net.drops.set('10.0.0.1', 1); // next thing A sends (the ACK) is lost
  clock.advance(10);
  const stx = b.tu.requests[0]!.tx;
  t.equal(stx.state, 'completed');
  clock.advance(510); // G fires at 510, 486 arrives at 520, second ACK reaches B at 530
  t.equal(stx.state, 'confirmed');
  t.same(user.responses.map((r) => r.status), [486]);
  t.equal(a.counters.get('transaction.response.stray'), 0);
  clock.advance(40_000);
  t.equal(clock.timerCount, 0);
});

t.test('RFC 6026 over TCP: 2xx reaches the TU, its ACK is a new transaction handed to the other TU', async (t) => {
  const { clock, a, b, toB, invite } = world('tcp');
  b.tu.answer = (req, tx) => tx.respond(createResponse(req, 200, undefined, { toTag: 'bob1' }));
  const user = new ClientUser();
  const itx = a.layer.sendRequest(invite(), toB, user);
  clock.advance(20);
  t.same(user.responses.map((r) => r.status), [200]);
  t.equal(itx.state, 'accepted');
  const ok = user.responses[0]!;
  const ack: SipRequest = {
    kind: 'request', method: 'ACK', uri: itx.request.uri, body: Buffer.alloc(0),
    headers: [
      { name: 'max-forwards', value: '70' },
      { name: 'from', value: header(ok, 'from')! },
      { name: 'to', value: header(ok, 'to')! },
      { name: 'call-id', value: header(ok, 'call-id')! },
      { name: 'cseq', value: '314159 ACK' },
    ],
  };
  a.layer.sendAck(ack, toB);
  clock.advance(10);
  t.equal(b.tu.acks.length, 1);
  t.equal(b.tu.requests[0]!.tx.state, 'accepted');
  clock.advance(32_000);
  t.equal(a.layer.clientCount + b.layer.serverCount, 0, 'Timers L and M ended both sides');
  t.equal(clock.timerCount, 0);
});

t.test('CANCEL across the wire: 100 Trying, 180, CANCEL matched, 200 for CANCEL and 487 for INVITE', async (t) => {
  const { clock, a, b, toB, invite } = world();
  const user = new ClientUser();
  const itx = a.layer.sendRequest(invite(), toB, user);
  if (itx.kind !== 'invite-client') throw new Error('expected INVITE client transaction');
  clock.advance(300); // B's automatic 100 Trying at 210, seen by A at 220
  t.same(user.responses.map((r) => r.status), [100]);
  const cu = new ClientUser();
  a.layer.sendCancel(itx, cu);
  clock.advance(10);
  t.equal(b.tu.cancels.length, 1);
  const { tx: ctx, cancelled, cancel } = b.tu.cancels[0]!;
  t.equal(cancelled, b.tu.requests[0]!.tx);
  ctx.respond(createResponse(cancel, 200));
  const inv = b.tu.requests[0]!.req;
  cancelled!.respond(createResponse(inv, 487, undefined, { toTag: 'bob1' }));
  clock.advance(30);
  t.same(cu.responses.map((r) => r.status), [200]);
  t.same(user.responses.map((r) => r.status), [100, 487]);
  t.equal(cancelled!.state, 'confirmed');
  clock.advance(40_000);
  t.equal(a.layer.clientCount + b.layer.serverCount, 0);
  t.equal(clock.timerCount, 0);
});
