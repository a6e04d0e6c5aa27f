#!/usr/bin/env bash
# The whole test suite on a fresh clone: system packages, npm packages, build, tap.
# The TAP log is kept; when anything fails, its failed assertions are listed again
# at the very end, so the tail of a long CI log names what failed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm ci --no-audit --no-fund
npm run build
log="$(mktemp -t pbx-tap.XXXXXX.log)"
status=0
npx tap "$@" 2>&1 | tee "$log" || status=$?
if [ "$status" -ne 0 ]; then
  node scripts/tap-failures.mjs "$log" || true
fi
rm -f "$log"
exit "$status"
