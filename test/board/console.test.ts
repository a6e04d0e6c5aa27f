import t from 'tap';
import { ConsoleSession, LOGIN_BASE_DELAY_MS, splitWords, type LoginCheck } from '../../board/index.js';
import { FakeClock } from '../../firmware/core/index.js';

t.test('splitWords: blanks, quotes, escapes; unterminated quotes refused', async (t) => {
  t.same(splitWords('account add 201 --password "a b"'), { ok: true, words: ['account', 'add', '201', '--password', 'a b'] });
  t.same(splitWords(`x 'it''s' a\\ b "q\\"q" ''`), { ok: true, words: ['x', 'its', 'a b', 'q"q', ''] });
  t.same(splitWords('  '), { ok: true, words: [] });
  t.equal(splitWords('say "oops').ok, false);
  t.equal(splitWords('trailing \\').ok, false);
});

function session(login: (pw: string) => Promise<LoginCheck> = async (pw) => (pw === 'right-password' ? 'ok' : 'wrong')) {
  const clock = new FakeClock();
  let out = '';
  const ran: string[][] = [];
  const s = new ConsoleSession({
    write: (x) => { out += x; }, login, clock,
    run: async (argv) => { ran.push([...argv]); return { code: argv[0] === 'fail' ? 1 : 0, output: `ran ${argv.join(' ')}\n` }; },
  });
  s.start('hello');
  const take = (): string => { const o = out; out = ''; return o; };
  const type = async (text: string): Promise<string> => { s.input(text); await s.idle(); return take(); };
  return { s, clock, ran, take, type };
}

t.test('login: the password is not echoed; wrong ones are throttled with a doubling delay', async (t) => {
  const { s, clock, take, type } = session();
  t.match(take(), /hello\r\nadmin password: $/);
  const wrong = await type('guess-1\r');
  t.notMatch(wrong, /guess/, 'the password is never echoed');
  t.match(wrong, /wrong password; next try in 2 s/);
  t.match(await type('right-password\r'), /too many wrong passwords: wait 2 s/, 'even the right password waits out the delay');
  t.equal(s.loggedIn, false);
  clock.advance(LOGIN_BASE_DELAY_MS);
  t.match(await type('guess-2\r'), /next try in 4 s/, 'the delay doubles');
  clock.advance(3_999);
  t.match(await type('right-password\r'), /wait 1 s/);
  clock.advance(1);
  t.match(await type('right-password\r'), /logged in/);
  t.equal(s.loggedIn, true);
});

t.test('shell: commands run with their words; echo, backspace, ^U, ^W, ^C, history, refused commands, logout', async (t) => {
  const { s, ran, type } = session();
  await type('right-password\r');
  t.equal(await type('status'), 'status', 'typed characters are echoed');
  t.match(await type('\r'), /\r\nran status\r\npbx> $/);
  await type('pbx account add 201 --password "two words"\r');
  t.same(ran[1], ['account', 'add', '201', '--password', 'two words'], 'a leading pbx is optional; quotes keep blanks');
  t.equal(await type('statuz\x7f'), 'statuz\b \b');
  await type('s\r');
  t.same(ran[2], ['status']);
  await type('junk junk\x15account list\r');
  t.same(ran[3], ['account', 'list'], '^U clears the line');
  await type('account remove\x17list\r');
  t.same(ran[4], ['account', 'list'], '^W removes the last word');
  t.match(await type('half a line\x03'), /\^C\r\npbx> $/);
  t.match(await type('fail\r'), /\[exit 1\]/);
  t.equal(ran.length, 6);
  // History (repeats collapse): status, account add, status, account list, fail. Up, up, down: fail.
  await type('\x1b[A\x1b[A');
  await type('\x1b[B');
  await type('\r');
  t.same(ran[6], ['fail'], 'up, up, down: back to the latest');
  await type('\x1b[A\x1b[A\r');
  t.same(ran[7], ['account', 'list']);
  t.match(await type('run --data x\r'), /'run' is not available on the console/);
  t.match(await type('bad "quote\r'), /unterminated " quote/);
  t.match(await type('logout\r'), /logged out\r\nadmin password: $/);
  t.equal(s.loggedIn, false);
  await type('status\r');
  t.equal(ran.length, 8, 'after logout nothing runs without the password');
});

t.test('before an admin password exists the hint is shown and nothing is counted as a failure', async (t) => {
  const { take, type } = session(async (pw) => (pw === 'SETUP123' ? 'ok' : { hint: 'no admin password is set yet: type the setup code' }));
  take();
  t.match(await type('nope\r'), /no admin password is set yet/);
  t.match(await type('SETUP123\r'), /logged in/, 'no throttle delay after a hint');
});
