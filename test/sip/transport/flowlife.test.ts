import fc from 'fast-check';
import t from 'tap';
import type { Header, SipMessage } from '../../../firmware/sip/message/index.js';
import { DEFAULT_REGISTRATION_S, MAX_KEPT_REGISTRATION_S, registrationLifetimeMs } from '../../../firmware/sip/transport/index.js';

const response = (status: number, headers: Header[]): SipMessage => ({ kind: 'response', status, reason: 'X', headers, body: Buffer.alloc(0) });
const reg = (status: number, ...more: Header[]): SipMessage => response(status, [{ name: 'cseq', value: '7 REGISTER' }, ...more]);
const contact = (value: string): Header => ({ name: 'contact', value });

t.test('RFC 3261 10.3 step 8: the longest binding lifetime in a REGISTER 2xx', async (t) => {
  t.equal(registrationLifetimeMs(reg(200, contact('<sip:a@192.0.2.1>;expires=60'), contact('<sip:b@192.0.2.2>;expires=900'))), 900_000);
  t.equal(registrationLifetimeMs(reg(200, contact('<sip:a@192.0.2.1>;expires=60, <sip:b@192.0.2.2>;expires=120'))), 120_000, 'comma-separated list');
  t.equal(registrationLifetimeMs(reg(200, { name: 'expires', value: '300' }, contact('<sip:a@192.0.2.1>'))), 300_000, 'Expires header as the default (10.2.1.1)');
  t.equal(registrationLifetimeMs(reg(200, contact('<sip:a@192.0.2.1>'))), DEFAULT_REGISTRATION_S * 1000, 'neither: 3600 s');
  t.equal(registrationLifetimeMs(reg(200)), 0, 'no contacts: the phone removed its bindings');
  t.equal(registrationLifetimeMs(reg(200, contact('<sip:a@192.0.2.1>;expires=99999999'))), MAX_KEPT_REGISTRATION_S * 1000, 'capped');
  t.equal(registrationLifetimeMs(reg(200, contact('<sip:a@192.0.2.1>;expires=soon'))), DEFAULT_REGISTRATION_S * 1000, 'a bad expires is the default');
  t.equal(registrationLifetimeMs(reg(401, contact('<sip:a@192.0.2.1>;expires=60'))), undefined, 'not a 2xx');
  t.equal(registrationLifetimeMs(response(200, [{ name: 'cseq', value: '1 INVITE' }, contact('<sip:a@192.0.2.1>;expires=60')])), undefined, 'not a REGISTER');
  t.equal(registrationLifetimeMs(response(200, [contact('<sip:a@192.0.2.1>')])), undefined, 'no CSeq');
  t.equal(registrationLifetimeMs({ kind: 'request', method: 'REGISTER', uri: 'sip:x', headers: [{ name: 'cseq', value: '1 REGISTER' }], body: Buffer.alloc(0) }), undefined, 'a request');
  t.equal(registrationLifetimeMs(reg(200, contact('<<<'))), undefined, 'a Contact that does not parse');
});

t.test('property: any headers give undefined or a whole number of ms within the cap, never a throw', async (t) => {
  const value = fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 }),
    fc.tuple(fc.string({ maxLength: 10 }), fc.integer({ min: -5, max: 10 ** 12 })).map(([u, e]) => `<sip:${u}@h>;expires=${e}`));
  const header = fc.record({ name: fc.constantFrom('contact', 'expires', 'cseq', 'via'), value });
  fc.assert(fc.property(fc.integer({ min: 100, max: 699 }), fc.array(header, { maxLength: 6 }), fc.boolean(), (status, headers, register) => {
    const msg = response(status, register ? [{ name: 'cseq', value: '1 REGISTER' }, ...headers] : headers);
    const r = registrationLifetimeMs(msg);
    return r === undefined || (Number.isInteger(r) && r >= 0 && r <= MAX_KEPT_REGISTRATION_S * 1000);
  }), { numRuns: 2000 });
  t.pass('2000 runs');
});
