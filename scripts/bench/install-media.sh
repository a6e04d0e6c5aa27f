#!/usr/bin/env bash
# What `npm run bench:media` needs from Debian: rtpengine (userspace daemon,
# the reference relay). Not needed by any test. Run as root.
set -euo pipefail
if ! command -v rtpengine >/dev/null 2>&1; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends rtpengine-daemon
fi
# The package's service is not wanted: the bench starts its own rtpengine on 127.0.0.1.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now rtpengine-daemon >/dev/null 2>&1 || true; fi
rtpengine --version 2>&1 | head -1 || true
