#!/usr/bin/env bash
# The fleet over real SSH and real systemd: four test-bed hosts (tests/testbed/testbed.sh,
# network namespaces with sshd and systemd as PID 1), the stand-in ckpool source tree
# (tests/fixtures/ckpool_standin: the simulator built as "ckpool"), and the real playbooks.
# Proven here:
#   - install -> healthcheck -> rolling restart (handover) across 4 hosts; re-running install
#     changes nothing; the units survive every handover (same supervisor MainPID, NRestarts 0);
#   - 0 refused stratum connections (probed from the controller over the bridge) during the
#     handover rollout;
#   - check mode across the installed fleet (install + rolling restart) changes nothing and the
#     pools receive nothing but ping (check mode on a fresh host: ckpool_fleet_local);
#   - a host made unhealthy right after its restart halts the rollout: later hosts keep their
#     pid, the play exits non-zero, the report names the host and the failing check;
#   - a config change with install_restart_on_change restarts by handover; systemctl stop and
#     start still work after handovers; the service strategy restarts through systemd (new MainPID);
#   - teardown leaves no namespace, veth, bridge or process (testbed.sh down verifies, and so do we).
set -eux

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
coll=
IFS=: read -r -a paths <<< "${ANSIBLE_COLLECTIONS_PATH:-}"
for p in "${paths[@]}" "$here/../../../../../.."; do
    if [[ -f $p/ansible_collections/ckpool/fleet/tests/testbed/testbed.sh ]]; then
        coll=$(cd "$p/ansible_collections/ckpool/fleet" && pwd)
        break
    fi
done
[[ -n $coll ]] || { echo "cannot find the ckpool.fleet collection"; exit 1; }
py=${ANSIBLE_TEST_PYTHON_INTERPRETER:-$(command -v python3)}
tb=$coll/tests/testbed/testbed.sh
prefix=cf$(( RANDOM % 100000 ))
hosts=(pool01 pool02 pool03 pool04)

work=$(mktemp -d /tmp/ckpool_fleet_testbed.XXXXXX)
bg=()
stopped=
finish() {
    local rc=$? p
    set +e
    for p in "${bg[@]}"; do kill "$p" 2>/dev/null; done
    [[ -n $stopped ]] && "$tb" --prefix "$prefix" exec pool02 -- kill -CONT "$stopped"
    if ! "$tb" --prefix "$prefix" down; then
        echo "FAIL: testbed teardown left something behind"; rc=1
    fi
    if ip netns list | grep -q "^$prefix-"; then echo "FAIL: namespaces left"; rc=1; fi
    if ip -o link show | grep -q " $prefix-"; then echo "FAIL: links left"; rc=1; fi
    rm -rf "$work"
    exit "$rc"
}
trap finish EXIT

cp "$coll/tests/integration/targets/ckpool_fleet_local/sabotage.py" "$coll/tests/integration/targets/ckpool_fleet_local/probe.py" "$work/"
"$py" "$coll/tests/fixtures/ckpool_standin/make_standin.py" "$work/standin" > /dev/null
"$tb" --prefix "$prefix" up 4 --systemd --bind "$work"
state=/tmp/ckpool-testbed-$prefix
export ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_PIPELINING=True ANSIBLE_FORKS=4
ap() {
    ansible-playbook -i "$state/inventory.ini" -i "$here/fleet_vars.yml" -e "install_git_url=$work/standin/repo" \
        -e "healthcheck_report_path=$work/health.json" -e "rolling_restart_report_path=$work/rolling.json" "$@"
}
on() { local h=$1; shift; "$tb" --prefix "$prefix" exec "$h" -- "$@"; }
pid_of() { on "$1" cat /run/ckpool/main/main.pid; }
pids() { local h; for h in "${hosts[@]}"; do printf '%s=%s ' "$h" "$(pid_of "$h")"; done; }
unit() { on "$1" systemctl show -p "$2" --value ckpool-main.service; }
json() { "$py" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
allzero() { [[ $(grep -cE '^pool0[1-4] +: .*changed=0 .*failed=0' "$1") == 4 ]]; }
addr() { "$py" -c "import json,sys; print([h['address'] for h in json.load(open(sys.argv[1]))['hosts'] if h['name'] == sys.argv[2]][0])" "$state/hosts.json" "$1"; }

# -- install: build, units, services up -------------------------------------------------------------------------
ap ckpool.fleet.install | tee "$work/i1.out"
if grep -F 'secret-rpc-password' "$work/i1.out"; then echo "the password reached the output"; exit 1; fi
for h in "${hosts[@]}"; do
    [[ $(on "$h" systemctl is-active ckpool-main.service) == active ]]
    [[ $(on "$h" stat -c '%a %U:%G' /etc/ckpool/main.conf) == '640 root:ckpool' ]]
    on "$h" test -S /run/ckpool/main/listener
    [[ $(on "$h" stat -c %U "/proc/$(pid_of "$h")") == ckpool ]]
done
# -- install again: nothing changes ---------------------------------------------------------------------------
ap ckpool.fleet.install | tee "$work/i2.out"
allzero "$work/i2.out"
# -- install in check mode on installed hosts: nothing to change, nothing changed -------------------------------
ap ckpool.fleet.install --check | tee "$work/i3.out"
allzero "$work/i3.out"

# -- healthcheck: all healthy --------------------------------------------------------------------------------
ap ckpool.fleet.healthcheck | tee "$work/hc.out"
grep -F '4 of 4 instance(s) healthy' "$work/hc.out"
[[ $(json "$work/health.json" "d['healthy']") == True ]]

declare -A sup
for h in "${hosts[@]}"; do sup[$h]=$(unit "$h" MainPID); [[ $(unit "$h" NRestarts) == 0 ]]; done

# -- rolling restart in check mode: nothing restarted, only ping received ---------------------------------------
before=$(pids)
declare -A loglen
for h in "${hosts[@]}"; do loglen[$h]=$(on "$h" sh -c 'wc -l < /var/log/ckpool/main/sim_commands.jsonl'); done
ap ckpool.fleet.rolling_restart --check -e rolling_restart_serial=4 | tee "$work/rc.out"
[[ $(pids) == "$before" ]]
for h in "${hosts[@]}"; do
    on "$h" sh -c "tail -n +$(( ${loglen[$h]} + 1 )) /var/log/ckpool/main/sim_commands.jsonl" > "$work/$h.check.jsonl"
    [[ -s $work/$h.check.jsonl ]]
    "$py" -c "
import json, sys
commands = {json.loads(l)['command'] for l in open(sys.argv[1]) if l.strip()}
assert commands == {'ping'}, 'check mode sent %s' % sorted(commands)" "$work/$h.check.jsonl"
done

# -- rolling restart by handover, 0 refused stratum connects ------------------------------------------------------
before=$(pids)
targets=()
for h in "${hosts[@]}"; do targets+=("$(addr "$h"):3333"); done
"$py" "$work/probe.py" "$work/probe.json" "$work/probe.stop" "${targets[@]}" &
bg+=($!)
ap ckpool.fleet.rolling_restart | tee "$work/rr.out"
touch "$work/probe.stop"
wait "${bg[-1]}"
cat "$work/probe.json"
[[ $(json "$work/probe.json" "d['refused'], d['other_errors'], d['attempts'] > 100") == "(0, 0, True)" ]]
after=$(pids)
b() { tr ' ' '\n' <<< "$before" | sed -n "s/^$1=//p"; }
a() { tr ' ' '\n' <<< "$after" | sed -n "s/^$1=//p"; }
for h in "${hosts[@]}"; do
    [[ $(b "$h") != "$(a "$h")" ]]
    # the unit survived the handover: same supervisor, active, never restarted from scratch
    [[ $(unit "$h" MainPID) == "${sup[$h]}" && $(unit "$h" ActiveState) == active && $(unit "$h" NRestarts) == 0 ]]
    unit "$h" StatusText | grep -F "ckpool pid $(a "$h") (after handover)"
done
[[ $(json "$work/rolling.json" "d['status'], len(d['restarted'])") == "('complete', 4)" ]]

# -- a host made unhealthy right after its restart halts the rollout -------------------------------------------------
before=$(pids)
# (0.3 s after the new process answers: between the post-gate's two readings, 1 s apart)
on pool02 "$py" "$work/sabotage.py" /run/ckpool/main "$(pid_of pool02)" "$work/stopped.pid" 300 0.3 &
bg+=($!)
set +e
ap ckpool.fleet.rolling_restart > "$work/rf.out" 2>&1
rc=$?
set -e
cat "$work/rf.out"
wait "${bg[-1]}"
stopped=$(cat "$work/stopped.pid")
[[ $rc -ne 0 ]]
after=$(pids)
[[ $(b pool01) != "$(a pool01)" ]]
[[ $(a pool02) == "$stopped" ]]
[[ $(b pool03) == "$(a pool03)" ]]
[[ $(b pool04) == "$(a pool04)" ]]
grep -F 'rolling restart stopped at pool02' "$work/rf.out"
[[ $(json "$work/rolling.json" "d['status'], d['failed_host'], d['restarted'], d['not_touched']") \
    == "('failed', 'pool02', ['pool01'], ['pool03', 'pool04'])" ]]
[[ $(json "$work/rolling.json" "'listener_ping' in [c['name'] for c in d['failing_checks']['main']]") == True ]]
json "$work/rolling.json" "d['failed_message']"
on pool02 kill -CONT "$stopped"
stopped=

# -- config change + install_restart_on_change: restarted by handover, unit untouched -----------------------------------
old=$(pid_of pool01)
ap ckpool.fleet.install --limit pool01 -e install_restart_on_change=true \
    -e '{"install_config_defaults": {"mindiff": 2, "startdiff": 42, "maxdiff": 0}}' | tee "$work/i4.out"
grep -F 'Restart changed instances by handover' "$work/i4.out"
[[ $(pid_of pool01) != "$old" && $(unit pool01 MainPID) == "${sup[pool01]}" ]]
on pool01 grep -F '"mindiff": 2' /etc/ckpool/main.conf

# -- service strategy (one host, to keep the run short) ---------------------------------------------------------------
before=$(pids)
ap ckpool.fleet.rolling_restart --limit pool04 -e rolling_restart_strategy=service | tee "$work/rs.out"
after=$(pids)
h=pool04
[[ $(b "$h") != "$(a "$h")" && $(unit "$h" MainPID) != "${sup[$h]}" && $(unit "$h" ActiveState) == active ]]

# -- stop and start still work after handovers --------------------------------------------------------------------------
on pool01 systemctl stop ckpool-main.service
[[ $(on pool01 systemctl is-active ckpool-main.service || true) == inactive ]]
if on pool01 pgrep -u ckpool; then echo "a ckpool process survived systemctl stop"; exit 1; fi
on pool01 systemctl start ckpool-main.service
[[ $(on pool01 systemctl is-active ckpool-main.service) == active ]]
on pool01 test -s /run/ckpool/main/main.pid
