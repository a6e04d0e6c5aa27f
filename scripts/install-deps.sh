#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks drive: real SIP clients
# (baresip, linphonec, sipp), tshark to look at the wire, sox for audio checks,
# chromium for the admin page's browser tests, libsrtp2 as the SRTP reference.
# Idempotent: does nothing when everything is already there.
set -euo pipefail

need=()
command -v baresip  >/dev/null 2>&1 || need+=(baresip-core)
command -v linphonec >/dev/null 2>&1 || need+=(linphone-cli)
command -v sipp     >/dev/null 2>&1 || need+=(sip-tester)
command -v tshark   >/dev/null 2>&1 || need+=(tshark)
command -v sox      >/dev/null 2>&1 || need+=(sox)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v unshare  >/dev/null 2>&1 || need+=(util-linux)
command -v ip       >/dev/null 2>&1 || need+=(iproute2)
# The serial console test types on one end of a pseudo-terminal pair socat makes.
command -v socat    >/dev/null 2>&1 || need+=(socat)
# npm run image packs the overlay package with dpkg-deb.
command -v dpkg-deb >/dev/null 2>&1 || need+=(dpkg)
# libsrtp (Debian's build) is the reference the SRTP tests cross-check against and the benchmark compares with.
dpkg -s libsrtp2-dev >/dev/null 2>&1 || need+=(libsrtp2-dev)
command -v cc       >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
# The password-guessing and enumeration interop test attacks the box with svwar and svcrack.
command -v svcrack  >/dev/null 2>&1 || need+=(sipvicious)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${need[*]}; run as root (or install them) to enable the interop tests" >&2
  exit 1
fi
echo "install-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
