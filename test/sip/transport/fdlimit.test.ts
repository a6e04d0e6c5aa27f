import t from 'tap';
import { openFileLimit, parseOpenFileLimit } from '../../../firmware/sip/transport/index.js';

const sample = [
  'Limit                     Soft Limit           Hard Limit           Units     ',
  'Max processes             63360                63360                processes ',
  'Max open files            1024                 524288               files     ',
  'Max locked memory         8388608              8388608              bytes     ',
].join('\n');

t.test('parses the open-files row of /proc/self/limits', async (t) => {
  t.same(parseOpenFileLimit(sample), { soft: 1024, hard: 524288 });
  t.same(parseOpenFileLimit('Max open files            unlimited            unlimited            files'), { soft: Infinity, hard: Infinity });
  t.equal(parseOpenFileLimit('Max processes 1 1'), undefined);
});

t.test('reads this process limits on Linux', { skip: process.platform !== 'linux' }, async (t) => {
  const l = openFileLimit();
  t.ok(l);
  if (l) t.ok(l.soft > 0 && l.soft <= l.hard);
});
