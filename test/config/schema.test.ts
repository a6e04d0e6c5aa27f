import t from 'tap';
import { ConfigSchema, CURRENT_SCHEMA_VERSION, defaultConfig, digestHa1, formatIssues } from '../../firmware/config/index.js';

const ha1s = (ext: string) => ({
  ha1Md5: digestHa1('MD5', ext, 'pbx.local', 'password1'),
  ha1Sha256: digestHa1('SHA-256', ext, 'pbx.local', 'password1'),
});
const acct = (ext: string, extra: Record<string, unknown> = {}) => ({ extension: ext, ...ha1s(ext), createdAt: '2026-01-01T00:00:00.000Z', ...extra });

t.test('a minimal file fills in every default', async (t) => {
  const c = ConfigSchema.parse({ schemaVersion: CURRENT_SCHEMA_VERSION, network: { sipPort: 5070 } });
  t.same(c.admin, { passwordHash: null, setupCode: null });
  t.same(c.accounts, []);
  t.same(c.sip, { realm: 'pbx.local', minExpires: 60, maxExpires: 3600, defaultExpires: 600, streamMaxExpires: 300, flowTimerSec: 60, authFailLimit: 10, authFailWindowSec: 60, authBlockSec: 300, digestAlgorithms: ['MD5'], guessesPerMinute: 10, guessesPerHour: 30, guessesPerDay: 100 });
  t.same(c.pki, { renewBeforeDays: 30 });
  t.same(c.policies, [{ name: 'default', callerStream: 'relay_or_decrypt', calleeStream: 'as_caller' }]);
  t.same(c.network, { bind: '0.0.0.0', sipPort: 5070, tlsPort: 5061, webPort: 8443, httpPort: 8080, rtpPorts: { min: 10000, max: 20000 } });
  t.same(defaultConfig(), ConfigSchema.parse({ schemaVersion: 1 }));
});

t.test('account defaults and accepted extension forms', async (t) => {
  const c = ConfigSchema.parse({ schemaVersion: 1, accounts: [acct('1001'), acct('alice.smith_2-x')] });
  t.same(c.accounts[0], {
    ...acct('1001'), name: '', policy: 'default', tlsOnly: false, staticContact: null, tlsMode: 'encrypt',
    media: { supported: ['rtp', 'sdes'], required: [] },
    // Call features default to off: no forwarding, no DND, no pickup group, call waiting on.
    forward: { always: null, busy: null, noAnswer: null, noAnswerSec: 20 }, dnd: false, pickupGroup: null, callWaiting: true,
  });
  t.equal(c.accounts.length, 2);
});

t.test('account media abilities: defaults, a phone that requires SDES, and refusals with their path', async (t) => {
  const c = ConfigSchema.parse({ schemaVersion: 1, accounts: [acct('1001', { media: { supported: ['sdes'], required: ['sdes'] } }), acct('1002', { media: {} })] });
  t.same(c.accounts[0]?.media, { supported: ['sdes'], required: ['sdes'] });
  t.same(c.accounts[1]?.media, { supported: ['rtp', 'sdes'], required: [] });
  const bad: Array<[unknown, RegExp]> = [
    [{ supported: ['rtp'], required: ['sdes'] }, /accounts\[0\]\.media\.required: required but not supported: sdes/],
    [{ supported: ['rtp', 'rtp'] }, /accounts\[0\]\.media\.supported: each protection at most once/],
    [{ supported: ['srtp'] }, /accounts\[0\]\.media\.supported\[0\]/],
    [{ supported: [] }, /accounts\[0\]\.media\.supported/],
  ];
  for (const [media, re] of bad) {
    const r = ConfigSchema.safeParse({ schemaVersion: 1, accounts: [acct('1001', { media })] });
    t.notOk(r.success, JSON.stringify(media));
    if (!r.success) t.match(formatIssues(r.error.issues), re);
  }
});

t.test('rejections name the path', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['duplicate extension', { accounts: [acct('1001'), acct('1001')] }, /accounts\[1\]\.extension: duplicate extension 1001/],
    ['bad extension', { accounts: [acct('10 01')] }, /accounts\[0\]\.extension/],
    ['unknown policy', { accounts: [acct('1001', { policy: 'vip' })] }, /accounts\[0\]\.policy: unknown policy vip/],
    ['cleartext password is not a field', { accounts: [acct('1001', { password: 'x' })] }, /accounts\[0\]: Unrecognized key: "password"/],
    ['no default policy', { policies: [{ name: 'vip' }] }, /policies: the "default" policy must exist/],
    ['duplicate policy', { policies: [{ name: 'default' }, { name: 'default' }] }, /policies\[1\]\.name/],
    ['bad stream mode', { policies: [{ name: 'default', callerStream: 'magic' }] }, /policies\[0\]\.callerStream/],
    ['expires out of order', { sip: { minExpires: 700 } }, /sip\.defaultExpires/],
    ['rtp range', { network: { rtpPorts: { min: 30000, max: 20000 } } }, /network\.rtpPorts\.max/],
    ['port range', { network: { sipPort: 70000 } }, /network\.sipPort/],
    ['bad admin hash', { admin: { passwordHash: 'md5$abc' } }, /admin\.passwordHash/],
    ['unknown top-level key', { sipp: {} }, /\(root\): Unrecognized key: "sipp"/],
  ];
  for (const [name, input, re] of cases) {
    const r = ConfigSchema.safeParse({ schemaVersion: 1, ...(input as object) });
    t.notOk(r.success, name);
    if (!r.success) t.match(formatIssues(r.error.issues), re, name);
  }
});

t.test('schemaVersion must be the current one', async (t) => {
  t.notOk(ConfigSchema.safeParse({ schemaVersion: 2 }).success);
  t.notOk(ConfigSchema.safeParse({}).success, 'an unversioned file must go through migrate() first');
});
