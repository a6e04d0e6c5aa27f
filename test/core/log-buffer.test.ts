import t from 'tap';
import { pino } from 'pino';
import { LogBuffer, REDACTED, bufferedLogger, scrubSecrets, MAX_LOG_LINE_CHARS } from '../../firmware/core/index.js';

/** A pino logger writing its lines into an array, as the console would get them. */
function consoleLogger(level = 'info'): { log: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: pino({ level, base: undefined }, { write: (s: string) => { lines.push(s); } }), lines };
}

t.test('every call reaches the console unchanged and a scrubbed copy the buffer', async (t) => {
  const buf = new LogBuffer(10);
  const con = consoleLogger();
  const log = bufferedLogger(con.log, buf);
  log.info({ extension: '1001', transport: 'udp' }, 'registered');
  log.warn({ sipPassword: 'hunter22', nested: { apiKey: 'k-123', ok: 1 }, header: 'Digest username="1001", response="abcdef0123456789"' }, 'odd');
  log.debug('not kept at info');
  t.equal(con.lines.length, 2, 'the console got both lines at its level');
  t.match(JSON.parse(con.lines[0]!), { level: 30, msg: 'registered', extension: '1001' });
  const kept = buf.recent();
  t.equal(kept.length, 2);
  t.match(kept[0], { seq: 1, level: 'info', msg: 'registered', fields: { extension: '1001', transport: 'udp' } });
  t.same(kept[1]!.fields, { sipPassword: REDACTED, nested: { apiKey: REDACTED, ok: 1 }, header: `Digest ${REDACTED}` }, 'secrets replaced at any depth, digest text masked');
  const text = JSON.stringify(kept);
  for (const s of ['hunter22', 'k-123', 'abcdef0123456789']) t.notOk(text.includes(s), `no ${s} in the buffer`);
});

t.test('a silent console still feeds the buffer; a debug console still gets debug', async (t) => {
  const buf = new LogBuffer();
  const quiet = bufferedLogger(pino({ level: 'silent' }), buf);
  quiet.info('kept');
  t.equal(buf.recent().length, 1);
  const con = consoleLogger('debug');
  const loud = bufferedLogger(con.log, buf);
  loud.debug('for the console');
  t.equal(con.lines.length, 1, 'the console wanted debug and got it');
  t.equal(buf.recent().length, 1, 'the buffer keeps info and up');
});

t.test('level, text and sequence filters; capacity; listeners', async (t) => {
  const buf = new LogBuffer(3);
  const seen: number[] = [];
  const off = buf.onLine((e) => seen.push(e.seq));
  const log = bufferedLogger(pino({ level: 'silent' }), buf, 'debug');
  log.debug('a');
  log.info({ who: 'x' }, 'b');
  log.warn('c password=letmein');
  log.error('d');
  t.same(buf.recent().map((e) => e.msg), ['b', `c password=${REDACTED}`, 'd'], 'the oldest line is dropped; key=value secrets masked');
  t.same(buf.recent({ level: 'warn' }).map((e) => e.msg.slice(0, 1)), ['c', 'd']);
  t.same(buf.recent({ q: 'WHO' }).map((e) => e.msg), ['b'], 'search looks at the fields too');
  t.same(buf.recent({ afterSeq: 3 }).map((e) => e.seq), [4]);
  t.same(buf.recent({ limit: 1 }).map((e) => e.msg), ['d']);
  off();
  log.error('e');
  t.same(seen, [1, 2, 3, 4], 'listeners hear each line until they leave');
});

t.test('hostile lines are refused and counted', async (t) => {
  const buf = new LogBuffer();
  for (const line of ['not json', '[1,2]', '{"level":"loud","msg":"x"}', '{"msg":"no level"}', `{"level":30,"msg":"${'x'.repeat(MAX_LOG_LINE_CHARS * 17)}"}`]) buf.write(line);
  t.equal(buf.rejected, 5);
  t.equal(buf.recent().length, 0);
  buf.write(JSON.stringify({ level: 30, msg: 'big', blob: 'y'.repeat(MAX_LOG_LINE_CHARS + 10) }));
  t.same(buf.recent()[0]!.fields, { truncated: true }, 'an oversized field set is cut');
  t.same(scrubSecrets({ list: [{ token: 't' }], inline: 'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QUJDREVGR0g=' }), { list: [{ token: REDACTED }], inline: `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${REDACTED}` }, 'SDES keys in text are masked');
});
