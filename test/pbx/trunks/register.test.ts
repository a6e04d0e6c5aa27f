import t from 'tap';
import { Counters, FakeClock, seededRandom, silentLogger } from '../../../firmware/core/index.js';
import { DigestServer, ha1 } from '../../../firmware/sip/digest/index.js';
import { createResponse, getHeader, type SipRequest } from '../../../firmware/sip/message/index.js';
import type { ClientTransactionUser, Target } from '../../../firmware/sip/transaction/index.js';
import {
  BACKOFF_BASE_MS, BACKOFF_MAX_MS, CONFIG_ERROR_RETRY_MS, RegistrationClient, backoffDelay, refreshDelay,
} from '../../../firmware/pbx/trunks/index.js';

/**
 * The trunk's registration client against a provider stand-in that checks
 * digest with the box's own verifier (sip/digest DigestServer), on a fake
 * clock: challenge answered, refresh before expiry, backoff with jitter,
 * 403/404 and refused credentials as configuration errors, failover.
 */

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

type Mode = 'ok' | 'down' | 'forbidden' | 'not-found' | 'busy' | 'min-expires';

class Provider {
  readonly seen: Array<{ req: SipRequest; target: Target }> = [];
  mode: Mode = 'ok';
  /** Per target address, a mode that overrides `mode`. */
  readonly byAddress = new Map<string, Mode>();
  granted = 120;
  minExpires = 0;
  verified = 0;
  private readonly digest: DigestServer;

  constructor(clock: FakeClock, private readonly password = 's3cret') {
    const random = seededRandom(7);
    this.digest = new DigestServer({ realm: 'voip.example', secret: DigestServer.newSecret(random), clock, random, algorithms: ['MD5'] });
  }

  send = (req: SipRequest, target: Target, user: ClientTransactionUser): void => {
    this.seen.push({ req, target });
    const mode = this.byAddress.get(target.address) ?? this.mode;
    queueMicrotask(() => {
      if (mode === 'down') { user.onTimeout?.(); return; }
      if (mode === 'forbidden') { user.onResponse(createResponse(req, 403, 'Forbidden')); return; }
      if (mode === 'not-found') { user.onResponse(createResponse(req, 404, 'Not Found')); return; }
      if (mode === 'busy') { user.onResponse(createResponse(req, 503, 'Service Unavailable')); return; }
      const expires = Number(getHeader(req, 'expires'));
      if (this.minExpires > 0 && expires < this.minExpires) {
        user.onResponse(createResponse(req, 423, 'Interval Too Brief', { headers: [{ name: 'min-expires', value: String(this.minExpires) }] }));
        return;
      }
      const v = this.digest.verify({ method: 'REGISTER', authorization: getHeader(req, 'authorization') }, (u, alg) =>
        u === 'alice' ? ha1(alg, 'alice', 'voip.example', this.password) : undefined);
      if (!v.ok) {
        user.onResponse(createResponse(req, 401, 'Unauthorized', { headers: [{ name: 'www-authenticate', value: this.digest.challenge()[0]! }] }));
        return;
      }
      this.verified++;
      const contact = getHeader(req, 'contact')!;
      user.onResponse(createResponse(req, 200, 'OK', { headers: [{ name: 'contact', value: `${contact};expires=${Math.max(this.granted, this.minExpires)}` }] }));
    });
  };

  get registers(): number {
    return this.seen.length;
  }
}

function setup(opts: { password?: string; targets?: Target[] } = {}) {
  const clock = new FakeClock();
  const provider = new Provider(clock);
  const counters = new Counters();
  const targets = opts.targets ?? [{ transport: 'udp', address: '192.0.2.10', port: 5060 }];
  const client = new RegistrationClient(
    { trunk: 'prov', domain: 'voip.example', username: 'alice', password: opts.password ?? 's3cret' },
    {
      clock, random: seededRandom(3), log: silentLogger, counters, send: provider.send,
      targets: async () => targets, contact: (tg) => `sip:alice@198.51.100.1:5060${tg.transport === 'udp' ? '' : `;transport=${tg.transport}`}`,
    },
  );
  return { clock, provider, counters, client };
}

t.test('registers with digest: challenge answered, the granted expiry kept (RFC 3261 10.2, 22.2)', async (t) => {
  const { provider, client, clock, counters } = setup();
  client.start();
  await flush();
  t.equal(client.state, 'registered');
  t.equal(provider.registers, 2, 'one unauthenticated REGISTER, one answering the challenge');
  t.equal(provider.verified, 1, "the provider's verifier accepted the credentials");
  const [first, second] = provider.seen;
  t.equal(first!.req.uri, 'sip:voip.example');
  t.match(getHeader(first!.req, 'to'), /^<sip:alice@voip\.example>$/);
  t.equal(getHeader(second!.req, 'call-id'), getHeader(first!.req, 'call-id'), 'one Call-ID for the registration (10.2)');
  t.equal(getHeader(second!.req, 'cseq'), '2 REGISTER', 'CSeq grows by one');
  t.notOk(JSON.stringify(provider.seen.map((s) => s.req.headers)).includes('s3cret'), 'the password never goes on the wire');
  t.equal(client.status().expiresAt, clock.now() + 120_000);
  t.equal(counters.get('trunk.register.ok'), 1);
});

t.test('re-registers before the binding expires, and keeps registered meanwhile', async (t) => {
  const { provider, client, clock } = setup();
  client.start();
  await flush();
  t.equal(refreshDelay(120), 90_000, '30 s before expiry');
  t.equal(refreshDelay(40), 20_000, 'never before half the lifetime');
  clock.advance(89_999);
  await flush();
  t.equal(provider.registers, 2, 'nothing before the refresh is due');
  clock.advance(1);
  await flush();
  t.equal(provider.registers, 4, 'refresh: REGISTER, challenge, REGISTER');
  t.equal(client.state, 'registered');
  t.equal(client.status().expiresAt, clock.now() + 120_000, 'the new expiry');
  t.equal(getHeader(provider.seen[3]!.req, 'cseq'), '4 REGISTER');
});

t.test('recovers on its own after the provider restarts: backoff with jitter, then registered again', async (t) => {
  const { provider, client, clock } = setup();
  client.start();
  await flush();
  provider.mode = 'down';
  clock.advance(90_000);
  await flush();
  t.equal(client.state, 'retrying');
  t.match(client.status().lastError, /no answer/);
  const afterFirst = provider.registers;
  // The retry waits [base/2, base): not at once, and by base it has gone.
  clock.advance(BACKOFF_BASE_MS / 2 - 1);
  await flush();
  t.equal(provider.registers, afterFirst, 'no retry before half the first backoff');
  clock.advance(BACKOFF_BASE_MS / 2);
  await flush();
  t.equal(provider.registers, afterFirst + 1, 'one retry within the first backoff');
  provider.mode = 'ok';
  clock.advance(2 * BACKOFF_BASE_MS);
  await flush();
  t.equal(client.state, 'registered', 'registered again once the provider answers');
  t.equal(client.status().failures, 0, 'the failure count starts over');
});

t.test('backoff doubles up to its cap, with jitter in the upper half', async (t) => {
  const r = seededRandom(11);
  for (let n = 0; n < 12; n++) {
    const d = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** n);
    const seen = new Set<number>();
    const outside: number[] = [];
    for (let i = 0; i < 50; i++) {
      const x = backoffDelay(n, r);
      if (!(x >= d / 2 && x < d)) outside.push(x);
      seen.add(x);
    }
    t.same(outside, [], `failure ${n}: every delay in [${d / 2}, ${d})`);
    t.ok(seen.size > 10, `failure ${n}: jittered (${seen.size} distinct of 50)`);
  }
});

t.test('403 and 404 are configuration errors: reported, not retried in a tight loop', async (t) => {
  for (const mode of ['forbidden', 'not-found'] as const) {
    const { provider, client, clock, counters } = setup();
    provider.mode = mode;
    client.start();
    await flush();
    t.equal(client.state, 'config-error', mode);
    t.match(client.status().lastError, mode === 'forbidden' ? /403/ : /404/);
    const n = provider.registers;
    t.equal(n, 1);
    for (let i = 0; i < 59; i++) { clock.advance(60_000); await flush(); }
    t.equal(provider.registers, n, 'nothing more for 59 minutes');
    clock.advance(CONFIG_ERROR_RETRY_MS - 59 * 60_000);
    await flush();
    t.equal(provider.registers, n + 1, 'one try after the long pause');
    t.equal(counters.get('trunk.register.config-error'), 2);
    client.stop();
  }
});

t.test('credentials the provider refuses are a configuration error after one answered challenge', async (t) => {
  const { provider, client, clock } = setup({ password: 'wrong' });
  client.start();
  await flush();
  t.equal(client.state, 'config-error');
  t.match(client.status().lastError, /refused the credentials/);
  t.equal(provider.registers, 2, 'one challenge answered, no loop of them');
  clock.advance(10 * 60_000);
  await flush();
  t.equal(provider.registers, 2);
});

t.test('a 503 is retried after the backoff, a timeout moves to the next resolved server first (RFC 3263 4.3)', async (t) => {
  const { provider, client } = setup({
    targets: [{ transport: 'udp', address: '192.0.2.10', port: 5060 }, { transport: 'udp', address: '192.0.2.11', port: 5060 }],
  });
  provider.byAddress.set('192.0.2.10', 'down');
  client.start();
  await flush();
  t.equal(client.state, 'registered');
  t.same(provider.seen.map((s) => s.target.address), ['192.0.2.10', '192.0.2.11', '192.0.2.11']);
  t.match(client.status().server, /192\.0\.2\.11/);

  const b = setup();
  b.provider.mode = 'busy';
  b.client.start();
  await flush();
  t.equal(b.client.state, 'retrying');
  t.equal(b.provider.registers, 1);
  b.provider.mode = 'ok';
  b.clock.advance(BACKOFF_BASE_MS);
  await flush();
  t.equal(b.client.state, 'registered');
});

t.test('423 Interval Too Brief: asks again with the Min-Expires (RFC 3261 10.2.8)', async (t) => {
  const { provider, client } = setup();
  provider.minExpires = 1800;
  client.start();
  await flush();
  t.equal(client.state, 'registered');
  t.equal(getHeader(provider.seen.at(-1)!.req, 'expires'), '1800');
});

t.test('stop unregisters with Expires 0 and ignores late answers', async (t) => {
  const { provider, client, clock } = setup();
  client.start();
  await flush();
  client.stop(true);
  t.equal(client.state, 'stopped');
  t.equal(getHeader(provider.seen.at(-1)!.req, 'expires'), '0');
  const n = provider.registers;
  clock.advance(3_600_000);
  await flush();
  t.equal(provider.registers, n, 'no refresh after stop');
});
