# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Process lifecycle of the simulator against PROTOCOL.md "Lifecycle" (captures/step5*)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

from ansible_collections.ckpool.fleet.tests.simulator.fixture import (
    HERE, SIM_SCRIPT, SOCKETS, DirEvents, pid_alive, pidfile_content)

KILL_MESSAGE = ('Process main pid %d still exists, start ckpool with -H to get a handover '
                'or -k if you wish to kill it')


# connect and disconnect to the stratum port as fast as possible for at most 60 s
CHURN = """
import socket, sys, time
end = time.monotonic() + 60
while time.monotonic() < end:
    sock = socket.socket()
    sock.settimeout(1)
    try:
        sock.connect(('127.0.0.1', int(sys.argv[1])))
    except OSError:
        time.sleep(0.001)
    sock.close()
"""


def inodes(pool):
    return {name: os.stat(pool.socket_path(name)).st_ino for name in SOCKETS}


class StratumProbe:
    """Connects to the stratum port every 10 ms in a thread and counts refusals."""

    def __init__(self, port):
        self.port = port
        self.ok = 0
        self.refused = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self):
        while not self.stop.is_set():
            try:
                sock = socket.create_connection(('127.0.0.1', self.port), timeout=1)
                sock.close()
                self.ok += 1
            except ConnectionRefusedError:
                self.refused += 1
            except OSError:
                pass
            self.stop.wait(0.01)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)


def wait_refused(pool, name, timeout=1.0):
    """The outcome of ping on pool's socket name, retried until refused (the kernel closes the
    listening fds while the exiting process's threads wind down, after the pid looks gone)."""
    deadline = time.monotonic() + timeout
    got = pool.request(name, 'ping', timeout=0.5)
    while got.outcome != 'refused' and time.monotonic() < deadline:
        time.sleep(0.005)
        got = pool.request(name, 'ping', timeout=0.5)
    return got.outcome


def watch_pidfile(pool, old_pid, timeout=10.0):
    """Sample main.pid, then the old pid's liveness, until a new pid owns main.pid.

    A sample is (content, old_alive), content as pidfile_content() gives it: None (missing), ''
    (truncated by a writer that has not written yet), a pid.  Reading the content first makes the
    pair sound whatever the load: a process that is gone does not come back, so old_alive True
    means the old process was alive when that content was read.  Samples are only as frequent as
    the test gets scheduled: short states are proven from DirEvents, not from samples.
    """
    path = os.path.join(pool.sockdir, 'main.pid')
    samples = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = pidfile_content(path)
        old_alive = pid_alive(old_pid)
        samples.append((content, old_alive))
        if isinstance(content, int) and content != old_pid and pid_alive(content):
            return content, samples
        time.sleep(0.001)
    raise AssertionError('no new pid in main.pid: %r' % samples[-5:])


def assert_handover_pidfile(sim, watch, samples, old, new):
    """PROTOCOL.md "Lifecycle": in a handover the old process's shutdown removes main.pid; the new
    process writes it only after the old one has exited, then recreates the four sockets."""
    # main.pid named the new pid only while the old process was gone (every sample that saw it)
    assert all(not old_alive for content, old_alive in samples if content == new)
    # removed by the old "shutdown", then created anew by the new process: missing in between.
    # ckpool waits 500 ms for the old process, then SIGTERMs it; a process SIGTERMed before its
    # shutdown removed main.pid leaves it, and the new one overwrites it in place (PROTOCOL: "holds
    # the old pid or is missing"). Only the new process's log says which happened.
    pidfile = watch.kinds('main.pid', 'CREATE', 'DELETE', 'MOVED_FROM', 'MOVED_TO')
    if 'Old process pid %d failed to shutdown cleanly, terminating' % old in '\n'.join(sim.log_lines()):
        assert pidfile in (['DELETE', 'CREATE'], [])
    else:
        assert pidfile == ['DELETE', 'CREATE']
    # written before the sockets are recreated (the socket files are renamed aside, then bound anew)
    written = watch.index('main.pid', 'CLOSE_WRITE')
    assert written is not None
    assert all(written < watch.index(name, 'CREATE') for name in SOCKETS)


def test_restart_handover_pid_timing(sim):
    old = sim.pid
    before = inodes(sim)
    miner = sim.miner('alice.rig1')
    with StratumProbe(sim.stratum_port) as probe, DirEvents(sim.sockdir) as watch:
        assert sim.request('listener', 'restart').reply == 'restarting'
        new, samples = watch_pidfile(sim, old)
        sim.wait_ready(new, 10)
        time.sleep(0.1)
    assert_handover_pidfile(sim, watch, samples, old, new)
    assert not pid_alive(old)
    after = inodes(sim)
    assert all(after[name] != before[name] for name in SOCKETS)  # sockets recreated
    assert probe.refused == 0 and probe.ok > 5
    # miners got client.reconnect; their fds were inherited by the new process: no EOF
    miner.drain(0.5)
    assert {'id': None, 'method': 'client.reconnect', 'params': []} in miner.reconnects()
    assert not miner.eof
    # the new copy has the same argv plus -H, and answers on all sockets
    with open('/proc/%d/cmdline' % new, 'rb') as handle:
        argv = handle.read().split(b'\0')
    assert b'-H' in argv and SIM_SCRIPT.encode() in argv
    for name in SOCKETS:
        assert sim.request(name, 'ping').reply == 'pong'
    log = '\n'.join(sim.log_lines())
    assert 'Listener received restart message, attempting handover' in log
    assert 'Inherited old server socket 0 url 127.0.0.1:%d !' % sim.stratum_port in log
    new_miner = sim.miner('bob.rig1')
    assert new_miner.submit()['result'] is True


def test_restart_while_miners_come_and_go(sim):
    """Miners that disconnect while ckpool forks must not stop the restart: their fds are passed
    on as copies taken under the client's lock (a closed number passed to the fork made it fail
    with EBADF, and the old process served on alone; a rolling restart in CI timed out on it)."""
    churn = subprocess.Popen([sys.executable, '-c', CHURN, str(sim.stratum_port)])
    try:
        pid = sim.pid
        for number in range(8):
            time.sleep(0.3)
            assert sim.request('listener', 'restart').reply == 'restarting', 'restart %d' % number
            pid = sim.wait_pid_change(pid, 10)
            sim.wait_ready(pid, 10)
    finally:
        churn.kill()
        churn.wait(5)
    assert 'Failed to restart' not in '\n'.join(sim.log_lines())


def test_shutdown_leaves_stale_sockets(sim):
    pid = sim.pid
    miner = sim.miner('alice.rig1')
    start = time.monotonic()
    assert sim.request('listener', 'shutdown').reply == 'exiting'
    while pid_alive(pid) and time.monotonic() - start < 2:
        time.sleep(0.001)
    assert not pid_alive(pid)
    assert time.monotonic() - start < 2.0   # ~3 ms on ckpool; generous for a loaded test machine
    assert not os.path.exists(os.path.join(sim.sockdir, 'main.pid'))
    for name in SOCKETS:
        assert os.path.exists(sim.socket_path(name))
        assert wait_refused(sim, name) == 'refused'   # ECONNREFUSED
    assert miner.wait_eof(2)
    assert miner.reconnects() == []
    assert sim.log_lines()[-1].endswith('Closing unix socket %d %s' % (
        int(sim.log_lines()[-1].split('socket ')[1].split()[0]), sim.socket_path('listener')))


def test_sigterm_keeps_pidfile(sim):
    pid = sim.pid
    os.kill(pid, 15)
    deadline = time.monotonic() + 3
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not pid_alive(pid)
    assert sim.pid == pid                                   # stale main.pid stays
    assert wait_refused(sim, 'listener') == 'refused'
    assert sim.log_lines()[-1].endswith('Process ckpool received signal 15, shutting down')


def test_second_plain_instance_refused(sim):
    pid = sim.pid
    proc = sim.spawn()
    assert proc.returncode == 1
    assert proc.stderr_text().strip().splitlines()[-1] == KILL_MESSAGE % pid
    assert sim.pid == pid and sim.request('listener', 'ping').reply == 'pong'


def test_second_instance_handover_H(sim):
    old = sim.pid
    miner = sim.miner('alice.rig1')
    with StratumProbe(sim.stratum_port) as probe, DirEvents(sim.sockdir) as watch:
        sim.spawn('-H', wait=False)
        new, samples = watch_pidfile(sim, old)
        sim.wait_ready(new, 10)
    assert_handover_pidfile(sim, watch, samples, old, new)
    assert probe.refused == 0
    # reconnect then EOF (the old process exited; this copy was not its child)
    assert miner.wait_eof(3)
    assert miner.reconnects() == [{'id': None, 'method': 'client.reconnect', 'params': []}]


def test_second_instance_killold_k(sim):
    old = sim.pid
    miner = sim.miner('alice.rig1')
    pidfile_inode = os.stat(os.path.join(sim.sockdir, 'main.pid')).st_ino
    with StratumProbe(sim.stratum_port) as probe, DirEvents(sim.sockdir) as watch:
        sim.spawn('-k', wait=False)
        new, samples = watch_pidfile(sim, old)
        sim.wait_ready(new, 10)
    assert probe.refused > 0            # real ckpool: ~1.5 s of refused connects
    assert miner.wait_eof(2)
    assert miner.reconnects() == []     # EOF without client.reconnect
    assert 'Terminating old process main pid %d' % old in '\n'.join(sim.log_lines())
    # the SIGTERMed process did not remove main.pid: the new one overwrote it in place (ckpool's
    # fopen("we"): truncated, then written; a reader in between finds it empty, never missing)
    assert watch.kinds('main.pid', 'CREATE', 'DELETE', 'MOVED_FROM', 'MOVED_TO') == []
    assert 'CLOSE_WRITE' in watch.kinds('main.pid')
    assert os.stat(os.path.join(sim.sockdir, 'main.pid')).st_ino == pidfile_inode
    assert all(content in (old, new, '') for content, _alive in samples)


def test_daemon_mode_returns_when_ready(tmp_path):
    base = tmp_path / 'd'
    base.mkdir()
    conf = base / 'c.conf'
    conf.write_text('{"serverurl": "127.0.0.1:0", "logdir": "%s"}' % (base / 'logs'))
    sockdir = '/tmp/cks-daemon-%d' % os.getpid()
    proc = subprocess.run([sys.executable, SIM_SCRIPT, '-c', str(conf), '-s', sockdir, '--sim-daemon'],
                          capture_output=True, text=True, timeout=20, check=False)
    try:
        assert proc.returncode == 0, proc.stderr
        pid = int(proc.stdout.strip())
        with open(os.path.join(sockdir, 'main.pid')) as handle:
            assert handle.read() == str(pid)          # decimal, no newline
        assert oct(os.stat(os.path.join(sockdir, 'main.pid')).st_mode & 0o777) == '0o644'
        assert oct(os.stat(sockdir).st_mode & 0o777) == '0o750'
        for name in SOCKETS:
            assert oct(os.stat(os.path.join(sockdir, name)).st_mode & 0o777) == '0o770'
        assert os.getsid(pid) == pid                  # detached in its own session
        again = subprocess.run([sys.executable, SIM_SCRIPT, '-c', str(conf), '-s', sockdir, '--sim-daemon'],
                               capture_output=True, text=True, timeout=20, check=False)
        assert again.returncode == 1
        assert again.stderr.strip() == KILL_MESSAGE % pid
    finally:
        if proc.returncode == 0:
            os.kill(int(proc.stdout.strip()), 15)
        time.sleep(0.1)
        for name in SOCKETS + ('main.pid',):
            try:
                os.unlink(os.path.join(sockdir, name))
            except OSError:
                pass
        os.rmdir(sockdir)


def test_fleet_up_status_down():
    fleet_py = os.path.join(HERE, 'fleet.py')
    base = '/tmp/cksf-%d' % os.getpid()
    up = subprocess.run([sys.executable, fleet_py, 'up', '--count', '2', '--base', base, '--users', '2',
                         '--miners', '1', '--miner-interval', '0.2', '--status-interval', '0.5'],
                        capture_output=True, text=True, timeout=60, check=False)
    pids = []
    try:
        assert up.returncode == 0, up.stderr
        with open(os.path.join(base, 'fleet.json')) as handle:
            fleet = json.load(handle)
        names = [inst['name'] for inst in fleet['instances']]
        assert names == ['pool01', 'pool02']
        with open(os.path.join(base, 'inventory.ini')) as handle:
            inventory = handle.read()
        assert 'pool02 ansible_connection=local ckpool_name=pool02 ckpool_socket_dir=%s/pool02/run ' % base in inventory
        status = subprocess.run([sys.executable, fleet_py, 'status', '--base', base], capture_output=True,
                                text=True, timeout=30, check=True)
        assert [s['running'] for s in json.loads(status.stdout)] == [True, True]
        # the live miner authorises on its pool
        log = os.path.join(base, 'pool01', 'logs', 'pool01.log')     # LOGDIR/NAME.log (-n pool01)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(log) as handle:
                if 'Authorised client 1 127.0.0.1 worker miner1.pool01-rig1 as user miner1' in handle.read():
                    break
            time.sleep(0.1)
        else:
            raise AssertionError('miner never authorised')
        pids = [inst['pid'] for inst in fleet['instances']]
        pids += [pid for inst in fleet['instances'] for pid in inst['miner_pids']]
    finally:
        down = subprocess.run([sys.executable, fleet_py, 'down', '--base', base, '--clean'], capture_output=True,
                              text=True, timeout=60, check=False)
    assert down.returncode == 0
    assert not os.path.exists(base)
    time.sleep(0.3)
    assert not any(pid_alive(pid) for pid in pids)
