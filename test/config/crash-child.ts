/**
 * Child process for crash.test.ts: adds accounts one by one and prints
 * "added <ext>" only after each update has resolved, until it is killed.
 * Usage: node crash-child.js <dataDir> <prefix>
 */
import { addAccount, ConfigStore } from '../../firmware/config/index.js';
import { silentLogger } from '../../firmware/core/index.js';

const CHILD_ACCOUNT_CAP = 1500;

const [dataDir, prefix] = process.argv.slice(2);
if (!dataDir || !prefix) throw new Error('usage: crash-child.js <dataDir> <prefix>');
const store = await ConfigStore.open(dataDir, { log: silentLogger });
process.stdout.write('ready\n');
for (let i = 0; store.data.accounts.length < CHILD_ACCOUNT_CAP; i++) {
  const extension = `${prefix}-${i}`;
  await store.update((d) => addAccount(d, { extension, password: 'password1' }));
  // stdout to a pipe is synchronous on Linux: once written, the parent will see it.
  process.stdout.write(`added ${extension}\n`);
}
process.stdout.write('cap\n');
