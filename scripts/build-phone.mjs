// Bundle the browser phone (webui/phone.html, webui/src/phone/) into dist/webui beside the admin page:
// its own script and stylesheet, SIP.js bundled in, nothing from a CDN.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'webui');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, 'webui', 'src', 'phone', 'main.ts')],
  outfile: join(out, 'phone.js'),
  bundle: true,
  format: 'esm',
  minify: true,
  sourcemap: false,
  target: ['es2020'],
  legalComments: 'none',
  logLevel: 'warning',
});
for (const f of ['phone.html', 'phone.css']) copyFileSync(join(root, 'webui', f), join(out, f));
