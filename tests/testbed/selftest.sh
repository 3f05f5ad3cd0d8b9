#!/usr/bin/env bash
# Self-test of the multi-host test bed (tests/testbed/testbed.sh), on real parts only:
#  1. 4 plain hosts and 2 --systemd hosts up at the same time (two prefixes);
#  2. ansible -m ansible.builtin.ping over SSH against all six;
#  3. hostnames all differ, /tmp is private per host, testbed.sh exec works;
#  4. on the systemd hosts: systemctl is-system-running == running, a unit started and
#     stopped (and a transient unit stopped) through ansible.builtin.systemd_service;
#  5. teardown, then ASSERT that no namespace, veth, bridge, cgroup, mount or process of
#     either bed is left;
#  6. timing of 20 plain hosts up / ansible ping / down (same leftover assertions).
# Exits non-zero on any failure.
#
#   tests/testbed/selftest.sh [--skip-20]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TB=$HERE/testbed.sh
VENV=${CKPOOL_FLEET_VENV:-/root/.cache/ckpool-fleet/venv}
ANSIBLE=$VENV/bin/ansible
PLAYBOOK=$VENV/bin/ansible-playbook
P_PLAIN=${SELFTEST_PREFIX:-st}p
P_SYSD=${SELFTEST_PREFIX:-st}s
P_20=${SELFTEST_PREFIX:-st}x
skip20=0
[ "${1:-}" = --skip-20 ] && skip20=1

failures=0
checks=0
ok() { checks=$((checks + 1)); printf 'ok   %s\n' "$*"; }
bad() { checks=$((checks + 1)); failures=$((failures + 1)); printf 'FAIL %s\n' "$*"; }
check() { # description command...
    local desc=$1
    shift
    if "$@"; then ok "$desc"; else bad "$desc"; fi
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

export ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_DEPRECATION_WARNINGS=False
export ANSIBLE_LOCAL_TEMP=${TMPDIR:-/tmp}/testbed-selftest-ansible-$$
# an inherited ANSIBLE_CONFIG could change forks/strategy under us
unset ANSIBLE_CONFIG

[ -x "$ANSIBLE" ] || { echo "FAIL no ansible at $ANSIBLE (set CKPOOL_FLEET_VENV)"; exit 1; }

cleanup() {
    local p
    for p in "$P_PLAIN" "$P_SYSD" "$P_20"; do
        "$TB" --prefix "$p" down >/dev/null 2>&1 || true
    done
    rm -rf "$ANSIBLE_LOCAL_TEMP"
}
trap cleanup EXIT

# Every pid that belongs to a bed while it is up: everything in its namespaces + its cgroup.
bed_pids() { # prefix
    local p=$1 ns cg=/sys/fs/cgroup/unified/ckpool-testbed-$1
    [ -d "$cg" ] || cg=/sys/fs/cgroup/ckpool-testbed-$1
    {
        for ns in $(ip netns list | awk '{print $1}' | grep "^$p-pool" || true); do
            ip netns pids "$ns"
        done
        if [ -d "$cg" ]; then
            find "$cg" -name cgroup.procs -exec cat {} +
        fi
    } | sort -un | while read -r pid; do
        # pid:starttime, so a pid reused after the teardown is not mistaken for a leftover
        st=$(start_time "$pid") && printf '%s:%s\n' "$pid" "$st"
    done
}

start_time() { # pid -> field 22 of /proc/pid/stat (after the parenthesised comm)
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    awk '{print $20}' <<<"$stat"
}

assert_gone() { # prefix "pid list" label
    local p=$1 pids=$2 label=$3 left=() pid
    check "$label: no netns '$p-*' left" test -z "$(ip netns list | grep "^$p-" || true)"
    check "$label: no veth '$p-v*' left" test -z "$(ip -o link show | awk -F': ' '{print $2}' | grep "^$p-v" || true)"
    check "$label: no bridge '$p-br' left" bash -c "! ip link show '$p-br' >/dev/null 2>&1"
    check "$label: no cgroup left" test ! -e "/sys/fs/cgroup/unified/ckpool-testbed-$p" -a ! -e "/sys/fs/cgroup/ckpool-testbed-$p"
    check "$label: no mount under the state dir" test -z "$(findmnt -rn -o TARGET | grep "ckpool-testbed-$p/" || true)"
    check "$label: no /run/netns entry" test -z "$(find /run/netns -maxdepth 1 -name "$p-*" 2>/dev/null)"
    check "$label: state dir removed" test ! -e "/tmp/ckpool-testbed-$p"
    # zombies are only waiting for the machine's PID 1 to reap them (it does so lazily)
    local entry st state
    for entry in $pids; do
        pid=${entry%%:*}
        st=$(start_time "$pid") || continue
        [ "$st" = "${entry#*:}" ] || continue
        state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $1}') || continue
        [ "$state" != Z ] || continue
        left+=("$pid($state):$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | cut -c1-80 || true)")
    done
    if [ ${#left[@]} -eq 0 ]; then
        ok "$label: none of the bed's $(wc -w <<<"$pids") processes is alive"
    else
        bad "$label: processes left: ${left[*]}"
    fi
    local strays
    strays=$(pgrep -af "ckpool-testbed-$p/" || true)
    check "$label: no process mentions the state dir" test -z "$strays"
}

t_all=$(now)
echo "== up: 4 plain hosts (prefix $P_PLAIN) and 2 systemd hosts (prefix $P_SYSD)"
t=$(now)
"$TB" --prefix "$P_PLAIN" down >/dev/null 2>&1 || true
"$TB" --prefix "$P_SYSD" down >/dev/null 2>&1 || true
"$TB" --prefix "$P_PLAIN" up 4 >/dev/null
t_up_plain=$(since "$t")
t=$(now)
"$TB" --prefix "$P_SYSD" up 2 --systemd >/dev/null
t_up_sysd=$(since "$t")
ok "up 4 plain in ${t_up_plain}s, up 2 systemd in ${t_up_sysd}s"
inv_plain=/tmp/ckpool-testbed-$P_PLAIN/inventory.ini
inv_sysd=/tmp/ckpool-testbed-$P_SYSD/inventory.ini
check "state files written" test -s "$inv_plain" -a -s "$inv_sysd" \
    -a -s "/tmp/ckpool-testbed-$P_PLAIN/hosts.json" -a -s "/tmp/ckpool-testbed-$P_PLAIN/id_ed25519"
check "hosts.json is valid JSON with 4 hosts and init pids" python3 -c '
import json, os, sys
d = json.load(open(sys.argv[1]))
h = d["hosts"]
assert len(h) == 4 and [x["name"] for x in h] == ["pool01", "pool02", "pool03", "pool04"], h
assert all(os.path.isdir("/proc/%d" % x["init_pid"]) for x in h)
assert len({x["address"] for x in h}) == 4
' "/tmp/ckpool-testbed-$P_PLAIN/hosts.json"
check "the two beds use different subnets" bash -c \
    "[ \"\$(cat /tmp/ckpool-testbed-$P_PLAIN/subnet)\" != \"\$(cat /tmp/ckpool-testbed-$P_SYSD/subnet)\" ]"

pids_plain=$(bed_pids "$P_PLAIN")
pids_sysd=$(bed_pids "$P_SYSD")

echo "== ansible ping over SSH"
# (one run per bed: both beds name their hosts pool01.., so their inventories cannot be merged)
t=$(now)
out=$("$ANSIBLE" -i "$inv_plain" all -m ansible.builtin.ping -f 4 2>&1) || true
out2=$("$ANSIBLE" -i "$inv_sysd" all -m ansible.builtin.ping -f 2 2>&1) || true
t_ping=$(since "$t")
out=$out$'\n'$out2
n_pong=$(grep -c '"ping": "pong"' <<<"$out" || true)
if [ "$n_pong" = 6 ]; then ok "ping: 6/6 pong in ${t_ping}s"; else bad "ping: $n_pong/6 pong"; printf '%s\n' "$out"; fi

echo "== identity and isolation"
names=$("$ANSIBLE" -i "$inv_plain" all -m ansible.builtin.command -a hostname -f 4 2>/dev/null \
    | awk '/CHANGED|SUCCESS/ {getline; print}' | sort)
check "4 plain hosts report 4 different hostnames ($(tr '\n' ' ' <<<"$names"))" \
    test "$(sort -u <<<"$names" | wc -l)" = 4
check "hostname inside pool03 is pool03 (exec)" \
    test "$("$TB" --prefix "$P_PLAIN" exec pool03 -- hostname)" = pool03
addr2=$(cat "/tmp/ckpool-testbed-$P_PLAIN/hosts/pool02/address")
check "exec runs in the host's network namespace ($addr2)" bash -c \
    "'$TB' --prefix '$P_PLAIN' exec pool02 -- ip -4 -o addr show eth0 | grep -qF ' $addr2/24 '"
"$TB" --prefix "$P_PLAIN" exec pool01 -- sh -c 'echo private >/tmp/selftest-marker'
check "/tmp is private: pool01 sees its file" "$TB" --prefix "$P_PLAIN" exec pool01 -- test -f /tmp/selftest-marker
check "/tmp is private: pool02 does not" bash -c "! '$TB' --prefix '$P_PLAIN' exec pool02 -- test -f /tmp/selftest-marker"
check "/tmp is private: the controller does not" test ! -e /tmp/selftest-marker
check "writes to /etc stay inside the host" bash -c \
    "'$TB' --prefix '$P_PLAIN' exec pool01 -- sh -c 'echo x >/etc/testbed-selftest' && [ ! -e /etc/testbed-selftest ]"
check "hosts reach each other over the bridge (pool01 -> pool04:22)" \
    "$TB" --prefix "$P_PLAIN" exec pool01 -- timeout 5 bash -c 'exec 3<>/dev/tcp/pool04/22'
check "ssh subcommand works" test "$("$TB" --prefix "$P_PLAIN" ssh pool04 hostname)" = pool04

echo "== real systemd on the --systemd hosts"
check "systemd hosts: PID 1 is systemd" test "$("$TB" --prefix "$P_SYSD" exec pool01 -- cat /proc/1/comm)" = systemd
check "systemd hosts: sshd runs as a unit" test "$("$TB" --prefix "$P_SYSD" exec pool02 -- systemctl is-active testbed-sshd.service)" = active
check "systemd hosts: the venv's python is usable inside" \
    "$TB" --prefix "$P_SYSD" exec pool01 -- "$VENV/bin/python" -c 'import ansible'
t=$(now)
if "$PLAYBOOK" -i "$inv_sysd" "$HERE/selftest_systemd.yml" >"$ANSIBLE_LOCAL_TEMP.play.log" 2>&1; then
    ok "systemd_service playbook (is-system-running, start/stop unit, transient unit) in $(since "$t")s"
else
    bad "systemd_service playbook failed:"
    tail -n 40 "$ANSIBLE_LOCAL_TEMP.play.log"
fi
rm -f "$ANSIBLE_LOCAL_TEMP.play.log"

echo "== teardown"
t=$(now)
check "down (plain) exits 0" "$TB" --prefix "$P_PLAIN" down
check "down (systemd) exits 0" "$TB" --prefix "$P_SYSD" down
t_down=$(since "$t")
ok "down of both beds in ${t_down}s"
assert_gone "$P_PLAIN" "$pids_plain" "plain bed"
assert_gone "$P_SYSD" "$pids_sysd" "systemd bed"
check "down is idempotent" "$TB" --prefix "$P_SYSD" down

if [ $skip20 = 0 ]; then
    echo "== 20 plain hosts"
    t=$(now)
    "$TB" --prefix "$P_20" up 20 >/dev/null
    t_up20=$(since "$t")
    pids_20=$(bed_pids "$P_20")
    t=$(now)
    out=$("$ANSIBLE" -i "/tmp/ckpool-testbed-$P_20/inventory.ini" all -m ansible.builtin.ping -f 20 2>&1) || true
    t_ping20=$(since "$t")
    n_pong=$(grep -c '"ping": "pong"' <<<"$out" || true)
    if [ "$n_pong" = 20 ]; then ok "20 hosts: 20/20 pong in ${t_ping20}s (forks 20)"; else bad "20 hosts: $n_pong/20 pong"; fi
    t=$(now)
    check "down (20) exits 0" "$TB" --prefix "$P_20" down
    t_down20=$(since "$t")
    assert_gone "$P_20" "$pids_20" "20-host bed"
    ok "20 plain hosts: up ${t_up20}s, ansible ping ${t_ping20}s, down ${t_down20}s"
fi

echo "== selftest: $((checks - failures)) passed, $failures failed in $(since "$t_all")s"
echo "$((checks - failures)) passed, $failures failed"
[ $failures = 0 ]
