import t from 'tap';
import { Counters, isPbxError, seededRandom as seeded } from '../../../firmware/core/index.js';
import { DtlsLeg, formatFingerprint, withSessionDtls, type DtlsConnected, type Fingerprint, type LegKeying } from '../../../firmware/keying/index.js';
import { parseSdp, type MediaDescription } from '../../../firmware/sdp/index.js';
import { Pair, cert } from './pair.js';

const box = cert('box');
const phone = cert('phone');

function m(protocol: string, attrs: Record<string, string | null>[] = []): MediaDescription {
  return {
    type: 'audio', port: 5004, protocol, formats: ['0'], bandwidths: [],
    attributes: [{ name: 'rtpmap', value: '0 PCMU/8000' }, ...attrs.flatMap((a) => Object.entries(a).map(([name, value]) => ({ name, value })))],
  };
}
const phoneLine = (setup: string | undefined, fp: Fingerprint = phone.fingerprint, protocol = 'UDP/TLS/RTP/SAVP'): MediaDescription =>
  m(protocol, [{ fingerprint: formatFingerprint(fp) }, ...(setup ? [{ setup }] : [])]);
function protocolError(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (e) {
    return isPbxError(e, 'protocol');
  }
}
const attr = (sdp: { attributes: readonly { name: string; value: string | null }[] }, name: string): string | null | undefined =>
  sdp.attributes.find((a) => a.name === name)?.value;

t.test('DtlsLeg is a LegKeying of method dtls held by the box, consuming keying-done and keying-failed', async (t) => {
  const leg: LegKeying = new DtlsLeg({ fingerprint: box.fingerprint });
  t.equal(leg.method, 'dtls');
  t.equal(leg.holder, 'box');
  t.same(leg.events, ['keying-done', 'keying-failed']);
  t.same(leg.security(), { kind: 'srtp-pending' });
  t.same(leg.view(), { protection: 'dtls', keys: 'box' });
});

t.test('the box offers actpass (RFC 5763 5); the answer\'s setup decides who is the DTLS client', async (t) => {
  for (const [setup, role] of [['active', 'server'], ['passive', 'client'], [undefined, 'server']] as const) {
    const leg = new DtlsLeg({ fingerprint: box.fingerprint });
    const o = leg.offer(undefined, false);
    t.equal(o.profile, 'UDP/TLS/RTP/SAVP');
    t.equal(attr(o, 'fingerprint'), formatFingerprint(box.fingerprint));
    t.equal(attr(o, 'setup'), 'actpass');
    t.equal(leg.endpoint(), undefined, 'no endpoint before the answer');
    t.equal(leg.takeAnswer(phoneLine(setup))?.kind, 'dtls', 'the answer settles the association: its security for the engine');
    t.same(leg.endpoint()?.role, role, `answer ${setup ?? '(none)'} -> box is ${role}`);
    t.same(leg.endpoint()?.expectedFingerprint, phone.fingerprint);
  }
  const bad = new DtlsLeg({ fingerprint: box.fingerprint });
  bad.offer(undefined, false);
  t.ok(protocolError(() => bad.takeAnswer(phoneLine('actpass'))));
  // The SAVPF transport is mirrored from the m-line the box relays.
  const f = new DtlsLeg({ fingerprint: box.fingerprint });
  t.equal(f.offer(m('UDP/TLS/RTP/SAVPF'), false).profile, 'UDP/TLS/RTP/SAVPF');
});

t.test('the phone offers: actpass is answered active (RFC 8842 5.3), active with passive, passive with active', async (t) => {
  for (const [setup, ours, role] of [['actpass', 'active', 'client'], ['active', 'passive', 'server'], ['passive', 'active', 'client']] as const) {
    const leg = new DtlsLeg({ fingerprint: box.fingerprint });
    const taken = leg.takeOffer(phoneLine(setup, phone.fingerprint, 'UDP/TLS/RTP/SAVPF'));
    t.equal(taken.rekey, true);
    t.same(taken.security, { kind: 'srtp-pending' });
    const a = leg.answer(undefined);
    t.equal(a.profile, 'UDP/TLS/RTP/SAVPF');
    t.equal(attr(a, 'setup'), ours);
    t.equal(leg.endpoint()?.role, role);
  }
});

t.test('unusable offers are refused with protocol errors: no fingerprint, holdconn, plain RTP, SHA-1 only', async (t) => {
  const c = new Counters();
  const leg = new DtlsLeg({ fingerprint: box.fingerprint, counters: c });
  const refused = (md: MediaDescription): void => { t.ok(protocolError(() => leg.takeOffer(md))); };
  refused(m('UDP/TLS/RTP/SAVP', [{ setup: 'actpass' }]));
  refused(phoneLine('holdconn'));
  refused(m('RTP/AVP', [{ fingerprint: formatFingerprint(phone.fingerprint) }]));
  refused(m('UDP/TLS/RTP/SAVP', [{ fingerprint: 'sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33' }]));
  t.ok(c.get('dtls-sdp-bad-fingerprint') >= 1);
});

t.test('session-level a=fingerprint and a=setup apply to an m-line without its own (RFC 8122 5)', async (t) => {
  const sdp = parseSdp(Buffer.from([
    'v=0', 'o=- 1 1 IN IP4 192.0.2.5', 's=-', 'c=IN IP4 192.0.2.5', 't=0 0',
    `a=fingerprint:${formatFingerprint(phone.fingerprint)}`, 'a=setup:actpass',
    'm=audio 5004 UDP/TLS/RTP/SAVP 0', 'a=rtpmap:0 PCMU/8000', '',
  ].join('\r\n')));
  const md = withSessionDtls(sdp, sdp.media[0]!);
  const leg = new DtlsLeg({ fingerprint: box.fingerprint });
  leg.takeOffer(md);
  t.equal(attr(leg.answer(undefined), 'setup'), 'active');
  t.same(leg.endpoint()?.expectedFingerprint, phone.fingerprint);
});

/** Runs the handshake the leg asks for against a phone endpoint; returns both results. */
function handshake(leg: DtlsLeg): { box: DtlsConnected; phone: DtlsConnected } {
  const e = leg.endpoint()!;
  const p = e.role === 'client'
    ? new Pair({ clientCert: box, serverCert: phone, clientExpects: e.expectedFingerprint, serverExpects: box.fingerprint })
    : new Pair({ clientCert: phone, serverCert: box, clientExpects: box.fingerprint, serverExpects: e.expectedFingerprint });
  p.handshake();
  const mine = e.role === 'client' ? p.connected.client : p.connected.server;
  const theirs = e.role === 'client' ? p.connected.server : p.connected.client;
  if (!mine || !theirs) throw new Error('handshake failed');
  return { box: mine, phone: theirs };
}

t.test('keying-done yields the exported keys as LegSecurity srtp: tx is what the box sends with, rx what the phone sends with', async (t) => {
  const leg = new DtlsLeg({ fingerprint: box.fingerprint });
  leg.takeOffer(phoneLine('actpass'));
  leg.answer(undefined);
  const r = handshake(leg);
  t.equal(leg.deliver(r.box), true);
  t.equal(leg.security().kind, 'dtls', 'the engine runs the handshake until keying-done');
  const out = leg.handle({ type: 'keying-done' });
  t.same(out.security, { kind: 'srtp', rx: r.box.srtp.localRx, tx: r.box.srtp.localTx });
  t.same(out.security && out.security.kind === 'srtp' ? out.security.tx : undefined, r.phone.srtp.localRx, 'the box sends with what the phone receives with');
  t.same(leg.security(), out.security);
  t.equal(leg.view().suite, r.box.profile);
  t.same(leg.handle({ type: 'keying-failed', reason: 'timeout' }), { failed: 'timeout' });
});

t.test('a new fingerprint in a re-offer is a new association: new generation, the old result is stale', async (t) => {
  const c = new Counters();
  const leg = new DtlsLeg({ fingerprint: box.fingerprint, counters: c });
  leg.takeOffer(phoneLine('actpass'));
  leg.answer(undefined);
  const first = handshake(leg);
  leg.deliver(first.box);
  leg.handle({ type: 'keying-done' });
  const g1 = leg.endpoint()!.generation;
  // Same fingerprint and setup again (a hold re-INVITE): nothing changes.
  t.equal(leg.takeOffer(phoneLine('actpass')).rekey, false);
  leg.answer(undefined);
  t.equal(leg.endpoint()!.generation, g1);
  // A re-offer refused: rollback leaves the association.
  const newer = cert('phone-2');
  t.equal(leg.takeOffer(phoneLine('actpass', newer.fingerprint)).rekey, true);
  leg.rollback();
  t.same(leg.endpoint()!.expectedFingerprint, phone.fingerprint);
  t.throws(() => leg.answer(undefined), 'nothing to answer after a rollback');
  // Accepted this time.
  const taken = leg.takeOffer(phoneLine('actpass', newer.fingerprint));
  t.equal(taken.rekey, true);
  t.equal(taken.security, undefined, 'the old keys stay in force until the new handshake is done');
  leg.answer(undefined);
  t.equal(leg.endpoint()!.generation, g1 + 1);
  t.same(leg.endpoint()!.expectedFingerprint, newer.fingerprint);
  t.equal(leg.deliver(first.box), false, 'a result of the old association is refused');
  t.equal(c.get('dtls-leg-stale-result'), 1);
  t.equal(leg.security().kind, 'srtp', 'the old keys are still in force');
  // Re-offer by the box keeping the association repeats its role (RFC 8842 5.5).
  t.equal(attr(leg.offer(undefined, false), 'setup'), 'active');
  t.equal(attr(leg.offer(undefined, true), 'setup'), 'actpass');
});

t.test('the engine runs the handshake: security() is the association as plain data; ICE-lite credentials when the phone does ICE', async (t) => {
  const { seededRandom } = await import('../../../firmware/core/index.js');
  const leg = new DtlsLeg({ fingerprint: box.fingerprint, random: seededRandom(4) });
  t.same(leg.handle({ type: 'keying-done' }).failed !== undefined, true, 'keying-done before any association fails the leg');
  const browser = m('UDP/TLS/RTP/SAVPF', [{ fingerprint: formatFingerprint(phone.fingerprint) }, { setup: 'actpass' }, { 'ice-ufrag': 'webU' }, { 'ice-pwd': 'web-password-0123456789' }]);
  t.same(leg.takeOffer(browser).security, { kind: 'srtp-pending' }, 'pending while the round is open');
  const a = leg.answer(undefined);
  t.equal(attr(a, 'setup'), 'active');
  t.equal(attr(a, 'ice-lite'), null, 'a=ice-lite');
  const ufrag = attr(a, 'ice-ufrag');
  const pwd = attr(a, 'ice-pwd');
  t.match(ufrag, /^[A-Za-z0-9+/]{8}$/, 'a fresh ufrag');
  t.match(pwd, /^[A-Za-z0-9+/]{24}$/, 'a 144-bit password');
  const sec = leg.security();
  t.same(sec, {
    kind: 'dtls',
    dtls: { role: 'client', fingerprint: phone.fingerprint, association: 1, ice: { localUfrag: ufrag, localPwd: pwd, remoteUfrag: 'webU' } },
  }, 'the engine gets role, fingerprint, association and the ICE credentials');
  t.same(leg.handle({ type: 'keying-done', suite: 'SRTP_AEAD_AES_128_GCM' }), {}, 'the engine installed the keys itself');
  t.same(leg.view(), { protection: 'dtls', keys: 'box', suite: 'SRTP_AEAD_AES_128_GCM' });
  // An ICE restart: a new ufrag from the phone, fresh credentials from us, same association.
  leg.takeOffer(m('UDP/TLS/RTP/SAVPF', [{ fingerprint: formatFingerprint(phone.fingerprint) }, { setup: 'actpass' }, { 'ice-ufrag': 'webV' }, { 'ice-pwd': 'web-password-abcdefghij' }]));
  const a2 = leg.answer(undefined);
  t.not(attr(a2, 'ice-ufrag'), ufrag, 'new ufrag after an ICE restart');
  const s2 = leg.security();
  t.ok(s2.kind === 'dtls' && s2.dtls.association === 1 && s2.dtls.ice?.remoteUfrag === 'webV', 'the same association, the new credentials');
  // A phone without ICE (baresip): our SDP still says ice-lite, but the engine gets no ICE to insist on.
  const plainLeg = new DtlsLeg({ fingerprint: box.fingerprint, random: seededRandom(5) });
  plainLeg.takeOffer(phoneLine('active'));
  plainLeg.answer(undefined);
  const s3 = plainLeg.security();
  t.ok(s3.kind === 'dtls' && s3.dtls.role === 'server' && s3.dtls.ice === undefined, 'no ICE toward a phone that does none');
});

t.test('regression: a re-offer\'s answer hands the engine the changed security (a DTLS restart, an ICE restart), and nothing when unchanged', async (t) => {
  // Before, only the SDP changed: call control applied no new security after the answer, so the engine kept
  // the old handshake (no DTLS restart ever ran) and answered only the old ICE credentials.
  const leg = new DtlsLeg({ fingerprint: box.fingerprint, random: seeded(9) });
  const offer = (fp: Fingerprint, ufrag: string): MediaDescription =>
    m('UDP/TLS/RTP/SAVPF', [{ fingerprint: formatFingerprint(fp) }, { setup: 'actpass' }, { 'ice-ufrag': ufrag }, { 'ice-pwd': 'web-password-0123456789' }]);
  leg.takeOffer(offer(phone.fingerprint, 'webU'));
  const first = leg.answer(undefined).security;
  t.ok(first?.kind === 'dtls' && first.dtls.association === 1, 'the first answer settles association 1');
  leg.handle({ type: 'keying-done', suite: 'SRTP_AES128_CM_SHA1_80' });
  leg.takeOffer(offer(phone.fingerprint, 'webU'));
  t.equal(leg.answer(undefined).security, undefined, 'the same offer again (hold, resume): nothing for the engine');
  const other = cert('phone-restarted');
  leg.takeOffer(offer(other.fingerprint, 'webU'));
  const restart = leg.answer(undefined).security;
  t.ok(restart?.kind === 'dtls' && restart.dtls.association === 2, 'a new fingerprint: the answer carries association 2');
  t.same(restart?.kind === 'dtls' ? restart.dtls.fingerprint : undefined, other.fingerprint, 'expecting the new certificate');
  leg.takeOffer(offer(other.fingerprint, 'webV'));
  const ice = leg.answer(undefined);
  const s = ice.security;
  t.ok(s?.kind === 'dtls' && s.dtls.association === 2 && s.dtls.ice?.remoteUfrag === 'webV' && s.dtls.ice.localUfrag === attr(ice, 'ice-ufrag'),
    'a new ufrag: the same association with both sides\' new ICE credentials');
  // The box offers, the phone's answer changes the roles: takeAnswer hands the engine the new association.
  const callee = new DtlsLeg({ fingerprint: box.fingerprint });
  callee.offer(undefined, false);
  t.ok(callee.takeAnswer(phoneLine('active'))?.kind === 'dtls', 'the first answer to our offer: security for the engine');
  callee.offer(undefined, false);
  t.equal(callee.takeAnswer(phoneLine('active')), undefined, 'the same answer to a re-offer: nothing');
  callee.offer(undefined, true);
  const swapped = callee.takeAnswer(phoneLine('passive'));
  t.ok(swapped?.kind === 'dtls' && swapped.dtls.role === 'client' && swapped.dtls.association === 2, 'roles swapped on a fresh association: association 2, the box the client');
});
