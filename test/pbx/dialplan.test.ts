import t from 'tap';
import {
  DEFAULT_NUMBER_PLAN, classifyNumber, rewrite, routeInbound, routeOutbound, trunksWithRoom, type OutboundRoute,
} from '../../firmware/pbx/routing/index.js';

/** The dial plan: prefixes, rewriting, toll-fraud guards on by default, emergency always, DIDs, limits. */

const route = (p: Partial<OutboundRoute> & { prefix: string }): OutboundRoute => ({
  trunks: ['prov', 'backup'], strip: 0, prepend: '', international: false, premium: false, ...p,
});
const nobody = { extension: '200', international: false, premium: false };
const allowed = { extension: '201', international: true, premium: true };

t.test('longest prefix wins; strip then prepend; trunks in order', async (t) => {
  const routes = [route({ prefix: '9', strip: 1 }), route({ prefix: '90', strip: 1, trunks: ['cheap'], international: true })];
  const d = routeOutbound('9301234567', routes, nobody);
  t.same(d, { kind: 'route', route: routes[0], number: '301234567', class: 'national', trunks: ['prov', 'backup'] });
  t.equal(rewrite('0301234', { strip: 1, prepend: '+4930' }), '+4930301234');
  t.equal(rewrite('12', { strip: 5, prepend: '' }), '', 'strip past the end leaves nothing, not an error');
  t.equal(routeOutbound('200', [route({ prefix: '9' })], nobody), undefined, 'a number no route carries is not for a trunk');
  t.equal(routeOutbound('9sip:evil', [route({ prefix: '9' })], nobody), undefined, 'only digits leave on a trunk');
});

t.test('international and premium numbers are refused until both the route and the account allow them', async (t) => {
  const plain = [route({ prefix: '9', strip: 1 })];
  t.match(routeOutbound('900441234', plain, nobody), { kind: 'refused', why: 'international', number: '00441234' });
  t.match(routeOutbound('900441234', plain, allowed), { kind: 'refused', why: 'international' }, 'the route is not enabled');
  const open = [route({ prefix: '9', strip: 1, international: true, premium: true })];
  t.match(routeOutbound('900441234', open, nobody), { kind: 'refused', why: 'international' }, 'the account has no right');
  t.match(routeOutbound('900441234', open, allowed), { kind: 'route', class: 'international' });
  t.match(routeOutbound('90900123', plain, nobody), { kind: 'refused', why: 'premium' });
  t.match(routeOutbound('90900123', open, allowed), { kind: 'route', class: 'premium' });
  t.equal(classifyNumber('+44123'), 'international');
  t.equal(classifyNumber('0301234'), 'national');
});

t.test('emergency numbers always go: bare, through a route, never refused by a guard', async (t) => {
  const routes = [route({ prefix: '9', strip: 1 })];
  for (const n of DEFAULT_NUMBER_PLAN.emergency) {
    t.match(routeOutbound(n, routes, nobody), { kind: 'route', number: n, class: 'emergency', trunks: ['prov', 'backup'] }, `${n} bare`);
    t.match(routeOutbound(`9${n}`, routes, nobody), { kind: 'route', number: n, class: 'emergency' }, `9${n}`);
  }
  // A route that prepends an international prefix must not turn 112 into a refused number.
  const odd = [route({ prefix: '1', prepend: '0049' })];
  t.match(routeOutbound('112', odd, nobody), { kind: 'route', number: '112', class: 'emergency' });
  t.equal(routeOutbound('112', [], nobody), undefined, 'no trunk at all: nothing to route to');
});

t.test('DIDs: the Request-URI user, then To; +, 00 and bare forms compare equal; per trunk', async (t) => {
  const dids = [{ number: '+49301234567', to: '200', trunk: 'prov' }, { number: '5551000', to: '201', trunk: 'other' }];
  t.equal(routeInbound('prov', ['49301234567'], dids)?.to, '200');
  t.equal(routeInbound('prov', ['0049301234567'], dids)?.to, '200');
  t.equal(routeInbound('prov', ['alice', '+49301234567'], dids)?.to, '200', 'the To user when the R-URI names the registration');
  t.equal(routeInbound('prov', ['5551000'], dids), undefined, 'another trunk\'s DID does not ring from this one');
  t.equal(routeInbound('prov', [undefined, ''], dids), undefined);
});

t.test('concurrent call limits per account and per trunk; emergency passes both', async (t) => {
  const limits = { perAccount: 2, perTrunk: (n: string) => (n === 'prov' ? 1 : 5) };
  t.same(trunksWithRoom(['prov', 'backup'], 'national', { account: 0, trunk: () => 0 }, limits), { trunks: ['prov', 'backup'] });
  t.same(trunksWithRoom(['prov', 'backup'], 'national', { account: 0, trunk: (n) => (n === 'prov' ? 1 : 0) }, limits), { trunks: ['backup'] });
  t.same(trunksWithRoom(['prov'], 'national', { account: 0, trunk: () => 1 }, limits), { trunks: [], limited: 'trunk' });
  t.same(trunksWithRoom(['prov'], 'national', { account: 2, trunk: () => 0 }, limits), { trunks: [], limited: 'account' });
  t.same(trunksWithRoom(['prov'], 'emergency', { account: 9, trunk: () => 9 }, limits), { trunks: ['prov'] });
});
