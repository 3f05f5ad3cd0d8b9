#!/usr/bin/env bash
# Integration test of ckpool.fleet.ckpool_restart against a simulated ckpool whose restart
# follows ckpool's real timing (new process, main.pid written only after the old one exited):
# check -> apply -> re-apply -> bad input, with the simulator's command log as the witness.
set -eux

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
coll=
IFS=: read -r -a paths <<< "${ANSIBLE_COLLECTIONS_PATH:-}"
for p in "${paths[@]}" "$here/../../../../../.."; do
    if [[ -f $p/ansible_collections/ckpool/fleet/tests/simulator/ckpool_sim.py ]]; then
        coll=$(cd "$p/ansible_collections/ckpool/fleet" && pwd)
        break
    fi
done
[[ -n $coll ]] || { echo "cannot find the ckpool.fleet collection"; exit 1; }
sim=$coll/tests/simulator/ckpool_sim.py
py=${ANSIBLE_TEST_PYTHON_INTERPRETER:-$(command -v python3)}

work=$(mktemp -d /tmp/ckpool_restart.XXXXXX)
pgid=
cleanup() {
    if [[ -n $pgid ]]; then
        kill -- "-$pgid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/pool"
printf '{"btcd": [{"url": "127.0.0.1:8332", "auth": "u", "pass": "p"}], "logdir": "%s/pool/logs", "serverurl": "127.0.0.1:0"}' \
    "$work" > "$work/pool/ckpool.conf"
# --sim-daemon starts the simulator in a new session: its pid is also the process group of
# every copy a restart creates, which cleanup ends.
pgid=$(cd "$work/pool" && "$py" "$sim" -c ckpool.conf -n pool -s "$work/pool/sock" --sim-users 2 --sim-daemon)

ansible-playbook -i localhost, -c local -e "ansible_python_interpreter=$py" \
    -e "sockdir=$work/pool/sock" -e "cmdlog=$work/pool/logs/sim_commands.jsonl" -e "empty_dir=$work/empty" \
    "$here/test.yml" "$@"
