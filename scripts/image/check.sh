#!/bin/bash
# npm run image:check: the A/B update flow in a chroot built from the image's
# own package (image/out/securepbx_*_arm64.deb, from npm run image), laid out
# as on the board: /opt/securepbx/{a,b,state.json}, /var/lib/securepbx,
# /etc/securepbx/update-keys. The host's node (x86-64) stands in for Debian's
# arm64 one: the JavaScript is the same; the arm64 native code (serialport's
# prebuilt) is not loaded by these steps. Runs in its own network namespace
# (unshare -n, only lo up) so the box's real ports (5060, 5061, 443, 80) are free.
# The real supervisor (/usr/lib/securepbx/boot) and the real `pbx update` run
# inside: a good bundle is verified, installed, switched to, health-checked and
# committed; a broken one rolls back on its own; a bad signature and a changed
# file are refused with nothing written to the inactive slot. Exit 0 when all hold.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${IMAGE_CHECK_INNER:-}" ]; then
  exec env IMAGE_CHECK_INNER=1 unshare -n -m "$0" "$@"
fi
ip link set lo up
unset NODE_EXTRA_CA_CERTS   # the host's CA bundle path: not in the chroot
DEB=$(ls "$HERE"/image/out/securepbx_*_arm64.deb | head -1)
R=$(mktemp -d /tmp/pbx-image-root-XXXXXX)
SUP=""
cleanup() { [ -n "$SUP" ] && kill "$SUP" 2>/dev/null; sleep 0.5; umount "$R/proc" 2>/dev/null || true; rm -rf "$R"; }
trap cleanup EXIT
dpkg-deb -x "$DEB" "$R"
mkdir -p "$R/usr/bin" "$R/bin" "$R/tmp" "$R/dev" "$R/proc" "$R/var/lib/securepbx" "$R/opt/securepbx/b"
for b in /usr/bin/node /bin/sh /bin/sed; do cp -L "$b" "$R$b"; for l in $(ldd "$b" | grep -oE '/[^ ]+'); do mkdir -p "$R$(dirname "$l")"; cp -L "$l" "$R$l"; done; done
mknod -m 666 "$R/dev/null" c 1 3; mknod -m 666 "$R/dev/urandom" c 1 9
mount -t proc proc "$R/proc"
# What postinst does on the Pi (the users aside: this runs as root here).
printf '{\n  "committed": "a",\n  "trial": null,\n  "last": null\n}\n' > "$R/opt/securepbx/state.json"
chmod 700 "$R/var/lib/securepbx"
# The bundles, signed with the vendor key of the build (or a stranger's), from the image's slot a.
node --input-type=module - "$R" "$HERE" <<'JS'
import { generateKeyPairSync, createPrivateKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
const [R, HERE] = process.argv.slice(2);
const { createBundle, readTree, readTar, writeTar } = await import(`${HERE}/dist/firmware/update/index.js`);
const key = createPrivateKey(readFileSync(`${HERE}/image/keys/vendor.key`));
const files = readTree(`${R}/opt/securepbx/a`, (rel) => rel !== 'manifest.json');
const put = (name, version, fs = files, k = key) => writeFileSync(`${R}/tmp/${name}`, createBundle({ version, files: fs, privateKey: k }));
put('good.pbxfw', '0.2.0');
put('broken.pbxfw', '0.3.0', files.map((f) => (f.path === 'dist/firmware/main.js' ? { ...f, data: Buffer.from('throw new Error("broken firmware");\n') } : f)));
put('stranger.pbxfw', '0.4.0', files, generateKeyPairSync('ed25519').privateKey);
put('changed.pbxfw', '0.4.0');
const raw = gunzipSync(readFileSync(`${R}/tmp/changed.pbxfw`));
const entries = readTar(raw, 100_000).map((e) => ({ ...e, data: Buffer.from(e.data) }));
const v = entries.find((e) => e.path === 'payload/dist/firmware/main.js');
v.data = Buffer.concat([v.data, Buffer.from('\n// changed\n')]);
writeFileSync(`${R}/tmp/changed.pbxfw`, gzipSync(writeTar(entries)));
JS
fail() { echo "image:check FAILED: $*" >&2; exit 1; }
state() { cat "$R/opt/securepbx/state.json"; }
running_slot() { local pid; pid=$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' "$R/var/lib/securepbx/run.json" 2>/dev/null); [ -n "$pid" ] && { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null | grep -oE '/opt/securepbx/[ab]/' | head -1; }
wait_slot() { for _ in $(seq 1 600); do [ "$(running_slot)" = "/opt/securepbx/$1/" ] && return 0; sleep 0.1; done; fail "slot $1 never ran"; }
digest() { (cd "$R/opt/securepbx" && find . -type f ! -name supervisor.pid -print0 | sort -z | xargs -0 sha256sum | sha256sum); }

chroot "$R" /usr/lib/securepbx/boot > "$R/../$(basename "$R").log" 2>&1 &
SUP=$!
wait_slot a; echo "ok: the supervisor runs slot a (0.1.0) in the chroot"
out=$(chroot "$R" /usr/bin/pbx update /tmp/good.pbxfw 2>&1) || fail "good bundle: $out"
echo "$out" | grep -q 'updated to 0.2.0: healthy after' || fail "good bundle: $out"
wait_slot b; state | grep -q '"committed": "b"' || fail "not committed: $(state)"
echo "ok: good bundle verified, installed into b, switched, health-checked, committed: $(echo "$out" | tail -1)"
if out=$(chroot "$R" /usr/bin/pbx update /tmp/broken.pbxfw 2>&1); then fail "broken bundle accepted: $out"; fi
echo "$out" | grep -q '0.3.0 was rolled back' || fail "broken bundle: $out"
wait_slot b; state | grep -q '"outcome": "rolled-back"' || fail "no rollback recorded: $(state)"
echo "ok: broken bundle rolled back on its own: $(echo "$out" | tail -1)"
before=$(digest)
if out=$(chroot "$R" /usr/bin/pbx update /tmp/stranger.pbxfw 2>&1); then fail "bad signature accepted"; fi
echo "$out" | grep -q 'not signed by a trusted vendor key' || fail "bad signature: $out"
echo "ok: bad signature refused: $out"
if out=$(chroot "$R" /usr/bin/pbx update /tmp/changed.pbxfw 2>&1); then fail "changed file accepted"; fi
echo "$out" | grep -q 'differs from the signed manifest' || fail "changed file: $out"
echo "ok: changed file refused: $out"
[ "$(digest)" = "$before" ] || fail "the slots changed after a refusal"
[ ! -e "$R/opt/securepbx/.incoming-a" ] || fail "a staging folder was left"
echo "ok: nothing written to the inactive slot a (slots and state.json hash the same before and after)"
[ "$(running_slot)" = "/opt/securepbx/b/" ] || fail "the running firmware was disturbed"
echo "image:check: all passed"
