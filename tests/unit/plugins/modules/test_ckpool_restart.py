# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of ckpool_restart through its main(), against the simulator (a real handover:
new process, new pid written only after the old one exited) and against small
real unix-socket servers that misbehave."""

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.ckpool.fleet.tests.unit.plugins.module_args import patch_module_args

from ansible_collections.ckpool.fleet.plugins.modules import ckpool_restart
from ansible_collections.ckpool.fleet.tests.simulator.fixture import SimPool
from ansible_collections.ckpool.fleet.tests.unit.plugins.unix_server import recv_frame, send_frame


def run_module(capsys, args):
    """Run the module's main() with args; return (failed, result)."""
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            ckpool_restart.main()
    out = capsys.readouterr().out
    result = json.loads(out)
    return exc.value.code != 0 or result.get('failed', False), result


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().rsplit(')', 1)[-1].split()[0] not in ('Z', 'X')
    except OSError:
        return False


def wait_dead(pid, seconds=5.0):
    deadline = time.monotonic() + seconds
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not pid_alive(pid)


# -- against the simulator: a real handover ---------------------------------------------

def test_handover_gives_new_pid_and_answering_sockets(tmp_path, capsys):
    with SimPool(str(tmp_path / 'pool')) as pool:
        old_pid = pool.pid
        failed, result = run_module(capsys, dict(socket_dir=pool.sockdir, wait_timeout=20))
        assert not failed, result
        assert result['changed'] is True
        assert result['old_pid'] == old_pid
        new_pid = result['new_pid']
        assert isinstance(new_pid, int) and new_pid != old_pid
        assert pid_alive(new_pid)
        assert wait_dead(old_pid), 'the old process must be gone after a handover'
        with open(os.path.join(pool.sockdir, 'main.pid')) as handle:
            assert handle.read() == str(new_pid)
        assert 0 < result['pid_seen'] <= result['duration'] < 20
        sent = [(c['socket'], c['command'], c['reply']) for c in result['commands']]
        # one ping to find the process serving the directory, then the restart
        assert sent[:2] == [('listener', 'ping', 'pong'), ('listener', 'restart', 'restarting')]
        # the last two calls are the successful pings of the new process
        assert sent[-2:] == [('listener', 'ping', 'pong'), ('stratifier', 'ping', 'pong')]
        # the simulator saw the restart, answered by the old pid
        restarts = [c for c in pool.commands() if c['command'] == 'restart']
        assert len(restarts) == 1 and restarts[0]['pid'] == old_pid and restarts[0]['reply'] == 'restarting'
        # re-running restarts again (a restart always changes the pid)
        failed, again = run_module(capsys, dict(socket_dir=pool.sockdir, wait_timeout=20))
        assert not failed, again
        assert again['old_pid'] == new_pid and again['new_pid'] not in (old_pid, new_pid)


def test_check_mode_sends_nothing(tmp_path, capsys):
    with SimPool(str(tmp_path / 'pool')) as pool:
        old_pid = pool.pid
        before = len(pool.commands())
        failed, result = run_module(capsys, dict(socket_dir=pool.sockdir, _ansible_check_mode=True,
                                                 _ansible_diff=True))
        assert not failed, result
        assert result['changed'] is True
        assert [c['command'] for c in result['commands']] == ['ping']
        assert result['old_pid'] == old_pid and result['new_pid'] is None
        assert result['diff']['before'] == 'pid: %d\n' % old_pid
        time.sleep(0.3)
        assert [c['command'] for c in pool.commands()[before:]] == ['ping'], 'check mode sends only a read'
        with open(os.path.join(pool.sockdir, 'main.pid')) as handle:
            assert handle.read() == str(old_pid)
        assert pid_alive(old_pid)


# -- not running -------------------------------------------------------------------------

def test_not_running_without_pid_file(tmp_path, capsys):
    failed, result = run_module(capsys, dict(socket_dir=str(tmp_path)))
    assert failed
    assert 'not running' in result['msg'] and 'no socket file' in result['msg']
    assert result['changed'] is False
    assert [c['error'] for c in result['commands']] == ['not_running']


def test_not_running_with_stale_pid(tmp_path, capsys):
    # main.pid names a live process (this test), but nothing listens: not running, nothing sent.
    (tmp_path / 'main.pid').write_text(str(os.getpid()))
    failed, result = run_module(capsys, dict(socket_dir=str(tmp_path)))
    assert failed and 'not running' in result['msg']
    assert result['changed'] is False and result['pid_file_pid'] == os.getpid()


def test_bad_input(tmp_path, capsys):
    failed, result = run_module(capsys, dict(socket_dir=str(tmp_path), wait_timeout=0))
    assert failed and 'wait_timeout' in result['msg']
    failed, result = run_module(capsys, dict(socket_dir=str(tmp_path), poll_interval=-1))
    assert failed and 'poll_interval' in result['msg']
    failed, result = run_module(capsys, dict(socket_dir='relative/dir'))
    assert failed and 'absolute' in result['msg']


# -- misbehaving listeners (real unix sockets in a thread) -------------------------------

class Listener:
    """A listener socket answering with ``answers[command]`` (None = EOF)."""

    def __init__(self, sockdir, answers, on_command=None):
        self.path = os.path.join(sockdir, 'listener')
        self.answers = answers
        self.on_command = on_command
        self.received = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            try:
                conn, dummy = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                message = recv_frame(conn)
                self.received.append(message)
                reply = self.answers.get(message)
                if reply is not None:
                    send_frame(conn, reply)
                if self.on_command:
                    self.on_command(message)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


NEW_LISTENER = r'''
import os, socket, struct, sys
path = sys.argv[1]
tmp = path + '.new'
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(tmp)
s.listen(8)
os.rename(tmp, path)   # take over the listener path; no stratifier ever answers
print('ready', flush=True)
while True:
    conn, _ = s.accept()
    head = conn.recv(4)
    body = conn.recv(struct.unpack('<I', head)[0]) if len(head) == 4 else b''
    if body == b'ping':
        conn.sendall(struct.pack('<I', 4) + b'pong')
    conn.close()
'''


def test_restart_refused_by_listener(tmp_path, capsys):
    (tmp_path / 'main.pid').write_text(str(os.getpid()))
    with Listener(str(tmp_path), {'restart': 'unknown', 'ping': 'pong'}) as listener:
        failed, result = run_module(capsys, dict(socket_dir=str(tmp_path), wait_timeout=2))
    assert failed
    assert 'did not accept the restart' in result['msg'] and "'unknown'" in result['msg']
    assert listener.received == ['ping', 'restart']
    assert result['old_pid'] == os.getpid() and result['new_pid'] is None
    # the command was delivered: honest about it
    assert result['changed'] is True and 'may have taken effect' in result['msg']


def test_deadline_when_old_pid_stays(tmp_path, capsys):
    """ckpool said 'restarting' but no new process ever takes main.pid: a clear failure in time."""
    (tmp_path / 'main.pid').write_text(str(os.getpid()))
    with Listener(str(tmp_path), {'restart': 'restarting', 'ping': 'pong'}):
        started = time.monotonic()
        failed, result = run_module(capsys, dict(socket_dir=str(tmp_path), wait_timeout=1.5))
        elapsed = time.monotonic() - started
    assert failed
    assert elapsed < 1.5 + 1.0   # wait_timeout + 1 s: no call hangs here
    assert 'did not complete within 1.5 s' in result['msg']
    assert 'the old process %d still serves the listener' % os.getpid() in result['msg']
    assert result['changed'] is True and result['new_pid'] is None
    assert [c['command'] for c in result['commands']][:2] == ['ping', 'restart']


def test_deadline_when_new_pid_does_not_answer(tmp_path, capsys):
    """A new process takes the listener (the kernel names it) but its stratifier never answers."""
    children = []

    def take_over(message):
        if message == 'restart':
            child = subprocess.Popen([sys.executable, '-c', NEW_LISTENER, str(tmp_path / 'listener')],
                                     stdout=subprocess.PIPE)
            children.append(child)
            child.stdout.readline()

    try:
        (tmp_path / 'main.pid').write_text(str(os.getpid()))
        with Listener(str(tmp_path), {'restart': 'restarting', 'ping': 'pong'}, on_command=take_over):
            failed, result = run_module(capsys, dict(socket_dir=str(tmp_path), wait_timeout=1.0, timeout=0.5))
        assert failed
        child = children[0]
        assert result['new_pid'] == child.pid and result['pid_seen'] is not None
        assert 'new pid %d answers on the listener but not on the stratifier' % child.pid in result['msg']
        errors = [c for c in result['commands'] if c.get('error')]
        assert errors and errors[-1]['socket'] == 'stratifier' and errors[-1]['error'] == 'not_running'
        # main.pid (still this test's pid) was never trusted
        assert result['pid_file_pid'] == os.getpid()
    finally:
        for child in children:
            child.kill()
            child.wait()


def test_listener_gone_during_wait_is_reported(tmp_path, capsys):
    """The old process left and nothing took its place: the module waits, then says what it saw."""
    def vanish(message):
        if message == 'restart':
            os.unlink(str(tmp_path / 'listener'))

    (tmp_path / 'main.pid').write_text(str(os.getpid()))
    with Listener(str(tmp_path), {'restart': 'restarting', 'ping': 'pong'}, on_command=vanish):
        failed, result = run_module(capsys, dict(socket_dir=str(tmp_path), wait_timeout=0.8))
    assert failed
    assert 'no process serves the listener' in result['msg'] and 'no socket file' in result['msg']
