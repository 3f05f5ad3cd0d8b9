#!/usr/bin/env bash
# Multi-host test bed for ckpool.fleet: N hosts as Linux namespaces with real OpenSSH, and
# optionally a real systemd as PID 1 of each host. See tests/testbed/README.md.
#
#   testbed.sh [--prefix P] [--state-dir DIR] up N [--systemd] [--subnet A.B.C] [--timeout S]
#              [--bind DIR]...                             (DIR visible read-write in every host)
#   testbed.sh [--prefix P] [--state-dir DIR] down [--keep-state]
#   testbed.sh [--prefix P] exec HOST -- CMD [ARG...]     (nsenter, no SSH)
#   testbed.sh [--prefix P] ssh HOST [CMD...]              (real SSH with the bed's key)
#   testbed.sh [--prefix P] status
#   testbed.sh deps                                        (apt-get the tools it needs)
#
# Options may also follow the command (testbed.sh up 4 --prefix x). The prefix (default
# "tb", or $TESTBED_PREFIX) names everything the bed creates, so two beds with different
# prefixes can run side by side: netns P-poolNN, veths P-vN, bridge P-br, cgroup
# ckpool-testbed-P, state dir /tmp/ckpool-testbed-P.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HOSTINIT=$HERE/hostinit.sh

prefix=${TESTBED_PREFIX:-tb}
state_dir=
subnet=${TESTBED_SUBNET:-}
timeout=${TESTBED_TIMEOUT:-120}
systemd=0
keep_state=0
cmd=
count=
exec_host=
rest=()
binds=()

die() { printf 'testbed: ERROR: %s\n' "$*" >&2; exit 1; }
log() { printf 'testbed: %s\n' "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

usage() {
    sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit "${1:-2}"
}

# ------------------------------------------------------------------------------------------
# argument parsing
# ------------------------------------------------------------------------------------------
parse_args() {
    while [ $# -gt 0 ]; do
        case $1 in
            --prefix) prefix=${2:?--prefix needs a value}; shift 2 ;;
            --prefix=*) prefix=${1#*=}; shift ;;
            --state-dir) state_dir=${2:?--state-dir needs a value}; shift 2 ;;
            --state-dir=*) state_dir=${1#*=}; shift ;;
            --subnet) subnet=${2:?--subnet needs a value}; shift 2 ;;
            --subnet=*) subnet=${1#*=}; shift ;;
            --timeout) timeout=${2:?--timeout needs a value}; shift 2 ;;
            --timeout=*) timeout=${1#*=}; shift ;;
            --systemd) systemd=1; shift ;;
            --bind) binds+=("${2:?--bind needs a directory}"); shift 2 ;;
            --bind=*) binds+=("${1#*=}"); shift ;;
            --keep-state) keep_state=1; shift ;;
            -h|--help) usage 0 ;;
            --)
                shift
                rest=("$@")
                return
                ;;
            -*) die "unknown option $1" ;;
            *)
                if [ -z "$cmd" ]; then
                    cmd=$1
                elif [ "$cmd" = up ] && [ -z "$count" ]; then
                    count=$1
                elif { [ "$cmd" = exec ] || [ "$cmd" = ssh ]; } && [ -z "$exec_host" ]; then
                    exec_host=$1
                    if [ "$cmd" = ssh ]; then
                        shift
                        rest=("$@")
                        return
                    fi
                else
                    die "unexpected argument $1"
                fi
                shift
                ;;
        esac
    done
}

setup_names() {
    [[ $prefix =~ ^[a-z][a-z0-9]{0,7}$ ]] || die "prefix must match [a-z][a-z0-9]{0,7} (got '$prefix')"
    state_dir=${state_dir:-/tmp/ckpool-testbed-$prefix}
    bridge=$prefix-br
    netns_prefix=$prefix-
    veth_prefix=$prefix-v
    cg_base=
    if [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
        cg_base=/sys/fs/cgroup/unified
    elif [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
        cg_base=/sys/fs/cgroup
    fi
    cg_dir=${cg_base:+$cg_base/ckpool-testbed-$prefix}
}

subnet_in_use() { # A.B.C
    ip -o -4 addr show | awk '{print $4}' | grep -q "^${1//./\\.}\."
}

default_subnet() {
    # 10.77.0 for the default prefix; other prefixes hash into 10.77.20-219, moving on to
    # the next /24 of that range that no interface of this machine uses (--subnet chooses)
    if [ "$prefix" = tb ]; then
        echo 10.77.0
        return
    fi
    local h k c
    h=$(printf '%s' "$prefix" | cksum | cut -d' ' -f1)
    for ((k = 0; k < 200; k++)); do
        c=10.77.$(((h + k) % 200 + 20))
        if ! subnet_in_use "$c"; then
            echo "$c"
            return
        fi
    done
    die "no free /24 left in 10.77.20.0-10.77.219.0; pass --subnet"
}

host_name() { # index width
    printf 'pool%0*d' "$2" "$1"
}

need() {
    local missing=()
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || missing+=("$t")
    done
    [ ${#missing[@]} -eq 0 ] || die "missing tools: ${missing[*]} (run: $0 deps)"
}

# ------------------------------------------------------------------------------------------
# discovery helpers (work from kernel state, so down works without or with a partial state dir)
# ------------------------------------------------------------------------------------------
bed_netns() {
    ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${netns_prefix}pool[0-9]+$" || true
}

bed_veths() {
    ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' \
        | grep -E "^${veth_prefix}[0-9]+$" || true
}

# PID (in the root pid namespace) of the process that is PID 1 of the host's pid namespace
init_pid_of_netns() {
    local ns=$1 pid
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
        # "NSpid: <root-ns pid> 1" = PID 1 of a nested pid namespace
        if awk '/^NSpid:/ { exit !(NF >= 3 && $NF == 1) }' "/proc/$pid/status" 2>/dev/null; then
            echo "$pid"
            return 0
        fi
    done
    return 1
}

pid_alive() { [ -n "${1:-}" ] && [ -d "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# ------------------------------------------------------------------------------------------
# down
# ------------------------------------------------------------------------------------------
kill_pids() { # signal pid...
    local sig=$1 p
    shift
    for p in "$@"; do
        kill "-$sig" "$p" 2>/dev/null || true
    done
}

wait_gone() { # deadline_seconds pid...
    local deadline=$1 p alive
    shift
    local end=$((SECONDS + deadline))
    while :; do
        alive=0
        for p in "$@"; do
            pid_alive "$p" && alive=1
        done
        [ $alive = 0 ] && return 0
        [ $SECONDS -ge $end ] && return 1
        sleep 0.05
    done
}

cmd_down() {
    local t0 ns pid s leftovers=0
    t0=$(now)
    local -a nss inits sysd_inits pids
    mapfile -t nss < <(bed_netns)

    # 1. close SSH ControlPersist masters
    if [ -d "$state_dir/cp" ]; then
        for s in "$state_dir"/cp/*; do
            [ -S "$s" ] || continue
            timeout 5 ssh -o ControlPath="$s" -O exit testbed-host >/dev/null 2>&1 || true
            rm -f "$s"
        done
    fi

    # 2. orderly poweroff of systemd hosts (RTMIN+4), everything at once, then wait
    inits=()
    sysd_inits=()
    for ns in "${nss[@]}"; do
        pid=$(init_pid_of_netns "$ns") || continue
        inits+=("$pid")
        if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd ]; then
            sysd_inits+=("$pid")
            kill -s RTMIN+4 "$pid" 2>/dev/null || true
        fi
    done
    if [ ${#sysd_inits[@]} -gt 0 ] && ! wait_gone 20 "${sysd_inits[@]}"; then
        log "some systemd hosts did not power off within 20 s; killing them"
    fi

    # 3. kill whatever still lives in the namespaces (PID 1 of a pid namespace takes the
    #    rest of it along), then the processes left in the bed's cgroup (launchers)
    if [ ${#inits[@]} -gt 0 ]; then
        kill_pids TERM "${inits[@]}"
        wait_gone 3 "${inits[@]}" || kill_pids KILL "${inits[@]}"
        wait_gone 5 "${inits[@]}" || true
    fi
    for ns in "${nss[@]}"; do
        mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null)
        [ ${#pids[@]} -gt 0 ] || continue
        kill_pids TERM "${pids[@]}"
        wait_gone 3 "${pids[@]}" || kill_pids KILL "${pids[@]}"
        wait_gone 5 "${pids[@]}" || true
    done
    if [ -n "$cg_dir" ] && [ -d "$cg_dir" ]; then
        cgroup_kill_tree "$cg_dir"
        cgroup_remove_tree "$cg_dir"
    fi

    # 4. veths, namespaces, bridge
    for s in $(bed_veths); do
        ip link del "$s" 2>/dev/null || true
    done
    for ns in "${nss[@]}"; do
        ip netns del "$ns" 2>/dev/null || true
    done
    if ip link show "$bridge" >/dev/null 2>&1; then
        ip link del "$bridge" 2>/dev/null || true
    fi

    # 5. nothing of ours may stay mounted in the root mount namespace
    if [ -d "$state_dir" ]; then
        local m
        for m in $(findmnt -rn -o TARGET | grep -F "$state_dir/" | sort -r || true); do
            umount -l "$m" 2>/dev/null || true
        done
    fi

    # 6. verify
    if [ -n "$(bed_netns)" ]; then log "left behind: netns $(bed_netns | tr '\n' ' ')"; leftovers=1; fi
    if [ -n "$(bed_veths)" ]; then log "left behind: veths $(bed_veths | tr '\n' ' ')"; leftovers=1; fi
    if ip link show "$bridge" >/dev/null 2>&1; then log "left behind: bridge $bridge"; leftovers=1; fi
    if [ -n "$cg_dir" ] && [ -d "$cg_dir" ]; then log "left behind: cgroup $cg_dir"; leftovers=1; fi
    if [ -d "$state_dir" ] && findmnt -rn -o TARGET | grep -qF "$state_dir/"; then
        log "left behind: mounts under $state_dir"; leftovers=1
    fi
    for pid in "${inits[@]}"; do
        if pid_alive "$pid"; then log "left behind: process $pid"; leftovers=1; fi
    done

    if [ $keep_state = 0 ] && [ $leftovers = 0 ]; then
        rm -rf "$state_dir"
    fi
    [ $leftovers = 0 ] || die "down left resources behind (prefix $prefix)"
    log "down: prefix $prefix, ${#nss[@]} host(s) removed in $(elapsed "$t0") s"
}

cgroup_kill_tree() {
    local top=$1 d p
    if [ -e "$top/cgroup.kill" ]; then
        echo 1 >"$top/cgroup.kill" 2>/dev/null || true
    else
        while read -r d; do
            while read -r p; do
                kill -KILL "$p" 2>/dev/null || true
            done <"$d/cgroup.procs"
        done < <(find "$top" -type d)
    fi
    local end=$((SECONDS + 10))
    while grep -q '^populated 1' "$top/cgroup.events" 2>/dev/null; do
        if [ $SECONDS -ge $end ]; then
            log "cgroup $top still populated after 10 s"
            return 0
        fi
        sleep 0.05
    done
}

cgroup_remove_tree() {
    # depth first; systemd may still be removing its own sub-cgroups, so retry briefly
    local top=$1 try
    for try in 1 2 3 4 5 6 7 8 9 10; do
        find "$top" -depth -type d -exec rmdir {} + 2>/dev/null || true
        [ -d "$top" ] || return 0
        sleep 0.1
    done
    : "$try"
}

# ------------------------------------------------------------------------------------------
# up
# ------------------------------------------------------------------------------------------
write_host_files() { # name address
    local name=$1 addr=$2 hd=$state_dir/hosts/$1
    mkdir -p "$hd/ssh"
    printf '%s\n' "$name" >"$hd/hostname"
    printf '%s\n' "$addr" >"$hd/address"
    printf '%s\n' "$netns_prefix$name" >"$hd/netns"
    ssh-keygen -q -t ed25519 -N '' -C "$name-hostkey" -f "$hd/ssh/ssh_host_ed25519_key"
    cp "$state_dir/id_ed25519.pub" "$hd/ssh/authorized_keys"
    cat >"$hd/ssh/sshd_config" <<EOF
# ckpool.fleet test bed sshd for $name (generated by testbed.sh)
ListenAddress $addr:22
HostKey /etc/ssh/testbed/ssh_host_ed25519_key
AuthorizedKeysFile /etc/ssh/testbed/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PidFile none
MaxStartups 200:30:400
MaxSessions 200
AcceptEnv LANG LC_*
PrintMotd no
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
    cp "$state_dir/etc_hosts" "$hd/etc_hosts"
    printf '%s\n' "${binds[@]}" >"$hd/binds"
}

launch_host() { # name
    local name=$1 hd=$state_dir/hosts/$1 ns=$netns_prefix$1 cg=$cg_dir/$1
    local mode=plain
    local -a inner
    [ $systemd = 1 ] && mode=systemd
    mkdir "$cg"
    inner=(ip netns exec "$ns" unshare --uts --mount --ipc --pid --fork --propagation private)
    [ $systemd = 1 ] && inner+=(--cgroup)
    inner+=("$HOSTINIT" "$mode" "$hd")
    # the launcher moves itself into the host's cgroup, then execs (so everything it starts
    # is in there too and down can find it)
    # shellcheck disable=SC2016
    local enter_cg='echo $$ >"$1/cgroup.procs" && shift && exec "$@"'

    if [ $systemd = 1 ]; then
        # systemd wants a console: script(1) gives the host a pty, logged to console.log
        local cmdline
        cmdline=$(printf '%q ' "${inner[@]}")
        setsid bash -c "$enter_cg" launcher "$cg" \
            script -qfec "$cmdline" "$hd/console.log" </dev/null >"$hd/host.log" 2>&1 &
    else
        setsid bash -c "$enter_cg" launcher "$cg" \
            "${inner[@]}" </dev/null >"$hd/host.log" 2>&1 &
    fi
}

ssh_wait() { # name address deadline_epoch -> 0 when a real key login succeeded
    local name=$1 addr=$2 end=$3 init
    init=$(cat "$state_dir/hosts/$name/init_pid")
    while :; do
        if ! pid_alive "$init"; then
            echo "host init (pid $init) exited; see $state_dir/hosts/$name/host.log" \
                >>"$state_dir/hosts/$name/ssh_wait.err"
            return 1
        fi
        # cheap probe first (no fork): is anything listening on port 22 yet? (the address is
        # on the local bridge: refused at once, or EHOSTUNREACH after ARP gives up, ~3 s)
        if ! { : 3<>"/dev/tcp/$addr/22"; } 2>/dev/null; then
            [ "$(date +%s)" -ge "$end" ] && {
                echo "nothing listens on $addr:22" >>"$state_dir/hosts/$name/ssh_wait.err"
                return 1
            }
            sleep 0.05
            continue
        fi
        if timeout 10 ssh -F "$state_dir/ssh_config" -o ControlMaster=no -o ControlPath=none \
            -o ConnectTimeout=2 "$name" true >/dev/null 2>"$state_dir/hosts/$name/ssh_wait.err"; then
            return 0
        fi
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.1
    done
}

on_up_failure() {
    local rc=$?
    trap - EXIT INT TERM
    if [ $rc != 0 ]; then
        log "up failed (rc=$rc); tearing down what was built (state kept in $state_dir)"
        local h
        for h in "$state_dir"/hosts/*/; do
            [ -d "$h" ] || continue
            for f in host.log console.log ssh_wait.err; do
                if [ -s "$h$f" ]; then
                    log "--- $h$f (tail)"
                    tail -n 15 "$h$f" >&2 || true
                fi
            done
        done
        keep_state=1
        ( cmd_down ) || true
    fi
    exit $rc
}

cmd_up() {
    local t0 i w name addr ns veth
    t0=$(now)
    if ! [[ ${count:-} =~ ^[0-9]+$ ]] || [ "$count" -lt 1 ] || [ "$count" -gt 240 ]; then
        die "up needs a host count 1..240"
    fi
    need ip unshare nsenter ssh ssh-keygen /usr/sbin/sshd setsid timeout findmnt
    [ $systemd = 1 ] && need script /lib/systemd/systemd
    [ -n "$cg_dir" ] || die "no cgroup2 hierarchy found (looked at /sys/fs/cgroup/unified and /sys/fs/cgroup)"
    subnet=${subnet:-$(default_subnet)}
    local b
    for ((i = 0; i < ${#binds[@]}; i++)); do
        b=$(cd "${binds[$i]}" 2>/dev/null && pwd -P) || die "--bind ${binds[$i]}: no such directory"
        binds[i]=$b
    done
    [[ $subnet =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "--subnet must be A.B.C (a /24), got '$subnet'"

    if [ -n "$(bed_netns)" ] || ip link show "$bridge" >/dev/null 2>&1 || [ -d "$cg_dir" ]; then
        die "a test bed with prefix '$prefix' is already up (run: $0 --prefix $prefix down)"
    fi
    if subnet_in_use "$subnet"; then
        die "subnet $subnet.0/24 is already in use on this machine; choose another with --subnet"
    fi

    rm -rf "$state_dir"
    mkdir -p "$state_dir/hosts" "$state_dir/cp"
    chmod 0700 "$state_dir"
    trap on_up_failure EXIT INT TERM

    w=2
    [ "$count" -ge 100 ] && w=3
    local gw=$subnet.1
    local -a names addrs
    for ((i = 1; i <= count; i++)); do
        names+=("$(host_name "$i" "$w")")
        addrs+=("$subnet.$((10 + i))")
    done

    ssh-keygen -q -t ed25519 -N '' -C "ckpool-testbed-$prefix" -f "$state_dir/id_ed25519"
    {
        printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'
        printf '%s\tcontroller\n' "$gw"
        for ((i = 0; i < count; i++)); do
            printf '%s\t%s\n' "${addrs[$i]}" "${names[$i]}"
        done
    } >"$state_dir/etc_hosts"
    {
        for ((i = 0; i < count; i++)); do
            printf 'Host %s\n  HostName %s\n' "${names[$i]}" "${addrs[$i]}"
        done
        cat <<EOF
Host *
  User root
  IdentityFile $state_dir/id_ed25519
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
  BatchMode yes
  ConnectTimeout 5
  ControlMaster auto
  ControlPath $state_dir/cp/%C
  ControlPersist 60s
EOF
    } >"$state_dir/ssh_config"
    printf '%s\n' "$prefix" >"$state_dir/prefix"
    printf '%s\n' "$subnet" >"$state_dir/subnet"
    printf '%s\n' "$systemd" >"$state_dir/systemd"

    # network: bridge in the root namespace, one netns + veth per host
    mkdir -p "$cg_dir"
    ip link add "$bridge" type bridge
    ip addr add "$gw/24" dev "$bridge"
    ip link set "$bridge" up
    for ((i = 0; i < count; i++)); do
        name=${names[$i]}
        addr=${addrs[$i]}
        ns=$netns_prefix$name
        veth=$veth_prefix$((i + 1))
        ip netns add "$ns"
        ip link add "$veth" type veth peer name eth0 netns "$ns"
        ip link set "$veth" master "$bridge" up
        ip -n "$ns" link set lo up
        ip -n "$ns" addr add "$addr/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" route add default via "$gw"
        write_host_files "$name" "$addr"
    done
    local t_net
    t_net=$(elapsed "$t0")

    for name in "${names[@]}"; do
        launch_host "$name"
    done

    # init pids
    local end=$((SECONDS + timeout)) pid
    for name in "${names[@]}"; do
        ns=$netns_prefix$name
        until pid=$(init_pid_of_netns "$ns"); do
            [ $SECONDS -ge $end ] && die "$name: no init process appeared in netns $ns"
            sleep 0.02
        done
        printf '%s\n' "$pid" >"$state_dir/hosts/$name/init_pid"
    done

    local t_launch
    t_launch=$(elapsed "$t0")

    # every sshd must accept a real key login before the deadline
    local deadline=$(($(date +%s) + timeout))
    local -a waiters=()
    for ((i = 0; i < count; i++)); do
        ssh_wait "${names[$i]}" "${addrs[$i]}" "$deadline" &
        waiters+=($!)
    done
    local failed=()
    for ((i = 0; i < count; i++)); do
        wait "${waiters[$i]}" || failed+=("${names[$i]}")
    done
    if [ ${#failed[@]} -gt 0 ]; then
        for name in "${failed[@]}"; do
            log "$name: ssh did not accept within ${timeout}s: $(tail -n 2 "$state_dir/hosts/$name/ssh_wait.err" 2>/dev/null | tr '\n' ' ')"
        done
        die "sshd not reachable on ${#failed[@]} host(s): ${failed[*]}"
    fi

    local t_ssh
    t_ssh=$(elapsed "$t0")

    if [ $systemd = 1 ]; then
        # wait for the boot to finish; a degraded system is reported, not hidden
        for name in "${names[@]}"; do
            pid=$(cat "$state_dir/hosts/$name/init_pid")
            local st
            st=$(timeout "$timeout" nsenter -t "$pid" -a systemctl is-system-running --wait 2>/dev/null || true)
            printf '%s\n' "${st:-unknown}" >"$state_dir/hosts/$name/system_state"
            case $st in
                running) ;;
                degraded)
                    log "$name: systemd is degraded; failed units: $(nsenter -t "$pid" -a systemctl --failed --plain --no-legend 2>/dev/null | awk '{print $1}' | tr '\n' ' ')"
                    ;;
                *) die "$name: systemd did not finish booting (state '${st:-none}')" ;;
            esac
        done
    fi

    write_inventory "${names[@]}"
    write_hosts_json "${names[@]}"
    trap - EXIT INT TERM
    log "up: $count host(s) (prefix $prefix, subnet $subnet.0/24, $([ $systemd = 1 ] && echo systemd || echo plain)) in $(elapsed "$t0") s (network ${t_net} s, init pids ${t_launch} s, ssh ${t_ssh} s); state: $state_dir"
    printf '%s\n' "$state_dir/inventory.ini"
}

write_inventory() {
    local name
    {
        printf '# ckpool.fleet test bed (prefix %s), generated by testbed.sh\n' "$prefix"
        printf '[pool]\n'
        for name in "$@"; do
            printf '%s ansible_host=%s\n' "$name" "$(cat "$state_dir/hosts/$name/address")"
        done
        printf '\n[pool:vars]\n'
        printf 'ansible_user=root\n'
        printf 'ansible_ssh_private_key_file=%s/id_ed25519\n' "$state_dir"
        printf 'ansible_python_interpreter=/usr/bin/python3\n'
        printf "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o ControlMaster=auto -o ControlPersist=60s -o ControlPath=%s/cp/%%C'\n" "$state_dir"
        printf 'testbed_prefix=%s\n' "$prefix"
        printf 'testbed_systemd=%s\n' "$([ $systemd = 1 ] && echo true || echo false)"
    } >"$state_dir/inventory.ini"
    cat >"$state_dir/ansible.cfg" <<EOF
[defaults]
inventory = $state_dir/inventory.ini
host_key_checking = False
forks = $(($# > 5 ? $# : 5))
EOF
    cat >"$state_dir/testbed.env" <<EOF
TESTBED_PREFIX=$prefix
TESTBED_STATE=$state_dir
TESTBED_INVENTORY=$state_dir/inventory.ini
TESTBED_KEY=$state_dir/id_ed25519
TESTBED_SSH_CONFIG=$state_dir/ssh_config
TESTBED_HOSTS_JSON=$state_dir/hosts.json
EOF
}

write_hosts_json() {
    local name first=1 hd init
    {
        printf '{\n  "prefix": "%s",\n  "state_dir": "%s",\n  "subnet": "%s.0/24",\n' "$prefix" "$state_dir" "$subnet"
        printf '  "gateway": "%s.1",\n  "bridge": "%s",\n  "systemd": %s,\n' "$subnet" "$bridge" "$([ $systemd = 1 ] && echo true || echo false)"
        printf '  "inventory": "%s/inventory.ini",\n  "ssh_key": "%s/id_ed25519",\n' "$state_dir" "$state_dir"
        printf '  "ssh_config": "%s/ssh_config",\n  "hosts": [' "$state_dir"
        for name in "$@"; do
            hd=$state_dir/hosts/$name
            init=$(cat "$hd/init_pid")
            [ $first = 1 ] || printf ','
            first=0
            printf '\n    {"name": "%s", "address": "%s", "netns": "%s", "init_pid": %s, "systemd": %s, "cgroup": "%s"}' \
                "$name" "$(cat "$hd/address")" "$(cat "$hd/netns")" "$init" \
                "$([ $systemd = 1 ] && echo true || echo false)" "$cg_dir/$name"
        done
        printf '\n  ]\n}\n'
    } >"$state_dir/hosts.json"
}

# ------------------------------------------------------------------------------------------
# exec / ssh / status
# ------------------------------------------------------------------------------------------
host_init_pid() { # name -> pid of the host's PID 1, checked against the kernel
    local name=$1 ns=$netns_prefix$1 pid
    pid=$(cat "$state_dir/hosts/$name/init_pid" 2>/dev/null || true)
    if [ -n "$pid" ] && pid_alive "$pid" \
        && [ "$(readlink "/proc/$pid/ns/net")" = "$(ip netns exec "$ns" readlink /proc/self/ns/net 2>/dev/null)" ]; then
        echo "$pid"
        return 0
    fi
    init_pid_of_netns "$ns" || die "host $name of test bed '$prefix' is not running"
}

cmd_exec() {
    [ -n "$exec_host" ] || die "exec needs a host name"
    [ ${#rest[@]} -gt 0 ] || die "exec needs a command after --"
    local pid
    pid=$(host_init_pid "$exec_host")
    exec nsenter -t "$pid" -a -r -w -- "${rest[@]}"
}

cmd_ssh() {
    [ -n "$exec_host" ] || die "ssh needs a host name"
    [ -f "$state_dir/ssh_config" ] || die "no test bed state in $state_dir"
    exec ssh -F "$state_dir/ssh_config" "$exec_host" "${rest[@]}"
}

cmd_status() {
    local ns pid name
    printf 'prefix %s, state %s\n' "$prefix" "$state_dir"
    for ns in $(bed_netns); do
        name=${ns#"$netns_prefix"}
        pid=$(init_pid_of_netns "$ns" || echo -)
        printf '%s\t%s\tinit=%s\t%s\n' "$name" "$(cat "$state_dir/hosts/$name/address" 2>/dev/null || echo ?)" \
            "$pid" "$(cat "/proc/$pid/comm" 2>/dev/null || echo gone)"
    done
}

cmd_deps() {
    export DEBIAN_FRONTEND=noninteractive
    local pkgs=(openssh-server openssh-client iproute2 util-linux systemd shellcheck)
    if ! dpkg -s "${pkgs[@]}" >/dev/null 2>&1; then
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
    fi
}

main() {
    [ $# -gt 0 ] || usage 2
    parse_args "$@"
    [ "$(id -u)" = 0 ] || die "must run as root"
    setup_names
    case $cmd in
        up) cmd_up ;;
        down) cmd_down ;;
        exec) cmd_exec ;;
        ssh) cmd_ssh ;;
        status) cmd_status ;;
        deps) cmd_deps ;;
        *) usage 2 ;;
    esac
}

main "$@"
