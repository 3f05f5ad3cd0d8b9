#!/usr/bin/env bash
# Integration test of ckpool.fleet.ckpool_control against two simulated pools on localhost with
# real stratum miners connected (tests/simulator/miner.py): check -> apply -> re-apply -> bad input.
# control.yml asserts the module results, what the miners received (their JSON-lines output) and,
# through the simulator's command log, that check mode and bad input sent nothing.
set -eux

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The collection under test: the first ANSIBLE_COLLECTIONS_PATH entry that holds it.
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
miner=$coll/tests/simulator/miner.py
py=${ANSIBLE_TEST_PYTHON_INTERPRETER:-$(command -v python3)}

work=$(mktemp -d /tmp/ckpool_control.XXXXXX)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# start_pool NAME: a simulated ckpool with its own socket and log directory; prints nothing.
start_pool() {
    local name=$1 pid
    mkdir -p "$work/$name"
    printf '{"logdir": "%s/%s/logs", "serverurl": "127.0.0.1:0"}' "$work" "$name" > "$work/$name/ckpool.conf"
    pid=$(cd "$work/$name" && "$py" "$sim" -c ckpool.conf -s "$work/$name/sock" --sim-stratum-port 0 --sim-daemon)
    pids+=("$pid")
}
port_of() {
    "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["stratum_port"])' "$work/$1/logs/.sim_state.json"
}
# wait_authorised NAME N: until N "Authorised client" lines are in NAME's ckpool.log (10 s).
wait_authorised() {
    local _
    for _ in $(seq 100); do
        [[ $(grep -c 'Authorised client' "$work/$1/logs/ckpool.log" 2>/dev/null) -ge $2 ]] && return 0
        sleep 0.1
    done
    echo "only $(grep -c 'Authorised client' "$work/$1/logs/ckpool.log") of $2 miners authorised on $1"
    return 1
}

start_pool main
start_pool backup
main_port=$(port_of main)
backup_port=$(port_of backup)

# Watchers stay where they are and record every line the pool sends them; followers obey
# client.reconnect (to the HOST,PORT it names) like a real miner.  --interval 3600: no shares
# during the test (miner.py with --interval 0 never reads from its socket after authorising).
"$py" "$miner" --port "$main_port" --connections 2 --user watch --interval 3600 --duration 300 \
    > "$work/watchers.jsonl" 2>> "$work/miners.err" &
pids+=("$!")
"$py" "$miner" --port "$main_port" --connections 3 --user follow --interval 3600 --duration 300 \
    --follow-reconnect > "$work/followers.jsonl" 2>> "$work/miners.err" &
pids+=("$!")
wait_authorised main 5

ansible-playbook -i localhost, -c local -e "ansible_python_interpreter=$py" "$here/control.yml" \
    -e "work=$work" -e "main_port=$main_port" -e "backup_port=$backup_port" -e "miner=$miner" -e "py=$py" "$@"
