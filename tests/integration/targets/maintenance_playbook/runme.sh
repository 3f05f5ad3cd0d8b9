#!/usr/bin/env bash
# End-to-end test of playbooks/maintenance.yml (the role ckpool.fleet.maintenance) with ansible-playbook
# against simulated pools on localhost and real stratum miners:
#   refusals (this pool, this host, unreachable, unresolvable, invalid target, missing settings)
#   -> check mode -> a real run that drains below the threshold -> a real run whose drain hits
#   the deadline -> a start that leaves the pool serving no miner (the health gate refuses to accept).
#   The simulator's command log proves what was (and was not) sent.
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
check="$py $here/check.py"

work=$(mktemp -d /tmp/maintenance_playbook.XXXXXX)
pidfile=$work/pids
: > "$pidfile"
cleanup() {
    local pid
    while read -r pid; do
        if [[ -n $pid ]]; then
            kill "$pid" 2>/dev/null || true
        fi
    done < "$pidfile"
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
# start_pool NAME PORT: a simulated ckpool with its own socket and log directory.
start_pool() {
    local name=$1 port=$2
    mkdir -p "$work/$name"
    printf '{"logdir": "%s/%s/logs", "serverurl": "127.0.0.1:%s"}' "$work" "$name" "$port" > "$work/$name/ckpool.conf"
    (cd "$work/$name" && "$py" "$sim" -c ckpool.conf -s "$work/$name/sock" --sim-stratum-port "$port" --sim-daemon) \
        >> "$pidfile"
}
# miners NAME PORT COUNT [miner args]: background miner process writing JSON lines to NAME.jsonl.
miners() {
    local name=$1 port=$2 count=$3
    shift 3
    "$py" "$miner" --port "$port" --connections "$count" --user "$name" --interval 3600 --duration 600 "$@" \
        > "$work/$name.jsonl" 2>> "$work/miners.err" &
    echo "$!" >> "$pidfile"
}

main_port=$(free_port)
backup_port=$(free_port)
closed_port=$(free_port)   # nothing listens there
start_pool main "$main_port"
start_pool backup "$backup_port"
miners follow "$main_port" 3 --follow-reconnect
miners watch "$main_port" 1
$check connections --sock "$work/main/sock" --equal 4

cat > "$work/inventory.yml" <<INV
ckpool:
  hosts:
    pool1:
      ansible_connection: local
      ansible_python_interpreter: $py
      ckpool_socket_dir: $work/main/sock
      ckpool_log_dir: $work/main/logs
      ckpool_timeout: 2
      maintenance_pool_port: $main_port
      maintenance_allow_same_host: true
      maintenance_start_tasks: $here/start_sim.yml
      maintenance_drain_poll: 1
      maintenance_drain_timeout: 5
      maintenance_shutdown_timeout: 10
      maintenance_start_timeout: 20
      sim_python: $py
      sim_script: $sim
      sim_dir: $work/main
      sim_port: $main_port
      sim_pids_file: $pidfile
      marker_file: $work/marker.json
INV
play() {
    ansible-playbook -i "$work/inventory.yml" ckpool.fleet.maintenance "$@"
}
# refuse MESSAGE ARGS...: the playbook must fail with MESSAGE and send ckpool nothing that changes it.
refuse() {
    local message=$1 mark
    shift
    mark=$($check mark --log "$work/main/logs/sim_commands.jsonl")
    if play "$@" > "$work/refused.out" 2>&1; then
        cat "$work/refused.out"
        echo "the playbook did not refuse: $*"
        exit 1
    fi
    cat "$work/refused.out"
    grep -F -- "$message" "$work/refused.out"
    $check no-mutation --log "$work/main/logs/sim_commands.jsonl" --since "$mark"
}

pid0=$(cat "$work/main/sock/main.pid")

# ---- refusals: nothing happens -----------------------------------------------------------------
refuse "it is this very pool" -e "maintenance_target=127.0.0.1:$main_port"
refuse "it is on pool1 itself" -e "maintenance_target=127.0.0.1:$backup_port" -e maintenance_allow_same_host=false
refuse "it is on pool1 itself" -e "maintenance_target=localhost:$backup_port" -e maintenance_allow_same_host=false
refuse "does not accept TCP connections" -e "maintenance_target=127.0.0.1:$closed_port" \
    -e maintenance_target_timeout=1
refuse "does not resolve" -e "maintenance_target=no-such-host.invalid:3333"
refuse "invalid target" -e "maintenance_target=evil,1:3333"
refuse "maintenance needs maintenance_target"
refuse "maintenance needs maintenance_target" -e "maintenance_target=127.0.0.1:$backup_port" \
    -e maintenance_tasks=/nonexistent/tasks.yml
[[ $(cat "$work/main/sock/main.pid") == "$pid0" ]]
$check connections --sock "$work/main/sock" --equal 4

# ---- check mode: every step shown, nothing sent that changes the pool ------------------------------
mark=$($check mark --log "$work/main/logs/sim_commands.jsonl")
play --check -e "maintenance_target=127.0.0.1:$backup_port" -e "maintenance_tasks=$here/maintain.yml" \
    | tee "$work/check.out"
$check no-mutation --log "$work/main/logs/sim_commands.jsonl" --since "$mark"
for step in 'Preflight - the target must accept TCP connections' 'Drain - reject new miner connections' \
        'Drain - redirect every connected miner' 'Drain - wait for the connections' 'Drain - report' \
        'Stop - shut ckpool down' 'Maintenance - the operator' 'Start - the operator' \
        'Gate - wait for a new ckpool process that passes the health checks' 'Accept new miner connections' \
        'Report'; do
    grep -F "TASK [ckpool.fleet.maintenance : $step" "$work/check.out"
done
grep -F 'check mode: would redirect 4 open connection(s) to 127.0.0.1:'"$backup_port" "$work/check.out"
[[ $(cat "$work/main/sock/main.pid") == "$pid0" ]]
[[ ! -e $work/marker.json ]]   # the include ran in check mode: its copy wrote nothing
$check connections --sock "$work/main/sock" --equal 4
$check received --jsonl "$work/watch.jsonl" --reconnects 0

# ---- a real run: the followers move, the watcher stays, 1 < threshold 2 ----------------------------
mark=$($check mark --log "$work/main/logs/sim_commands.jsonl")
play -e "maintenance_target=127.0.0.1:$backup_port" -e "maintenance_tasks=$here/maintain.yml" \
    -e maintenance_drain_threshold=2 -e maintenance_drain_timeout=30 | tee "$work/run1.out"
grep -E 'drain: 4 -> 1 open connection\(s\) after [0-9.]+ s \(threshold 2, deadline 30 s\): drained' "$work/run1.out"
pid1=$(cat "$work/main/sock/main.pid")
[[ $pid1 != "$pid0" ]]
$check sent --log "$work/main/logs/sim_commands.jsonl" --since "$mark" --pid "$pid0" \
    --expect reject "reconnect:127.0.0.1,$backup_port" shutdown
$check sent --log "$work/main/logs/sim_commands.jsonl" --since "$mark" --pid "$pid1" --expect accept
# the watcher got exactly ckpool's redirect line, then EOF when ckpool stopped
$check received --jsonl "$work/watch.jsonl" --reconnects 1 \
    --line '{"id":null,"method":"client.reconnect","params":["127.0.0.1","'"$backup_port"'",0]}' --eof
# the followers reconnected to the backup pool
$check connections --sock "$work/backup/sock" --equal 3
$check marker --file "$work/marker.json" --running false --drained true
$check connections --sock "$work/main/sock" --equal 0

# ---- a real run whose drain hits the deadline: a miner that ignores the redirect ----------------------
miners stubborn "$main_port" 1
$check connections --sock "$work/main/sock" --equal 1
rm -f "$work/marker.json"
mark=$($check mark --log "$work/main/logs/sim_commands.jsonl")
play -e "maintenance_target=127.0.0.1:$backup_port" -e "maintenance_tasks=$here/maintain.yml" \
    -e maintenance_drain_threshold=1 -e maintenance_drain_timeout=3 | tee "$work/run2.out"
grep -E 'drain: 1 -> 1 open connection\(s\) after [0-9.]+ s \(threshold 1, deadline 3 s\): deadline passed, 1 connection\(s\) still open' \
    "$work/run2.out"
pid2=$(cat "$work/main/sock/main.pid")
[[ $pid2 != "$pid1" ]]
$check sent --log "$work/main/logs/sim_commands.jsonl" --since "$mark" --pid "$pid1" \
    --expect reject "reconnect:127.0.0.1,$backup_port" shutdown
$check sent --log "$work/main/logs/sim_commands.jsonl" --since "$mark" --pid "$pid2" --expect accept
$check marker --file "$work/marker.json" --running false --drained false
# ---- a start that leaves the pool serving no miner: the gate fails, accept is never sent -------------
rm -f "$work/marker.json"
mark=$($check mark --log "$work/main/logs/sim_commands.jsonl")
set +e
play -e "maintenance_target=127.0.0.1:$backup_port" -e "maintenance_tasks=$here/maintain.yml" \
    -e "maintenance_start_tasks=$here/start_sim_rejecting.yml" -e maintenance_drain_timeout=1 \
    -e maintenance_start_timeout=3 -e healthcheck_stratum_timeout=1 > "$work/run3.out" 2>&1
rc=$?
set -e
cat "$work/run3.out"
[[ $rc -ne 0 ]]
grep -F 'fails stratum_subscribe' "$work/run3.out"
pid3=$(cat "$work/main/sock/main.pid")
[[ $pid3 != "$pid2" ]]
$check sent --log "$work/main/logs/sim_commands.jsonl" --since "$mark" --pid "$pid3" --expect reject
echo "maintenance_playbook: all checks passed"
