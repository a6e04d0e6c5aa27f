#!/usr/bin/env node
/*
 * npm run image: the firmware for a Raspberry Pi running Raspberry Pi OS Lite
 * 64-bit (Debian trixie, arm64, nodejs 20 from Debian), built on this machine
 * into image/out/:
 *
 *   securepbx_VERSION_arm64.deb     the overlay package a user installs on a fresh Pi OS Lite
 *   securepbx-VERSION.pbxfw         the same firmware as a signed update bundle (pbx update FILE)
 *   vendor.pub                      the public key the box trusts for updates
 *   contents.txt                    every file of the package with its size
 *
 * The app is the compiled dist/ (tests and source maps left out) with the
 * production dependencies only (npm ls --omit=dev). Native code: serialport
 * ships an arm64 prebuilt (node-gyp-build picks it at run time); onoff's
 * epoll addon has none, so the package carries its source and postinst
 * builds it on the Pi (Depends: node-gyp, g++, make).
 *
 * The vendor signing key is image/keys/vendor.key (mode 0600, never in git);
 * it is made on the first build. A real vendor keeps it offline.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBundle, readTree } from '../dist/firmware/update/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'image', 'out');
const STAGE = join(OUT, 'stage');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const version = pkg.version;
const t0 = Date.now();

rmSync(OUT, { recursive: true, force: true });
mkdirSync(STAGE, { recursive: true });

// The slot: dist without tests and maps, package.json, production node_modules.
const slot = join(STAGE, 'opt/securepbx/a');
mkdirSync(slot, { recursive: true });
cpSync(join(ROOT, 'dist'), join(slot, 'dist'), {
  recursive: true,
  filter: (src) => { const rel = relative(join(ROOT, 'dist'), src); return !rel.startsWith('test') && !rel.startsWith('scripts') && !src.endsWith('.map'); },
});
writeFileSync(join(slot, 'package.json'), `${JSON.stringify({ name: pkg.name, version, type: 'module', private: true, dependencies: pkg.dependencies }, null, 2)}\n`);
const prod = execFileSync('npm', ['ls', '--omit=dev', '--parseable', '--all'], { cwd: ROOT, encoding: 'utf8' })
  .split('\n').filter((p) => p.startsWith(join(ROOT, 'node_modules')));
// Packages the firmware never loads at run time (the page is prebuilt into dist/webui; the browser driver is for tests).
const SKIP = new Set(['playwright-core', 'preact', 'htm']);
for (const dir of prod) {
  const rel = relative(join(ROOT, 'node_modules'), dir);
  if (SKIP.has(rel)) continue;
  cpSync(dir, join(slot, 'node_modules', rel), {
    recursive: true,
    filter: (src) => {
      const r = relative(dir, src);
      if (r.startsWith('node_modules')) return false; // nested packages come as their own entries
      // No x86 binaries on an arm64 box: serialport keeps only its linux-arm64 prebuilt, epoll only its source.
      if (rel === '@serialport/bindings-cpp' && r.startsWith('prebuilds/') && r !== 'prebuilds' && !r.startsWith('prebuilds/linux-arm64')) return false;
      if (rel === 'epoll' && r.startsWith('build')) return false;
      return true;
    },
  });
}
writeFileSync(join(slot, 'manifest.json'), `${JSON.stringify({ version }, null, 1)}\n`);

// The vendor key: made once, kept out of git.
const keyDir = join(ROOT, 'image', 'keys');
const keyFile = join(keyDir, 'vendor.key');
if (!existsSync(keyFile)) {
  mkdirSync(keyDir, { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ed25519');
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
}
chmodSync(keyFile, 0o600);
const privateKey = createPrivateKey(readFileSync(keyFile));
const publicPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' });
writeFileSync(join(OUT, 'vendor.pub'), publicPem);

// The signed update bundle: the slot's contents (the manifest.json comes from the bundle itself).
const payload = readTree(slot, (rel) => rel !== 'manifest.json');
const bundleFile = join(OUT, `securepbx-${version}.pbxfw`);
writeFileSync(bundleFile, createBundle({ version, files: payload, privateKey }));

// The overlay package.
const put = (rel, from, mode) => { const p = join(STAGE, rel); mkdirSync(dirname(p), { recursive: true }); cpSync(from, p); chmodSync(p, mode); };
const files = join(ROOT, 'image', 'files');
put('lib/systemd/system/securepbx.service', join(files, 'securepbx.service'), 0o644);
put('lib/systemd/system/securepbx-firstboot.service', join(files, 'securepbx-firstboot.service'), 0o644);
put('usr/lib/securepbx/boot', join(files, 'boot'), 0o755);
put('usr/lib/securepbx/firstboot', join(files, 'firstboot'), 0o755);
put('usr/bin/pbx', join(files, 'pbx'), 0o755);
put('opt/securepbx/README.image.md', join(ROOT, 'image', 'README.md'), 0o644);
mkdirSync(join(STAGE, 'etc/securepbx/update-keys'), { recursive: true });
writeFileSync(join(STAGE, 'etc/securepbx/update-keys/vendor.pub'), publicPem);
mkdirSync(join(STAGE, 'DEBIAN'));
put('DEBIAN/postinst', join(files, 'postinst'), 0o755);
let installedKb = 0;
const list = [];
const walk = (d) => { for (const n of readdirSync(d).sort()) { const p = join(d, n); const st = statSync(p); if (st.isDirectory()) walk(p); else { installedKb += st.size / 1024; list.push([relative(STAGE, p), st.size]); } } };
walk(STAGE);
writeFileSync(join(STAGE, 'DEBIAN/control'), [
  'Package: securepbx',
  `Version: ${version}`,
  'Architecture: arm64',
  'Maintainer: SecurePBX <firmware@securepbx.invalid>',
  'Depends: nodejs (>= 20), node-gyp, g++, make, adduser, systemd (>= 254)',
  'Section: net',
  'Priority: optional',
  `Installed-Size: ${Math.ceil(installedKb)}`,
  'Description: secure office phone system (SIP registrar, B2BUA, SRTP)',
  ' SIP/TLS and SRTP phone system for a Raspberry Pi, with A/B firmware slots',
  ' updated from signed bundles (pbx update FILE).',
  '',
].join('\n'));
const deb = join(OUT, `securepbx_${version}_arm64.deb`);
execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', STAGE, deb], { stdio: 'ignore' });

// What is in it, with sizes (the package, then the top of the slot by size).
const bySize = new Map();
for (const [p, s] of list) {
  const m = /^opt\/securepbx\/a\/(node_modules\/(?:@[^/]+\/)?[^/]+|dist|[^/]+)/.exec(p);
  const k = m ? m[1] : p;
  bySize.set(k, (bySize.get(k) ?? 0) + s);
}
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
const report = [
  `${relative(ROOT, deb)}  ${kb(statSync(deb).size)}`,
  `${relative(ROOT, bundleFile)}  ${kb(statSync(bundleFile).size)} (${payload.length} files, signed, key ${relative(ROOT, keyFile)})`,
  `installed size ${kb(installedKb * 1024)} in ${list.length} files`,
  '',
  ...[...bySize].sort((a, b) => b[1] - a[1]).map(([k, s]) => `${kb(s).padStart(12)}  ${k}`),
  '',
  'native code:',
  ...list.filter(([p]) => p.endsWith('.node')).map(([p, s]) => `${kb(s).padStart(12)}  ${p}`),
  '',
];
writeFileSync(join(OUT, 'contents.txt'), `${report.join('\n')}\n${list.map(([p, s]) => `${String(s).padStart(10)}  ${p}`).join('\n')}\n`);
rmSync(STAGE, { recursive: true, force: true });
process.stdout.write(`${report.join('\n')}built in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
