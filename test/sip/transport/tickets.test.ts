import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Teardown } from './helpers.js';
import { FakeClock, cryptoRandom, type Logger } from '../../../firmware/core/index.js';
import { FileTicketKeys, TICKET_KEYS_FILE, TICKET_KEY_BYTES, TICKET_KEY_LIFETIME_MS } from '../../../firmware/sip/transport/index.js';

/** A logger that keeps each line's text and fields, to check what is said and that no key bytes are. */
function recordingLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const put = (fields: unknown, msg?: string): void => { lines.push(`${msg ?? ''} ${JSON.stringify(fields)}`); };
  const log = { info: put, warn: put, error: put, debug: put, child: () => log } as unknown as Logger;
  return { log, lines };
}

function setup(t: Teardown): { dir: string; clock: FakeClock } {
  const dir = mkdtempSync(join(tmpdir(), 'tickets-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, clock: new FakeClock(1_800_000_000_000) };
}

t.test('first start makes 48 bytes of keys in a 0600 file; the next process reads the same keys', async (t) => {
  const { dir, clock } = setup(t);
  const { log, lines } = recordingLog();
  const a = new FileTicketKeys(dir, clock, cryptoRandom, log);
  const keys = a.current();
  t.equal(keys.length, TICKET_KEY_BYTES);
  const path = join(dir, TICKET_KEYS_FILE);
  t.equal(statSync(path).mode & 0o777, 0o600, 'key file is 0600');
  t.equal(readFileSync(path).length, 8 + TICKET_KEY_BYTES);
  clock.advance(TICKET_KEY_LIFETIME_MS - 1);
  const b = new FileTicketKeys(dir, clock, cryptoRandom, log);
  t.ok(b.current().equals(keys), 'a restart within the day keeps the keys');
  t.equal(b.current(), b.current(), 'the same Buffer while unchanged (the listener compares by identity)');
  t.match(lines.join('\n'), /TLS session ticket keys made/);
  t.notMatch(lines.join('\n'), new RegExp(keys.toString('hex').slice(0, 16)), 'no key bytes in the log');
});

t.test('keys a day old are replaced, in the running process and at the next start', async (t) => {
  const { dir, clock } = setup(t);
  const { log, lines } = recordingLog();
  const a = new FileTicketKeys(dir, clock, cryptoRandom, log);
  const first = a.current();
  clock.advance(TICKET_KEY_LIFETIME_MS);
  const second = a.current();
  t.notOk(second.equals(first), 'renewed at the lifetime');
  t.match(lines.join('\n'), /TLS session ticket keys renewed/);
  t.ok(new FileTicketKeys(dir, clock, cryptoRandom, log).current().equals(second), 'the renewed keys were saved');
  clock.advance(TICKET_KEY_LIFETIME_MS);
  t.notOk(new FileTicketKeys(dir, clock, cryptoRandom, log).current().equals(second), 'a file past its day is not used at start');
});

t.test('a damaged file or a clock set back gives new keys, never a crash', async (t) => {
  const { dir, clock } = setup(t);
  const { log, lines } = recordingLog();
  const path = join(dir, TICKET_KEYS_FILE);
  writeFileSync(path, Buffer.alloc(7));
  const a = new FileTicketKeys(dir, clock, cryptoRandom, log);
  t.equal(a.current().length, TICKET_KEY_BYTES);
  t.match(lines.join('\n'), /wrong size/);
  const made = a.current();
  clock.advance(-60_000);
  t.notOk(new FileTicketKeys(dir, clock, cryptoRandom, log).current().equals(made), 'keys "made in the future" are not trusted');
  // An unwritable data folder: the keys still work for this process.
  const { log: log2, lines: lines2 } = recordingLog();
  const b = new FileTicketKeys(join(dir, 'missing', 'deeper'), clock, cryptoRandom, log2);
  t.equal(b.current().length, TICKET_KEY_BYTES);
  t.match(lines2.join('\n'), /not saved/);
});
