# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ckpool_restart's health gates (the ckpool_health checks before and after a handover), against
the simulator: a passing rollout, a pre-gate that refuses to restart, a post-gate that catches a
new process that stops answering, check mode, bad gate options."""

import os
import signal
import socket
import struct
import threading
import time

import pytest

from ansible_collections.ckpool.fleet.plugins.modules import ckpool_restart
from ansible_collections.ckpool.fleet.tests.simulator.fixture import SimPool


def started(pool):
    """The pool once its first pool.status exists (1 s after the start): a gate reads it."""
    deadline = time.monotonic() + 10
    while not os.path.exists(os.path.join(pool.logdir, 'pool', 'pool.status')) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pool


def gate_for(pool, **extra):
    gate = dict(instance=dict(name='main', socket_dir=pool.sockdir, log_dir=pool.logdir,
                              stratum_port=pool.stratum_port))
    gate.update(extra)
    return gate


def sent(pool, since):
    return [c['command'] for c in pool.commands()[since:]]


def pong(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(0.5)
    try:
        sock.connect(path)
        sock.sendall(struct.pack('<I', 4) + b'ping')
        return sock.recv(8)[4:] == b'pong'
    except OSError:
        return False
    finally:
        sock.close()


def test_gated_handover_passes_both_gates(run_module):
    with SimPool(users=2) as pool:
        started(pool)
        old = pool.pid
        since = len(pool.commands())
        begin = time.monotonic()
        result, failed = run_module(ckpool_restart, dict(socket_dir=pool.sockdir, timeout=2, wait_timeout=15,
                                                         gate=gate_for(pool, readings=2, interval=0.5,
                                                                       min_workers=1)))
        elapsed = time.monotonic() - begin
        assert not failed, result['msg'] if failed else ''
        assert result['changed'] and result['old_pid'] == old and result['new_pid'] == pool.pid != old
        assert result['pre_gate']['main']['healthy'] and result['pre_gate']['main']['pid'] == old
        post = result['post_gate']['main']
        assert post['healthy'] and post['pid'] == result['new_pid']
        names = dict((c['name'], c) for c in post['checks'])
        assert names['new_process']['verdict'] == 'pass' and names['stratum_subscribe']['verdict'] == 'pass'
        # the new process has not had its first status update yet: its worker count is not judged
        assert names['workers']['verdict'] == 'not_judged'
        assert [r['healthy'] for r in result['post_gate_readings']] == [True, True]
        assert elapsed >= 0.5
        # (the new process's own handover commands, getxfd/reject/reconnect/shutdown, are in the pool's log too)
        assert sent(pool, since).count('restart') == 1
        assert {c['command'] for c in result['commands']} == {'ping', 'restart'}
        # the gate's pings are in the audit trail too
        assert sum(1 for c in result['commands'] if c['command'] == 'ping') >= 6


def test_pre_gate_failure_sends_nothing(run_module):
    with SimPool() as pool:
        started(pool)
        old = pool.pid
        assert pool.request('listener', 'reject').reply == 'rejecting'
        since = len(pool.commands())
        result, failed = run_module(ckpool_restart, dict(socket_dir=pool.sockdir, gate=gate_for(pool,
                                                                                                stratum_timeout=0.5)))
        assert failed and result['changed'] is False
        assert result['msg'].startswith('pre-gate failed, nothing was sent: instance main fails stratum_subscribe')
        assert result['pre_gate']['main']['failing'] == ['stratum_subscribe']
        assert 'restart' not in sent(pool, since) and pool.pid == old


def test_post_gate_catches_a_new_process_that_stops_answering(run_module):
    with SimPool() as pool:
        started(pool)
        old = pool.pid
        stopped = []

        def sabotage():
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                pid = pool.pid
                if pid and pid != old and pong(pool.socket_path('listener')):
                    time.sleep(0.3)
                    os.kill(pid, signal.SIGSTOP)
                    stopped.append(pid)
                    return
                time.sleep(0.01)

        thread = threading.Thread(target=sabotage, daemon=True)
        thread.start()
        try:
            result, failed = run_module(ckpool_restart, dict(
                socket_dir=pool.sockdir, timeout=0.5, wait_timeout=15,
                gate=gate_for(pool, readings=3, interval=1, stratum_timeout=0.5)))
        finally:
            thread.join(25)
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
        assert stopped, 'the sabotage did not run'
        assert failed and result['changed'] is True
        assert result['msg'].startswith('post-gate failed after the handover of pid %d to %d' % (old, stopped[0]))
        assert 'listener_ping' in result['post_gate']['main']['failing']
        readings = result['post_gate_readings']
        assert readings[0]['healthy'] and not readings[-1]['healthy'] and len(readings) < 3 + 1


def test_the_host_wide_pre_gate_protects_the_next_instance(run_module):
    """Restarting a host instance by instance: a broken first instance stops the second one's restart."""
    with SimPool() as first, SimPool() as second:
        started(first)
        started(second)
        instances = [dict(name='first', socket_dir=first.sockdir, log_dir=first.logdir,
                          stratum_port=first.stratum_port),
                     dict(name='second', socket_dir=second.sockdir, log_dir=second.logdir,
                          stratum_port=second.stratum_port)]
        assert first.request('listener', 'reject').reply == 'rejecting'
        old = second.pid
        since = len(second.commands())
        result, failed = run_module(ckpool_restart, dict(socket_dir=second.sockdir, gate=dict(
            instances=instances, stratum_timeout=0.5)))
        assert failed and 'instance first fails stratum_subscribe' in result['msg']
        assert result['pre_gate']['second']['healthy'] and not result['pre_gate']['first']['healthy']
        assert 'restart' not in sent(second, since) and second.pid == old


def test_check_mode_runs_the_pre_gate_only(run_module):
    with SimPool() as pool:
        started(pool)
        old = pool.pid
        since = len(pool.commands())
        args = dict(socket_dir=pool.sockdir, gate=gate_for(pool, readings=3, interval=5))
        result, failed = run_module(ckpool_restart, args, check_mode=True)
        assert not failed and result['changed'] and result['pre_gate']['main']['healthy']
        assert 'post_gate' not in result and result['new_pid'] is None
        assert set(sent(pool, since)) == {'ping'} and pool.pid == old


def test_default_gate_instance_is_the_socket_dir(run_module):
    with SimPool() as pool:
        started(pool)
        result, failed = run_module(ckpool_restart, dict(socket_dir=pool.sockdir, gate={}), check_mode=True)
        assert not failed and result['pre_gate']['ckpool']['healthy'] and result['pre_gate']['ckpool']['stratum'] is None


@pytest.mark.parametrize('gate, message', [
    (dict(nosuch=1), 'unknown key(s) nosuch'),
    (dict(min_workers='many'), 'min_workers must be an integer'),
    (dict(max_reject_ratio=2), 'max_reject_ratio must be 0-1'),
    (dict(readings=0), 'readings must be 1-100'),
    (dict(interval=-1), 'interval must be 0-3600'),
    (dict(instance=dict(name='x', socket_dir='/elsewhere')), 'no instance has the socket_dir'),
    (dict(instances=[dict(name='x', socket_dir='/elsewhere')]), 'no instance has the socket_dir'),
    (dict(instance=dict(name='x', socket_dir='/tmp/nowhere-ckpool'), instances=[]), 'not both'),
    (dict(instance=dict(name='x')), 'has no socket_dir'),
])
def test_invalid_gate(run_module, gate, message):
    result, failed = run_module(ckpool_restart, dict(socket_dir='/tmp/nowhere-ckpool', gate=gate))
    assert failed and message in result['msg'], result['msg']
    assert result['commands'] == []
