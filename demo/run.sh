#!/usr/bin/env bash
# The ckpool.fleet demo: `bash demo/run.sh` from a clone, on a fresh machine.
#
# 1. installs the pinned tool chain into a venv (the same one .ci/run uses) if it is missing,
# 2. starts a small simulated fleet on localhost (tests/simulator: real unix sockets, real
#    status files, a real stratum port each) with live synthetic miners,
# 3. runs demo/demo.yml (a tour of the modules), the health check playbook and the fleet
#    report playbook against it, and prints where the HTML report is,
# 4. stops the fleet (keep it with DEMO_KEEP=1; stop it later with
#    `python3 tests/simulator/fleet.py down --base <dir>`).
#
# Environment: DEMO_POOLS (default 3), DEMO_DIR (default /tmp/ckpool-fleet-demo),
# CKPOOL_CI_VENV (venv path, default $HOME/.cache/ckpool-fleet/venv), DEMO_KEEP=1.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${CKPOOL_CI_VENV:-$HOME/.cache/ckpool-fleet/venv}
DIR=${DEMO_DIR:-/tmp/ckpool-fleet-demo}
POOLS=${DEMO_POOLS:-3}
PY=${CKPOOL_CI_PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# -- 1. tool chain ---------------------------------------------------------------------------
if ! "$VENV/bin/ansible-playbook" --version >/dev/null 2>&1; then
    say "Installing the pinned tool chain into $VENV (first run only)"
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REPO/.ci/requirements.txt" \
        -c "$REPO/.ci/constraints.txt"
fi
export PATH="$VENV/bin:$PATH"

# ansible finds the collection through an ansible_collections/ckpool/fleet path to this tree
mkdir -p "$DIR/collections/ansible_collections/ckpool"
ln -sfn "$REPO" "$DIR/collections/ansible_collections/ckpool/fleet"
export ANSIBLE_COLLECTIONS_PATH="$DIR/collections"
export ANSIBLE_STDOUT_CALLBACK=ansible.builtin.default ANSIBLE_CALLBACK_RESULT_FORMAT=yaml
export ANSIBLE_LOCALHOST_WARNING=False ANSIBLE_INVENTORY_UNPARSED_WARNING=False
export ANSIBLE_NOCOLOR=${ANSIBLE_NOCOLOR:-0}

# -- 2. the simulated fleet ------------------------------------------------------------------
FLEET="$DIR/fleet"
cleanup() {
    if [[ ${DEMO_KEEP:-0} != 1 ]]; then
        "$VENV/bin/python" "$REPO/tests/simulator/fleet.py" down --base "$FLEET" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
"$VENV/bin/python" "$REPO/tests/simulator/fleet.py" down --base "$FLEET" >/dev/null 2>&1 || true
say "Starting $POOLS simulated ckpool instances with live miners in $FLEET"
"$VENV/bin/python" "$REPO/tests/simulator/fleet.py" up --count "$POOLS" --base "$FLEET" \
    --users 6 --workers-per-user 2 --miners 2 --status-interval 2 >/dev/null
"$VENV/bin/python" "$REPO/tests/simulator/fleet.py" status --base "$FLEET"
# pool.status is first written 1 s after start; give the miners a moment to authorise
sleep 3

INV="$FLEET/inventory.ini"
run() { ansible-playbook -i "$INV" -e ckpool_fleet_hosts=ckpool_sims -e fleet_report_hosts=ckpool_sims "$@"; }

# -- 3. the playbooks ------------------------------------------------------------------------
say "Module tour: ckpool_info, ckpool_loglevel and ckpool_dropuser (check mode) on every pool"
run "$REPO/demo/demo.yml"

say "Health check of the fleet (playbooks/healthcheck.yml)"
run "$REPO/playbooks/healthcheck.yml" -e "@$REPO/demo/healthcheck_vars.yml" \
    -e "healthcheck_report_path=$DIR/health.json"

say "Fleet report (playbooks/fleet_report.yml)"
run "$REPO/playbooks/fleet_report.yml" -e "fleet_report_dir=$DIR/report"

say "Done"
echo "Health report (JSON): $DIR/health.json"
echo "Fleet report (HTML):  $DIR/report/fleet.html"
echo "Fleet report (JSON):  $DIR/report/fleet.json"
if [[ ${DEMO_KEEP:-0} == 1 ]]; then
    echo "The simulated fleet keeps running: $VENV/bin/python $REPO/tests/simulator/fleet.py down --base $FLEET"
fi
