import t from 'tap';
import { CURRENT_SCHEMA_VERSION, ConfigSchema, MIGRATIONS, digestHa1, fileVersion, migrate } from '../../firmware/config/index.js';
import { isPbxError } from '../../firmware/core/index.js';

t.test('migrations form an unbroken chain up to the current version', async (t) => {
  t.same(MIGRATIONS.map((m) => m.from), Array.from({ length: CURRENT_SCHEMA_VERSION }, (_, i) => i));
});

t.test('v0 (unversioned) file: cleartext passwords become HA1s and are dropped', async (t) => {
  const v0 = {
    sip: { realm: 'office.example' },
    accounts: [
      { extension: '1001', password: 'hunter2hunter2', name: 'Reception' },
      { extension: '1002', password: 'correct horse', createdAt: '2025-05-05T05:05:05.000Z' },
    ],
  };
  const before = JSON.stringify(v0);
  const now = Date.UTC(2026, 0, 2);
  const { data, fromVersion } = migrate(v0, { now });
  t.equal(fromVersion, 0);
  t.equal(JSON.stringify(v0), before, 'input is not modified');
  const cfg = ConfigSchema.parse(data);
  t.equal(cfg.schemaVersion, 1);
  const [a, b] = cfg.accounts;
  t.equal(a?.ha1Md5, digestHa1('MD5', '1001', 'office.example', 'hunter2hunter2'), 'HA1 uses the file\'s own realm');
  t.equal(a?.ha1Sha256, digestHa1('SHA-256', '1001', 'office.example', 'hunter2hunter2'));
  t.equal(a?.createdAt, new Date(now).toISOString());
  t.equal(a?.name, 'Reception');
  t.equal(b?.createdAt, '2025-05-05T05:05:05.000Z', 'an existing createdAt is kept');
  t.notMatch(JSON.stringify(data), /hunter2|correct horse|"password"/, 'no cleartext survives');
});

t.test('v0 without sip section uses the default realm; {} becomes the defaults', async (t) => {
  const cfg = ConfigSchema.parse(migrate({ accounts: [{ extension: '7', password: 'abcdefgh' }] }, { now: 0 }).data);
  t.equal(cfg.accounts[0]?.ha1Md5, digestHa1('MD5', '7', 'pbx.local', 'abcdefgh'));
  t.same(ConfigSchema.parse(migrate({}, { now: 0 }).data), ConfigSchema.parse({ schemaVersion: 1 }));
});

t.test('current version passes through untouched', async (t) => {
  const r = migrate({ schemaVersion: 1, sip: { realm: 'x' } }, { now: 0 });
  t.equal(r.fromVersion, 1);
  t.same(r.data, { schemaVersion: 1, sip: { realm: 'x' } });
});

t.test('a newer version is refused, not downgraded', async (t) => {
  t.throws(() => migrate({ schemaVersion: CURRENT_SCHEMA_VERSION + 1 }, { now: 0 }), { code: 'config', message: /newer than this firmware/ });
});

t.test('bad versions and non-objects are config errors', async (t) => {
  for (const raw of [[], 'x', null, 3]) {
    t.throws(() => fileVersion(raw), { code: 'config' }, JSON.stringify(raw));
  }
  for (const v of [-1, 1.5, '1']) {
    try {
      migrate({ schemaVersion: v }, { now: 0 });
      t.fail(`accepted ${JSON.stringify(v)}`);
    } catch (e) {
      t.ok(isPbxError(e, 'config'), JSON.stringify(v));
    }
  }
});
