#!/bin/sh
# Builds libsrtp2 with OpenSSL's AES and HMAC (configure --enable-openssl) from
# Debian's own source package, for bench:srtp's second reference: Debian ships
# libsrtp2 built against NSS only. Needs a deb-src line for bookworm and
# libssl-dev. Installs a static library under $SRTP_OPENSSL_PREFIX
# (default ~/.cache/pbx-bench/libsrtp2-openssl), where bench:srtp looks.
set -eu
PREFIX="${SRTP_OPENSSL_PREFIX:-$HOME/.cache/pbx-bench/libsrtp2-openssl}"
if [ -f "$PREFIX/lib/libsrtp2.a" ]; then echo "already built: $PREFIX"; exit 0; fi
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  cat > /etc/apt/sources.list.d/pbx-bench-deb-src.sources <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update
fi
apt-get install -y libssl-dev dpkg-dev
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
apt-get source --download-only libsrtp2
tar xzf libsrtp2_*.orig.tar.gz
cd libsrtp-*/
./configure --enable-openssl --prefix="$PREFIX"
make -j"$(nproc)" libsrtp2.a
make install
echo "built: $PREFIX"
