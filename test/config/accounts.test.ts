import t from 'tap';
import {
  addAccount, type Config, defaultConfig, digestHa1, importAccountsCsv, listAccounts, MAX_ACCOUNTS, MIN_SIP_PASSWORD_LENGTH, parseCsv, removeAccount, setPassword,
} from '../../firmware/config/index.js';

const NOW = Date.UTC(2026, 0, 1);
const base = (): Config => {
  const c = defaultConfig();
  c.policies.push({ name: 'private', callerStream: 'forced_relay', calleeStream: 'as_caller' });
  return c;
};

t.test('addAccount stores HA1s for MD5 and SHA-256 (RFC 7616 section 3.4.2), never the password', async (t) => {
  const before = base();
  const snapshot = JSON.stringify(before);
  const c = addAccount(before, { extension: '1001', password: 'Circle Of Life', name: 'Front desk', policy: 'private', tlsOnly: true }, NOW);
  t.equal(JSON.stringify(before), snapshot, 'input untouched');
  t.same(c.accounts[0], {
    extension: '1001',
    name: 'Front desk',
    ha1Md5: digestHa1('MD5', '1001', 'pbx.local', 'Circle Of Life'),
    ha1Sha256: digestHa1('SHA-256', '1001', 'pbx.local', 'Circle Of Life'),
    policy: 'private',
    tlsOnly: true,
    staticContact: null,
    tlsMode: 'encrypt',
    media: { supported: ['rtp', 'sdes'], required: [] },
    // Call features default to off: no forwarding, no DND, no pickup group, call waiting on.
    forward: { always: null, busy: null, noAnswer: null, noAnswerSec: 20 }, dnd: false, pickupGroup: null, callWaiting: true,
    createdAt: '2026-01-01T00:00:00.000Z',
  });
  t.notMatch(JSON.stringify(c), /Circle Of Life/);
});

t.test('addAccount errors carry the right codes', async (t) => {
  const c = addAccount(base(), { extension: '1001', password: 'password1' }, NOW);
  t.throws(() => addAccount(c, { extension: '1001', password: 'password2' }), { code: 'conflict', message: 'extension 1001 already exists' });
  t.throws(() => addAccount(c, { extension: '10 02', password: 'password2' }), { code: 'config', message: /extension/ });
  t.throws(() => addAccount(c, { extension: 'x'.repeat(33), password: 'password2' }), { code: 'config' });
  t.throws(() => addAccount(c, { extension: '1002', password: 'short' }), { code: 'config', message: `password must have at least ${MIN_SIP_PASSWORD_LENGTH} characters` });
  t.throws(() => addAccount(c, { extension: '1002', password: 'pass\nword1' }), { code: 'config', message: /control/ });
  t.throws(() => addAccount(c, { extension: '1002', password: 'password2', policy: 'vip' }), { code: 'not-found', message: 'policy vip does not exist' });
  t.throws(() => addAccount(c, { extension: '1002', password: 'password2', staticContact: 'http://x' }), { code: 'config', message: /staticContact/ });
  const ok = addAccount(c, { extension: '1001b', password: 'password2', staticContact: 'sips:1001b@10.0.0.9:5061' }, NOW);
  t.equal(ok.accounts[1]?.staticContact, 'sips:1001b@10.0.0.9:5061');
  // RFC 3261 section 19.1.4: the user part is compared case-sensitively.
  t.doesNotThrow(() => addAccount(addAccount(c, { extension: 'Bob', password: 'password1' }), { extension: 'bob', password: 'password1' }));
});

t.test('removeAccount and setPassword', async (t) => {
  let c = addAccount(base(), { extension: '1001', password: 'password1' }, NOW);
  c = addAccount(c, { extension: '1002', password: 'password1' }, NOW);
  const changed = setPassword(c, '1002', 'newpassword');
  t.equal(changed.accounts[1]?.ha1Md5, digestHa1('MD5', '1002', 'pbx.local', 'newpassword'));
  t.equal(changed.accounts[1]?.ha1Sha256, digestHa1('SHA-256', '1002', 'pbx.local', 'newpassword'));
  t.equal(changed.accounts[0]?.ha1Md5, c.accounts[0]?.ha1Md5, 'others untouched');
  t.equal(c.accounts[1]?.ha1Md5, digestHa1('MD5', '1002', 'pbx.local', 'password1'), 'input untouched');
  t.throws(() => setPassword(c, '9999', 'newpassword'), { code: 'not-found' });
  t.throws(() => setPassword(c, '1002', 'x'), { code: 'config' });
  const removed = removeAccount(c, '1001');
  t.same(removed.accounts.map((a) => a.extension), ['1002']);
  t.throws(() => removeAccount(removed, '1001'), { code: 'not-found', message: 'extension 1001 does not exist' });
});

t.test('listAccounts never exposes HA1s', async (t) => {
  let c = addAccount(base(), { extension: '1001', password: 'password1', name: 'A' }, NOW);
  c = addAccount(c, { extension: '1002', password: 'password2' }, NOW);
  const list = listAccounts(c);
  t.same(list, [
    { extension: '1001', name: 'A', policy: 'default', tlsOnly: false, staticContact: null, createdAt: '2026-01-01T00:00:00.000Z', tlsMode: 'encrypt',
      forward: { always: null, busy: null, noAnswer: null, noAnswerSec: 20 }, dnd: false, pickupGroup: null, callWaiting: true,
      media: { supported: ['rtp', 'sdes'], required: [] }, voicemail: { enabled: true, pin: false } },
    { extension: '1002', name: '', policy: 'default', tlsOnly: false, staticContact: null, createdAt: '2026-01-01T00:00:00.000Z', tlsMode: 'encrypt',
      forward: { always: null, busy: null, noAnswer: null, noAnswerSec: 20 }, dnd: false, pickupGroup: null, callWaiting: true,
      media: { supported: ['rtp', 'sdes'], required: [] }, voicemail: { enabled: true, pin: false } },
  ]);
  const text = JSON.stringify(list);
  for (const a of c.accounts) {
    t.notOk(text.includes(a.ha1Md5) || text.includes(a.ha1Sha256), `no hash of ${a.extension}`);
  }
  t.notMatch(text, /ha1|password/i);
});

t.test('RFC 4180 parsing: quotes, doubled quotes, commas, CRLF, blank lines', async (t) => {
  t.same(parseCsv('a,b\r\n"c,d","e ""q"" f"\n\n"multi\nline",x\ry,z'), [
    { line: 1, fields: ['a', 'b'] },
    { line: 2, fields: ['c,d', 'e "q" f'] },
    { line: 4, fields: ['multi\nline', 'x'] },
    { line: 6, fields: ['y', 'z'] },
  ]);
  t.same(parseCsv('a,,\n'), [{ line: 1, fields: ['a', '', ''] }], 'empty fields kept');
  t.throws(() => parseCsv('a,b\n"open,x\n'), { code: 'parse', message: 'line 2: unterminated quoted field' });
  t.throws(() => parseCsv('a,b\nc,d"e\n'), { code: 'parse', message: /^line 2: quote/ });
  t.throws(() => parseCsv('a\n"x"y,z'), { code: 'parse', message: /^line 2: unexpected character/ });
});

t.test('CSV import: header row, quoted fields, policies', async (t) => {
  const csv = [
    'extension,password,name,policy',
    '1001,"pa,ss""word",Reception',
    '1002,secretsecret,"Smith, Jane",private',
    '',
    'alice,alicepass1',
  ].join('\n');
  const before = base();
  const { config, added } = importAccountsCsv(before, csv, NOW);
  t.same(before.accounts, [], 'input untouched');
  t.same(added.map((a) => [a.extension, a.name, a.policy]), [['1001', 'Reception', 'default'], ['1002', 'Smith, Jane', 'private'], ['alice', '', 'default']]);
  t.equal(config.accounts[0]?.ha1Md5, digestHa1('MD5', '1001', 'pbx.local', 'pa,ss"word'), 'quoted password with comma and doubled quote');
  t.same(listAccounts(config), added);
});

t.test('CSV import without header; header may reorder columns', async (t) => {
  const r1 = importAccountsCsv(base(), '2001,password1\n2002,password2,Bob\n', NOW);
  t.same(r1.added.map((a) => a.extension), ['2001', '2002']);
  const r2 = importAccountsCsv(base(), 'Name,Extension,Password\nBob,3001,password1\n', NOW);
  t.same(r2.added.map((a) => [a.extension, a.name]), [['3001', 'Bob']]);
  t.throws(() => importAccountsCsv(base(), 'name,password\nBob,password1'), { code: 'config', message: 'line 1: the header has no extension column' });
  t.throws(() => importAccountsCsv(base(), 'extension,password,name,name\n1,password1,a,b'), { code: 'config', message: 'line 1: column name appears twice' });
});

t.test('issue 20: a mistyped header is refused, not taken as an account named "extension"', async (t) => {
  const columns = '(the columns are extension, password, name, policy)';
  t.throws(() => importAccountsCsv(base(), 'extension,password,colour\n1001,password1,red\n'), { code: 'config', message: `line 1: unknown column "colour" in the header ${columns}` });
  t.throws(() => importAccountsCsv(base(), 'Extension,Passwort\n1001,password1\n'), { code: 'config', message: `line 1: unknown column "Passwort" in the header ${columns}` });
  t.throws(() => importAccountsCsv(base(), 'nmae,password,name\n1001,password1,x\n'), { code: 'config', message: `line 1: unknown column "nmae" in the header ${columns}` });
  // Data that merely contains a column's word stays data.
  t.same(importAccountsCsv(base(), '1001,password\n', NOW).added.map((a) => a.extension), ['1001']);
  t.same(importAccountsCsv(base(), '1002,password1,name\n', NOW).added.map((a) => [a.extension, a.name]), [['1002', 'name']]);
});

t.test('CSV import is all or nothing, errors name the line', async (t) => {
  const c = addAccount(base(), { extension: '1002', password: 'password1' }, NOW);
  const cases: Array<[string, string, string]> = [
    ['extension,password\n1001,password1\n\n1002,password2\n', 'conflict', 'line 4: extension 1002 already exists'],
    ['1003,password1\n1004,password1\n1003,password3\n', 'conflict', 'line 3: extension 1003 already exists'],
    ['1003,password1\n1004,short\n', 'config', `line 2: password must have at least ${MIN_SIP_PASSWORD_LENGTH} characters`],
    ['1003,password1\n"10,04",password1,x\n1005,password1\n', 'config', 'line 2: extension "10,04" must be 1-32 letters, digits, \'.\', \'_\' or \'-\''],
    ['1003,password1,"Two\nLines"\n', 'config', 'line 1: name must not contain control characters'],
    ['1003,password1,A,vip\n', 'not-found', 'line 1: policy vip does not exist'],
    ['1003\n', 'config', 'line 1: expected 2 to 4 fields, got 1'],
    ['1003,password1,a,default,extra\n', 'config', 'line 1: expected 2 to 4 fields, got 5'],
  ];
  for (const [csv, code, message] of cases) {
    const snapshot = JSON.stringify(c);
    t.throws(() => importAccountsCsv(c, csv, NOW), { code, message }, message);
    t.equal(JSON.stringify(c), snapshot, 'config unchanged');
  }
});

t.test('CSV import respects MAX_ACCOUNTS and names the first row over it', async (t) => {
  const rows = Array.from({ length: MAX_ACCOUNTS + 1 }, (_, i) => `${10000 + i},password1`).join('\n');
  t.throws(() => importAccountsCsv(base(), rows, NOW), { code: 'limit', message: `line ${MAX_ACCOUNTS + 1}: at most ${MAX_ACCOUNTS} accounts` });
  const ok = importAccountsCsv(base(), rows.split('\n').slice(0, MAX_ACCOUNTS).join('\n'), NOW);
  t.equal(ok.config.accounts.length, MAX_ACCOUNTS);
});
