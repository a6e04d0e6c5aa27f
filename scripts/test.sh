#!/usr/bin/env bash
# The whole test suite on a fresh clone: system packages, npm packages, build, tap.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm ci --no-audit --no-fund
npm run build
npx tap "$@"
