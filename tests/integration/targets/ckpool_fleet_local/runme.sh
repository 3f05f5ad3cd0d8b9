#!/usr/bin/env bash
# The fleet playbooks on localhost: four simulated pools as four inventory hosts (local
# connection), the real playbooks ckpool.fleet.healthcheck and ckpool.fleet.rolling_restart
# run by ansible-playbook, and the install role against a stand-in ckpool source tree.
# Proven here:
#   - healthcheck: healthy fleet -> exit 0, table, JSON report, valid Prometheus textfile;
#     one hung pool -> exit != 0, report names the host and the failing check; a pool that rejects
#     miners (pings and TCP connects succeed) fails its stratum_subscribe check;
#   - rolling restart in check mode: exit 0, no pid changed, the simulators received only ping;
#   - rolling restart with a canary and 2 hosts per batch: every pid changed, 0 refused stratum connects;
#   - a host made unhealthy right after its restart halts the rollout: exit != 0, later hosts keep
#     their pid, the report names the host and the failing check;
#   - a host unhealthy before the rollout: preflight fails, no host is touched; the role without its
#     preflight refuses to touch a host;
#   - install role: check mode clean, build, re-run changes nothing, a failing build leaves no stamp.
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
hosts=(pool1 pool2 pool3 pool4)

work=$(mktemp -d /tmp/ckpool_fleet_local.XXXXXX)
pgids=()
bg=()
cleanup() {
    local rc=$? p h
    if ((rc)); then   # what the simulated pools logged, before it is removed (a failed handover says why here)
        for h in "${hosts[@]}"; do
            echo "--- $h: the last lines of its log"
            tail -n 25 "$work/$h/logs/$h.log" 2>/dev/null || true
        done
    fi
    for p in "${bg[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pgids[@]}"; do
        kill -CONT -- "-$p" 2>/dev/null || true
        kill -- "-$p" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# -- four simulated pools -------------------------------------------------------------------------
# A base below the kernel's ephemeral range (32768+) whose next four ports are free right now.
port=$("$py" - <<'PY'
import random, socket
for _ in range(200):
    base = random.randrange(20000, 32000)
    socks = []
    try:
        for n in range(1, 5):
            s = socket.socket()
            s.bind(('127.0.0.1', base + n))
            socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    break
else:
    raise SystemExit('no four free consecutive ports found')
PY
)
for i in 1 2 3 4; do
    h=pool$i
    mkdir -p "$work/$h"
    printf '{"btcd": [{"url": "127.0.0.1:8332", "auth": "u", "pass": "p"}], "logdir": "%s/%s/logs", "serverurl": ["127.0.0.1:%d"]}' \
        "$work" "$h" $(( port + i )) > "$work/$h/ckpool.conf"
    pgids+=("$(cd "$work/$h" && "$py" "$sim" -c ckpool.conf -n "$h" -s "$work/$h/sock" --sim-users 2 \
        --sim-status-interval 5 --sim-zero-first-status --sim-daemon)")
done
for h in "${hosts[@]}"; do
    for _ in $(seq 100); do [[ -s $work/$h/logs/pool/pool.status ]] && break; sleep 0.1; done
done

cat > "$work/inventory.yml" <<INV
ckpool:
  hosts:
    pool1: {n: 1}
    pool2: {n: 2}
    pool3: {n: 3}
    pool4: {n: 4}
  vars:
    ansible_connection: local
    ansible_python_interpreter: $py
    healthcheck_instances:
      - name: main
        socket_dir: "$work/pool{{ n }}/sock"
        log_dir: "$work/pool{{ n }}/logs"
        stratum_port: "{{ $port + n }}"
    healthcheck_timeout: 1.0
    # the simulators rewrite pool.status every 5 s (ckpool: 60 s); right after a restart the worker
    # minimum is not judged until the new process's first update
    healthcheck_status_interval: 5
    healthcheck_min_workers: 2
    healthcheck_textfile_dir: "$work/textfile/{{ inventory_hostname }}"
    healthcheck_textfile_per_user: true
    healthcheck_report_path: "$work/health.json"
    rolling_restart_report_path: "$work/rolling.json"
    rolling_restart_gate_readings: 2
    rolling_restart_gate_interval: 1
    rolling_restart_gate_retries: 3
    rolling_restart_gate_delay: 1
    rolling_restart_wait_timeout: 10
INV
ap() { ansible-playbook -i "$work/inventory.yml" "$@"; }
pids() { local h; for h in "${hosts[@]}"; do printf '%s=%s ' "$h" "$(cat "$work/$h/sock/main.pid")"; done; }
pid_of() { cat "$work/$1/sock/main.pid"; }
json() { "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

# -- healthcheck: healthy fleet ---------------------------------------------------------------------
ap ckpool.fleet.healthcheck | tee "$work/hc1.out"
grep -E 'HOST +INSTANCE +HEALTH +HASHRATE +WORKERS +STATUS AGE +FAILING CHECKS' "$work/hc1.out"
grep -F '4 of 4 instance(s) healthy' "$work/hc1.out"
[[ $(json "$work/health.json" "d['healthy'] and len(d['instances']) == 4") == True ]]
for h in "${hosts[@]}"; do
    "$py" "$here/check_prom.py" "$work/textfile/$h/ckpool.prom" main --per-user
    # nothing but the metrics file is left in the textfile directory (temporary file renamed away)
    [[ $(ls -A "$work/textfile/$h") == ckpool.prom ]]
done

# -- healthcheck: one hung pool -> non-zero exit, report names host and check -------------------------
kill -STOP "$(pid_of pool3)"
set +e
ap ckpool.fleet.healthcheck > "$work/hc2.out" 2>&1
rc=$?
set -e
kill -CONT "$(pid_of pool3)"
cat "$work/hc2.out"
[[ $rc -ne 0 ]]
grep -E 'pool3 +main +UNHEALTHY .*listener_ping' "$work/hc2.out"
grep -F 'UNHEALTHY: pool3' "$work/hc2.out"
[[ $(json "$work/health.json" "d['unhealthy_hosts']") == "['pool3']" ]]
[[ $(json "$work/health.json" "[r['failing'] for r in d['instances'] if r['host'] == 'pool3'][0][:2]") == "['listener_ping', 'stratifier_ping']" ]]

# -- healthcheck: a pool that rejects miners answers ping and accepts TCP, but serves nobody -----------------
listener() {  # listener SOCKDIR COMMAND: send one command, print the reply
    "$py" - "$1/listener" "$2" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])
s.sendall(struct.pack('<I', len(sys.argv[2])) + sys.argv[2].encode())
s.shutdown(socket.SHUT_WR)
data = s.recv(4096)
print(data[4:4 + struct.unpack('<I', data[:4])[0]].decode() if len(data) >= 4 else '')
PY
}
[[ $(listener "$work/pool1/sock" reject) == rejecting ]]
set +e
ap ckpool.fleet.healthcheck -e healthcheck_stratum_timeout=1 > "$work/hc3.out" 2>&1
rc=$?
set -e
[[ $(listener "$work/pool1/sock" accept) == accepting ]]
cat "$work/hc3.out"
[[ $rc -ne 0 ]]
grep -E 'pool1 +main +UNHEALTHY .* stratum_subscribe' "$work/hc3.out"
[[ $(json "$work/health.json" "[r['failing'] for r in d['instances'] if r['host'] == 'pool1'][0]") == "['stratum_subscribe']" ]]

# -- rolling restart, check mode: nothing restarted, only ping sent -------------------------------------
before=$(pids)
declare -A loglen
for h in "${hosts[@]}"; do loglen[$h]=$(wc -l < "$work/$h/logs/sim_commands.jsonl"); done
ap ckpool.fleet.rolling_restart --check
[[ $(pids) == "$before" ]]
for h in "${hosts[@]}"; do
    tail -n +"$(( ${loglen[$h]} + 1 ))" "$work/$h/logs/sim_commands.jsonl" > "$work/$h.check.jsonl"
    [[ -s $work/$h.check.jsonl ]]   # the gates did read the pool
    "$py" - "$work/$h.check.jsonl" <<'PY'
import json, sys
commands = {json.loads(line)['command'] for line in open(sys.argv[1]) if line.strip()}
assert commands == {'ping'}, 'check mode sent %s' % sorted(commands)
PY
done
[[ $(json "$work/rolling.json" "d['check_mode'], d['status']") == "(True, 'complete')" ]]

# -- rolling restart with a canary, then 2 hosts per batch: every pid changes, 0 refused stratum connects ----
before=$(pids)
targets=()
for i in 1 2 3 4; do targets+=("127.0.0.1:$(( port + i ))"); done
"$py" "$here/probe.py" "$work/probe.json" "$work/probe.stop" "${targets[@]}" &
bg+=($!)
ap ckpool.fleet.rolling_restart -e rolling_restart_canary=true -e rolling_restart_canary_soak=1 \
    -e rolling_restart_serial=2 | tee "$work/rr.out"
touch "$work/probe.stop"
wait "${bg[-1]}"
cat "$work/probe.json"
[[ $(json "$work/probe.json" "d['refused'], d['other_errors'], d['attempts'] > 100") == "(0, 0, True)" ]]
after=$(pids)
for h in "${hosts[@]}"; do
    old=$(tr ' ' '\n' <<< "$before" | sed -n "s/^$h=//p")
    new=$(tr ' ' '\n' <<< "$after" | sed -n "s/^$h=//p")
    [[ $old != "$new" ]]
    [[ $(json "$work/rolling.json" "d['results']['$h']['main']['old_pid'], d['results']['$h']['main']['new_pid']") == "($old, $new)" ]]
done
[[ $(json "$work/rolling.json" "d['status'], d['restarted']") == "('complete', ['pool1', 'pool2', 'pool3', 'pool4'])" ]]
# the canary (pool1) ran alone and was read again after its soak; then pool2+pool3 together, then pool4
[[ $(grep -c '^PLAY \[Rolling restart\]' "$work/rr.out") == 3 ]]
grep -A3 'TASK \[ckpool.fleet.rolling_restart : Canary' "$work/rr.out" | grep -E '^ok: \[pool1\]'
[[ $(grep -A8 'TASK \[ckpool.fleet.rolling_restart : Pre-gate, handover' "$work/rr.out" | grep -cE '^changed: \[pool[23]\]') -ge 2 ]]

# -- a host made unhealthy right after its restart halts the rollout ------------------------------------------
before=$(pids)
# (0.3 s after the new process answers: between the post-gate's two readings, 1 s apart)
"$py" "$here/sabotage.py" "$work/pool2/sock" "$(pid_of pool2)" "$work/stopped.pid" 300 0.3 &
bg+=($!)
set +e
ap ckpool.fleet.rolling_restart > "$work/rr_fail.out" 2>&1
rc=$?
set -e
cat "$work/rr_fail.out"
wait "${bg[-1]}"
stopped=$(cat "$work/stopped.pid")
kill -CONT "$stopped"
[[ $rc -ne 0 ]]
after=$(pids)
b() { tr ' ' '\n' <<< "$before" | sed -n "s/^$1=//p"; }
a() { tr ' ' '\n' <<< "$after" | sed -n "s/^$1=//p"; }
[[ $(b pool1) != "$(a pool1)" ]]      # restarted before the failure
[[ $(a pool2) == "$stopped" ]]        # restarted, then made unhealthy
[[ $(b pool3) == "$(a pool3)" ]]      # never touched
[[ $(b pool4) == "$(a pool4)" ]]      # never touched
grep -F 'rolling restart stopped at pool2' "$work/rr_fail.out"
[[ $(json "$work/rolling.json" "d['status'], d['failed_host'], d['restarted'], d['not_touched']") \
    == "('failed', 'pool2', ['pool1'], ['pool3', 'pool4'])" ]]
json "$work/rolling.json" "d['failed_message']" | grep -E 'pool2|listener|deadline|answer'
[[ $(json "$work/rolling.json" "'listener_ping' in [c['name'] for c in d['failing_checks']['main']]") == True ]]
# the unhealthy host is reported by the healthcheck once it answers again
ap ckpool.fleet.healthcheck > /dev/null

# -- preflight: one unhealthy host, nothing is touched ------------------------------------------------------
before=$(pids)
kill -STOP "$(pid_of pool4)"
set +e
ap ckpool.fleet.rolling_restart > "$work/rr_pre.out" 2>&1
rc=$?
set -e
kill -CONT "$(pid_of pool4)"
cat "$work/rr_pre.out"
[[ $rc -ne 0 ]]
[[ $(pids) == "$before" ]]
grep -F 'preflight: pool4 is unhealthy' "$work/rr_pre.out"
grep -F 'TASK [ckpool.fleet.rolling_restart : Preflight - read every instance of this host]' "$work/rr_pre.out"
if grep -F 'TASK [ckpool.fleet.rolling_restart : Pre-gate, handover and post-gate' "$work/rr_pre.out"; then
    echo "a restart task ran although the preflight failed"; exit 1
fi

# -- the main entry point without its preflight: refused, nothing touched ------------------------------------
before=$(pids)
cat > "$work/no_preflight.yml" <<'PLAY'
- name: Rolling restart without the preflight play
  hosts: pool1
  gather_facts: false
  roles:
    - role: ckpool.fleet.rolling_restart
PLAY
set +e
ap "$work/no_preflight.yml" > "$work/rr_nopre.out" 2>&1
rc=$?
set -e
cat "$work/rr_nopre.out"
[[ $rc -ne 0 ]]
grep -F 'pool1 has not passed the rolling restart preflight' "$work/rr_nopre.out"
[[ $(pids) == "$before" ]]

# -- install role against the stand-in source tree -----------------------------------------------------------
"$py" "$coll/tests/fixtures/ckpool_standin/make_standin.py" "$work/standin" > /dev/null
inst() { ansible-playbook -i localhost, -c local -e "ansible_python_interpreter=$py" -e "root=$work/install" \
    -e "git_url=$work/standin/repo" "$here/install.yml" "$@"; }
recap() { grep -E '^localhost +: ' "$1"; }
# check mode on a fresh host: runs clean, creates nothing
inst --check -e install_version=v1 | tee "$work/i0.out"
recap "$work/i0.out" | grep -E 'failed=0'
[[ ! -e $work/install/bin/ckpool && ! -e $work/install/etc ]]
# install v1
inst -e install_version=v1 | tee "$work/i1.out"
recap "$work/i1.out" | grep -E 'failed=0'
grep -F "STANDIN_VERSION = 'standin-v1'" "$work/install/bin/ckpool"
[[ -x $work/install/bin/ckpmsg && -x $work/install/bin/notifier && -f $work/install/libexec/ckpool-supervise ]]
[[ $(stat -c %a "$work/install/etc/main.conf") == 640 ]]
"$py" -c "import json,sys; c=json.load(open(sys.argv[1])); assert c['logdir'] == sys.argv[2] + '/log/main' and c['btcd'][0]['pass'] == 'secret-rpc-password'" \
    "$work/install/etc/main.conf" "$work/install"
grep -F -- "-s /run/ckpool/main" "$work/install/systemd/ckpool-main.service"
grep -F -- "-n solo -c $work/install/etc/solo.conf -s /run/ckpool/solo -B" "$work/install/systemd/ckpool-solo.service"
# the bitcoind password never reaches the output
if grep -F 'secret-rpc-password' "$work/i1.out"; then echo "the password reached the output"; exit 1; fi
# re-run: nothing changes, no rebuild
inst -e install_version=v1 | tee "$work/i2.out"
recap "$work/i2.out" | grep -E 'changed=0 .*failed=0'
if grep -A2 -F 'TASK [ckpool.fleet.install : Run make]' "$work/i2.out" | grep -qE '^(changed|ok):'; then
    echo "rebuilt although the version was built"; exit 1
fi
# a failing build fails the play and leaves no stamp (so it is retried), the installed binaries stay
set +e
inst -e install_version=broken > "$work/i4.out" 2>&1
rc=$?
set -e
cat "$work/i4.out"
[[ $rc -ne 0 ]]
[[ ! -e $work/install/src/ckpool-broken/.ckpool-fleet-built ]]
grep -F "STANDIN_VERSION = 'standin-v1'" "$work/install/bin/ckpool"
set +e
inst -e install_version=broken > "$work/i5.out" 2>&1
rc=$?
set -e
[[ $rc -ne 0 ]]
grep -F 'stand-in build failure' "$work/i5.out"     # retried, not skipped
# upgrade to v2: rebuilt, binaries replaced
inst -e install_version=v2 | tee "$work/i6.out"
recap "$work/i6.out" | grep -E 'failed=0'
grep -F "STANDIN_VERSION = 'standin-v2'" "$work/install/bin/ckpool"
# a pinned short commit id (the role's default install_version is one) checks out that commit
short=$("$py" -c "import json; print(json.load(open('$work/standin/standin.json'))['v1']['commit'][:8])")
inst -e "install_version=$short" | tee "$work/i6b.out"
recap "$work/i6b.out" | grep -E 'failed=0'
grep -F "STANDIN_VERSION = 'standin-v1'" "$work/install/bin/ckpool"
# archive source verified by sha256; a wrong checksum refuses to build
sha=$("$py" -c "import json; print(json.load(open('$work/standin/standin.json'))['archive_sha256'])")
inst -e install_version=arch-v1 -e install_source=archive -e "install_archive_src=$work/standin/ckpool-standin-v1.tar.gz" \
    -e "install_archive_sha256=$sha" | tee "$work/i7.out"
recap "$work/i7.out" | grep -E 'failed=0'
grep -F "STANDIN_VERSION = 'standin-v1'" "$work/install/bin/ckpool"
bad=$(printf '%s' "$sha" | tr '0-9a-f' '1-9a-f0')
set +e
inst -e install_version=arch-bad -e install_source=archive -e "install_archive_src=$work/standin/ckpool-standin-v1.tar.gz" \
    -e "install_archive_sha256=$bad" > "$work/i8.out" 2>&1
rc=$?
set -e
[[ $rc -ne 0 ]]
grep -F 'refusing to build it' "$work/i8.out"
[[ ! -e $work/install/src/ckpool-arch-bad/Makefile ]]
# bad input: preflight asserts
set +e
inst -e install_version=v1 -e '{"install_instances": [{"name": "Bad Name!"}]}' > "$work/i9.out" 2>&1
rc=$?
set -e
[[ $rc -ne 0 ]]
grep -F 'install_instances must be a list' "$work/i9.out"
