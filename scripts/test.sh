#!/usr/bin/env bash
# The full test suite, from a fresh machine: set-up, then type check, lint, unit tests and the
# privileged end-to-end suites (real kernel, namespaces made and removed by the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
npm test
