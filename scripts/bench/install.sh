#!/usr/bin/env bash
# Debian packages the reference runs of the benches need (not the tests):
# Kamailio (registrar + digest auth, stateful proxy; its base package ships
# auth, auth_db, db_text, registrar, usrloc, tm, sl, rr, rtpengine modules)
# and rtpengine's daemon, run in userspace (no kernel module).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get install -y --no-install-recommends kamailio rtpengine-daemon sip-tester
# The packages' services are not wanted: the benches start their own instances.
for s in kamailio rtpengine-daemon; do
  $SUDO systemctl disable --now "$s" >/dev/null 2>&1 || true
done
