import t from 'tap';
import { PbxError } from '../../../firmware/core/index.js';
import { CallError, FAILURES, failureOf, responseOf } from '../../../firmware/pbx/call/index.js';

t.test('the catalogue covers the responses call control sends', async (t) => {
  const statuses = new Set<number>(Object.values(FAILURES).map((f) => f.status));
  for (const s of [400, 403, 404, 408, 415, 480, 481, 486, 487, 488, 491, 500, 503, 603]) t.ok(statuses.has(s), `${s} has an entry`);
  for (const [name, f] of Object.entries(FAILURES)) t.ok(f.reason.length > 0 && f.status >= 400 && f.status < 700, name);
});

t.test('errors map to one failure each: a CallError names its own, core errors by code, anything else is internal', async (t) => {
  t.equal(failureOf(new CallError('glare', 'x')), 'glare');
  t.equal(responseOf(failureOf(new CallError('busy', 'x'))).status, 486);
  t.equal(failureOf(new PbxError('parse', 'bad sdp')), 'bad-request');
  t.equal(responseOf(failureOf(new PbxError('limit', 'no ports'))).status, 503, 'no free media ports: retry later');
  t.equal(responseOf(failureOf(new PbxError('protocol', 'no audio'))).status, 488);
  t.equal(responseOf(failureOf(new PbxError('invalid-state', 'pending'))).status, 491);
  t.equal(responseOf(failureOf(new Error('boom'))).status, 500);
  t.equal(responseOf(failureOf('a string')).status, 500);
  t.equal(new CallError('media-ports', 'x').code, 'limit', 'a CallError still reads right to generic handlers');
});
