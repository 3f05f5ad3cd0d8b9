#!/usr/bin/env bash
# Runs as PID 1 of a test-bed host's fresh pid/mount/uts/ipc(/cgroup) namespaces, inside the
# host's named network namespace (started by testbed.sh, never by hand).
#
#   hostinit.sh plain|systemd HOSTDIR
#
# HOSTDIR (on the controller's disk) holds: hostname, ssh/ (sshd_config, host key,
# authorized_keys), etc_hosts. It builds the host's root filesystem: an overlay with
# lowerdir=/ and its upper/work dirs on a tmpfs (nothing the host writes reaches the disk),
# fresh proc (with /proc/sys and /proc/sysrq-trigger read-only), read-only sysfs, a private
# minimal /dev, tmpfs /run and /tmp; then pivot_root into it and exec
#   plain:   /usr/sbin/sshd -D (PID 1, reaps orphans; when it dies the kernel kills the host)
#   systemd: /lib/systemd/systemd (real init; sshd runs as testbed-sshd.service)
set -euo pipefail

mode=$1
hostdir=$2
name=$(cat "$hostdir/hostname")

log() { printf 'hostinit[%s]: %s\n' "$name" "$*" >&2; }

hostname "$name"
mount --make-rprivate /

# --- root: overlay over the controller's / with a tmpfs upper -----------------------------
rw=$hostdir/rw
root=$hostdir/root
mkdir -p "$rw" "$root"
mount -t tmpfs -o mode=0755,size=2g "tb-$name-rw" "$rw"
mkdir -p "$rw/upper" "$rw/work"
mount -t overlay "tb-$name-root" -o "lowerdir=/,upperdir=$rw/upper,workdir=$rw/work" "$root"

# --- proc / sys ----------------------------------------------------------------------------
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
for p in sys sysrq-trigger; do
    [ -e "$root/proc/$p" ] || continue
    mount --bind "$root/proc/$p" "$root/proc/$p"
    mount -o remount,bind,ro "$root/proc/$p"
done
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
if [ "$mode" = systemd ]; then
    # the cgroup namespace (unshare --cgroup) makes the host's delegated cgroup the root here
    mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$root/sys/fs/cgroup"
fi

# --- private minimal /dev ----------------------------------------------------------------
mount -t tmpfs -o mode=0755,nosuid,size=1m "tb-$name-dev" "$root/dev"
for d in null zero full random urandom tty; do
    touch "$root/dev/$d"
    mount --bind "/dev/$d" "$root/dev/$d"
done
mkdir -p "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev "tb-$name-shm" "$root/dev/shm"
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
if [ "$mode" = systemd ]; then
    # /dev/console = the pty that testbed.sh runs us under (script(1)); systemd writes there
    tty_path=$(tty 2>/dev/null || true)
    case $tty_path in
        /dev/pts/*)
            touch "$root/dev/console"
            mount --bind "$tty_path" "$root/dev/console"
            ;;
        *) log "no controlling pty; /dev/console left out" ;;
    esac
fi

# --- private /run and /tmp ---------------------------------------------------------------
mount -t tmpfs -o mode=0755,nosuid,nodev "tb-$name-run" "$root/run"
mount -t tmpfs -o mode=1777,nosuid,nodev "tb-$name-tmp" "$root/tmp"

# --- controller directories shared with the host (testbed.sh up --bind DIR) ------------------
if [ -s "$hostdir/binds" ]; then
    while IFS= read -r dir; do
        [ -n "$dir" ] || continue
        mkdir -p "$root$dir"
        mount --rbind "$dir" "$root$dir"
    done <"$hostdir/binds"
fi

# --- host identity and sshd configuration (written into the tmpfs upper) -----------------
printf '%s\n' "$name" >"$root/etc/hostname"
cp "$hostdir/etc_hosts" "$root/etc/hosts"
rm -rf "$root/etc/ssh/testbed"
cp -a "$hostdir/ssh" "$root/etc/ssh/testbed"
chmod 0600 "$root/etc/ssh/testbed/ssh_host_ed25519_key"

if [ "$mode" = systemd ]; then
    rm -f "$root/etc/machine-id"
    od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$root/etc/machine-id"
    printf '\n' >>"$root/etc/machine-id"
    unitdir=$root/etc/systemd/system
    # Mask every unit the controller enables (sshd, timers, databases, ...) and the units
    # that cannot work or must not run in a namespace.
    for wants in /etc/systemd/system/*.wants; do
        [ -d "$wants" ] || continue
        for unit in "$wants"/*; do
            [ -e "$unit" ] || [ -L "$unit" ] || continue
            ln -sfn /dev/null "$unitdir/$(basename "$unit")"
        done
    done
    for unit in console-getty.service systemd-sysctl.service getty@tty1.service \
        systemd-networkd.service systemd-resolved.service systemd-timesyncd.service \
        systemd-firstboot.service systemd-remount-fs.service systemd-pstore.service \
        ssh.service sshd.service ssh.socket; do
        rm -f "$unitdir/$unit"
        ln -s /dev/null "$unitdir/$unit"
    done
    cat >"$unitdir/testbed-sshd.service" <<'EOF'
[Unit]
Description=OpenSSH server of the ckpool.fleet test bed
After=network.target

[Service]
Type=simple
ExecStartPre=/bin/mkdir -p -m 0755 /run/sshd
ExecStart=/usr/sbin/sshd -D -e -f /etc/ssh/testbed/sshd_config
ExecReload=/bin/kill -HUP $MAINPID
KillMode=process
Restart=on-failure
RestartSec=1

[Install]
WantedBy=multi-user.target
EOF
    mkdir -p "$unitdir/multi-user.target.wants"
    ln -sfn ../testbed-sshd.service "$unitdir/multi-user.target.wants/testbed-sshd.service"
fi

# --- switch root -----------------------------------------------------------------------------
cd "$root"
mkdir -p .oldroot
pivot_root . .oldroot
cd /
umount -l /.oldroot
rmdir /.oldroot

case $mode in
    plain)
        mkdir -m 0755 /run/sshd
        exec /usr/sbin/sshd -D -e -f /etc/ssh/testbed/sshd_config
        ;;
    systemd)
        exec env -i container=ckpool-testbed TERM=dumb \
            PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            /lib/systemd/systemd --system --unit=multi-user.target --log-target=journal-or-kmsg \
            --show-status=false
        ;;
    *)
        log "unknown mode $mode"
        exit 2
        ;;
esac
