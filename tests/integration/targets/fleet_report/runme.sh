#!/usr/bin/env bash
# Integration test of playbooks/fleet_report.yml and the fleet_summary filter, end to end:
# starts simulated pools (two healthy instances on one host, hung, stale, stopped) plus an unreachable
# host, runs the real
# playbook (ckpool.fleet.fleet_report) with ansible-playbook, then renders the HTML report in headless
# Debian Chromium and checks the rendered content (check_report.py).
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
py=${ANSIBLE_TEST_PYTHON_INTERPRETER:-$(command -v python3)}
command -v chromium >/dev/null || { echo "Debian chromium is required (apt-get install chromium)"; exit 1; }

work=$(mktemp -d /tmp/fleet_report.XXXXXX)
pids=()
cleanup() {
    local pid _
    for pid in "${pids[@]}"; do
        kill -CONT "$pid" 2>/dev/null || true
        kill "$pid" 2>/dev/null || true
    done
    # TERM, then KILL whatever of ours did not exit within 5 s (only the pids this test started)
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "simulator $pid ignored SIGTERM, killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT

# start_pool NAME USERS WORKERS_PER_USER: a simulated ckpool with its own socket and log directory.
# --sim-status-interval 600: pool.status and users/* are written 1 s after start and then not again
# during the test, so the checker can compare the report with the files.
start_pool() {
    local name=$1 users=$2 wpu=$3 pid
    mkdir -p "$work/$name"
    printf '{"logdir": "%s/%s/logs", "serverurl": "127.0.0.1:0"}' "$work" "$name" > "$work/$name/ckpool.conf"
    pid=$(cd "$work/$name" && "$py" "$sim" -c ckpool.conf -s "$work/$name/sock" --sim-users "$users" \
        --sim-workers-per-user "$wpu" --sim-status-interval 600 --sim-stratum-port 0 --sim-daemon)
    pids+=("$pid")
    echo "$pid" > "$work/$name/sim.pid"
}

start_pool pool-a 4 2
start_pool pool-b 6 1
start_pool pool-hung 3 1
start_pool pool-stale 2 1
start_pool pool-stopped 2 1

# Wait until every pool wrote its status and user files (1 s after start): the simulator logs its "Pool:"
# copies of pool.status after the last users/ file is written.
for name in pool-a pool-b pool-hung pool-stale pool-stopped; do
    for _ in $(seq 100); do
        grep -qF '] Pool:{"diff"' "$work/$name/logs/ckpool.log" 2>/dev/null && break
        sleep 0.1
    done
    grep -qF '] Pool:{"diff"' "$work/$name/logs/ckpool.log"
    [[ -s $work/$name/logs/pool/pool.status ]]
done

# A miner-chosen user name that is HTML: it must show up as text, never as markup.
evil='<img src=x onerror=alert(1)>'
sed -e 's/"hashrate5m": "[^"]*"/"hashrate5m": "9.99E"/' "$work/pool-a/logs/users/user0001" \
    > "$work/pool-a/logs/users/$evil"

# pool-stopped: the process is gone (SIGTERM), its socket files, main.pid and status files stay.
kill "$(cat "$work/pool-stopped/sim.pid")"
for _ in $(seq 50); do kill -0 "$(cat "$work/pool-stopped/sim.pid")" 2>/dev/null || break; sleep 0.1; done
# pool-hung: alive but frozen (SIGSTOP), so its sockets never answer.
kill -STOP "$(cat "$work/pool-hung/sim.pid")"

cat > "$work/inventory.yml" <<INV
ckpool:
  vars:
    ansible_connection: local
    ansible_python_interpreter: $py
    ckpool_timeout: 1
  hosts:
INV
# edge: one host running two instances (pool-a, pool-b), reported as edge/a and edge/b.
cat >> "$work/inventory.yml" <<INV
    edge:
      fleet_report_instances:
        - {name: a, socket_dir: $work/pool-a/sock, log_dir: $work/pool-a/logs}
        - {name: b, socket_dir: $work/pool-b/sock, log_dir: $work/pool-b/logs}
INV
for name in pool-hung pool-stale pool-stopped; do
    extra=
    # pool-stale: its pool.status is a few seconds old and this host allows 1 s.
    [[ $name == pool-stale ]] && extra='fleet_report_stale_after: 1, '
    printf '    %s: {%sckpool_socket_dir: %s, ckpool_log_dir: %s}\n' "$name" "$extra" "$work/$name/sock" \
        "$work/$name/logs" >> "$work/inventory.yml"
done
# pool-down: nothing listens on 127.0.0.1:1, so Ansible cannot reach it.
cat >> "$work/inventory.yml" <<INV
    pool-down:
      ansible_connection: ssh
      ansible_host: 127.0.0.1
      ansible_port: 1
      ansible_ssh_common_args: -o ConnectTimeout=3 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
INV
sleep 1.5  # make pool-stale's status older than its 1 s limit

# History: seven earlier runs over six hours (check_report.py --seed); this run keeps the last 6 of 8.
mkdir -p "$work/out"
"$py" "$here/check_report.py" --seed "$work/seed-history.json"
cp "$work/seed-history.json" "$work/out/fleet-history.json"

ansible-playbook -i "$work/inventory.yml" ckpool.fleet.fleet_report \
    -e "fleet_report_dir=$work/out" -e fleet_report_title=integration-fleet -e fleet_report_top_users=10 \
    -e fleet_report_history=6 | tee "$work/playbook.out"

# The play itself succeeds: broken pools are reported, not fatal.
grep -q 'FLEET (3 counted)' "$work/playbook.out"
grep -q "Fleet report: $work/out/fleet.html" "$work/playbook.out"

"$py" "$here/check_report.py" --work "$work" --evil "$evil"
if [[ -n ${FLEET_REPORT_ARTIFACTS:-} ]]; then
    mkdir -p "$FLEET_REPORT_ARTIFACTS" && cp -a "$work/out/." "$FLEET_REPORT_ARTIFACTS/"
fi

# The same report under mitogen (strategy mitogen_linear): same verdicts and totals. Its directory holds a
# damaged history: the report starts a new one and says so.
mkdir -p "$work/out-mitogen"
printf '{"format": 1, "runs": [{"t": 1' > "$work/out-mitogen/fleet-history.json"
mitogen_strategies=$("$py" -c 'import os, ansible_mitogen; print(os.path.join(os.path.dirname(ansible_mitogen.__file__), "plugins", "strategy"))') \
    || { echo "mitogen is required for the mitogen pass (pip install mitogen)"; exit 1; }
ANSIBLE_STRATEGY_PLUGINS=$mitogen_strategies ANSIBLE_STRATEGY=mitogen_linear \
    ansible-playbook -i "$work/inventory.yml" ckpool.fleet.fleet_report -e "fleet_report_dir=$work/out-mitogen" \
    -e fleet_report_top_users=10 | tee "$work/mitogen.out"
grep -q 'FLEET (3 counted)' "$work/mitogen.out"
"$py" - "$work/out/fleet.json" "$work/out-mitogen/fleet.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a['counts'] == b['counts'], (a['counts'], b['counts'])
assert [(h['host'], h['state'], h['counted']) for h in a['hosts']] == [(h['host'], h['state'], h['counted']) for h in b['hosts']]
assert a['totals']['hashrate'] == b['totals']['hashrate'] and a['users_total'] == b['users_total']
assert [u['name'] for u in a['users']] == [u['name'] for u in b['users']]
print('mitogen pass: same verdicts, totals and users as the default strategy')
PY
"$py" - "$work/out-mitogen/fleet-history.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
assert len(doc['runs']) == 1 and 'could not be read' in doc['note'], doc
print('damaged history: started again with this run (%s)' % doc['note'])
PY
grep -F 'id="history-note"' "$work/out-mitogen/fleet.html"

# The filter's hostvars form with the real HostVars object.
ansible-playbook -i "$work/inventory.yml" "$here/hostvars_form.yml"

# With fleet_report_fail_unhealthy the same fleet fails the play, after writing the report.
rm -f "$work/out/fleet.html"
if ansible-playbook -i "$work/inventory.yml" ckpool.fleet.fleet_report -e "fleet_report_dir=$work/out" \
        -e fleet_report_fail_unhealthy=true -e fleet_report_history=6 > "$work/fail.out" 2>&1; then
    cat "$work/fail.out"
    echo "fleet_report_fail_unhealthy=true did not fail the play"
    exit 1
fi
grep -q 'host(s) not healthy' "$work/fail.out"
grep -q 'pool-down' "$work/fail.out"
[[ -s $work/out/fleet.html ]]
# ... and its run is the newest of the 6 kept runs, after the first run's
"$py" - "$work/out/fleet-history.json" "$work/seed-history.json" <<'PY'
import json, sys
doc, seed = (json.load(open(p)) for p in sys.argv[1:3])
runs = doc['runs']
assert len(runs) == 6 and doc['dropped'] == 1, (len(runs), doc['dropped'])
assert runs[:4] == seed['runs'][-4:], 'the four newest seeded runs, unchanged'
assert seed['runs'][-1]['t'] < runs[4]['t'] < runs[5]['t'], [r['t'] for r in runs]
print('history: %d runs kept, the two newest from this test' % len(runs))
PY
echo "fleet_report: all checks passed"
