#!/usr/bin/env bash
# CI stage for the multi-host test bed (root only): the bed's self-test, then the systemd
# handover regression for the recommended unit design (the supervisor: this directory's
# reference copy and the one the install role ships, each with the stand-in daemon and with
# the project's simulator). See README.md and HANDOVER_UNIT_FINDINGS.md.
#   e.g. in .ci/run: "testbed|bash tests/testbed/ci.sh"
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export CKPOOL_FLEET_VENV=${VENV:-${CKPOOL_FLEET_VENV:-/root/.cache/ckpool-fleet/venv}}

passed=0
failed=0
run() { # name command...
    local name=$1
    shift
    echo "=== testbed ci: $name"
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "=== testbed ci: $name FAILED"
    fi
}

run selftest bash "$HERE/selftest.sh"
run handover python3 "$HERE/handover/run_handover_matrix.py" --prefix cih \
    --variants recommended
echo "testbed: $passed passed, $failed failed"
[ "$failed" = 0 ]
