# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The invariants of issue 8, each attacked through the modules' main() against real processes:
the simulator (real unix sockets, a real stratum port, real files), real stratum miners forging
worker names, stale pid files naming other live processes, a ``sleep`` started as ``ckpool``,
late answers, hung sockets and bad numbers."""

import contextlib
import os
import signal
import subprocess
import time

import pytest

from ansible_collections.ckpool.fleet.plugins.modules import (
    ckpool_control,
    ckpool_dropuser,
    ckpool_info,
    ckpool_loglevel,
    ckpool_restart,
    ckpool_shutdown,
)
from ansible_collections.ckpool.fleet.tests.simulator.fixture import SimPool, StratumClient


@contextlib.contextmanager
def guard(seconds):
    """Fail (instead of hanging the suite) when the block runs longer than ``seconds``."""
    def expired(signum, frame):
        raise AssertionError('still running after %.1f s: the module hangs' % seconds)
    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    with open('/proc/%d/stat' % pid) as handle:
        return handle.read().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')


def wait_dead(pid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, 'pid %d still alive' % pid
        time.sleep(0.02)


def stop_and_wait(pid):
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 5
    while open('/proc/%d/stat' % pid).read().rsplit(')', 1)[1].split()[0] != 'T':
        assert time.monotonic() < deadline
        time.sleep(0.01)


def mutating(pool, since=0):
    return [(c['socket'], c['command']) for c in pool.commands(since) if c['command'] not in
            ('ping', 'stratifierstats', 'connectorstats', 'getbase', 'getbest')]


@pytest.fixture
def pool():
    with SimPool(users=1) as sim:
        yield sim


@pytest.fixture
def fake_ckpool(tmp_path):
    """A `sleep` started with argv0 "ckpool" (exec -a): a name proves nothing."""
    proc = subprocess.Popen(['bash', '-c', 'exec -a ckpool sleep 60'])
    deadline = time.monotonic() + 5
    while open('/proc/%d/cmdline' % proc.pid, 'rb').read().split(b'\0')[0] != b'ckpool':
        assert time.monotonic() < deadline
        time.sleep(0.01)
    yield proc
    proc.kill()
    proc.wait()


# ------------------------------------------------------------------ liveness from the sockets

def test_running_pool_without_main_pid_is_running_and_gets_shut_down(pool, run_module):
    pid = pool.pid
    os.unlink(os.path.join(pool.sockdir, 'main.pid'))
    result, failed = run_module(ckpool_info, dict(socket_dir=pool.sockdir, gather=['process', 'health']))
    assert not failed and result['process']['running'] is True and result['process']['pid'] == pid
    assert result['process']['pid_file_pid'] is None and result['health']['healthy'] is True
    result, failed = run_module(ckpool_shutdown, dict(socket_dir=pool.sockdir, wait_timeout=10))
    assert not failed, (result.get('msg'), result)
    assert result['changed'] is True and result['was_running'] is True and result['stopped'] is True
    assert mutating(pool) == [('listener', 'shutdown')]
    wait_dead(pid)


def test_typo_socket_dir_is_not_running_and_says_why(tmp_path, run_module):
    result, failed = run_module(ckpool_shutdown, dict(socket_dir=str(tmp_path / 'nope')))
    assert not failed and result['changed'] is False and result['was_running'] is False
    result, failed = run_module(ckpool_loglevel, dict(socket_dir=str(tmp_path / 'nope'), level=5,
                                                      state_file=str(tmp_path / 's')))
    assert failed and 'socket directory %s does not exist' % (tmp_path / 'nope') in result['msg']


# ------------------------------------------------------------------ signals only for a proven owner

def test_stale_pid_file_naming_another_pool_is_never_signalled(tmp_path, run_module):
    with SimPool(str(tmp_path / 'a'), name='a') as first, SimPool(str(tmp_path / 'b'), name='b') as other:
        first.request('listener', 'shutdown')
        wait_dead(first.first_pid)
        # pid reuse on a multi-instance host: a's stale main.pid now names b's live process
        with open(os.path.join(first.sockdir, 'main.pid'), 'w') as handle:
            handle.write(str(other.pid))
        result, failed = run_module(ckpool_shutdown, dict(socket_dir=first.sockdir, force=True, timeout=1,
                                                          wait_timeout=2))
        assert not failed, (result.get('msg'), result)
        assert result['changed'] is False and result['was_running'] is False and result['pid'] is None
        assert result['pid_file_pid'] == other.pid
        time.sleep(0.3)
        assert alive(other.pid) and other.request('listener', 'ping').reply == 'pong'
        assert mutating(other) == []


def test_force_signals_the_owner_not_the_fake_named_in_main_pid(pool, run_module, fake_ckpool):
    pid = pool.pid
    with open(os.path.join(pool.sockdir, 'main.pid'), 'w') as handle:
        handle.write(str(fake_ckpool.pid))
    stop_and_wait(pid)   # a hung ckpool: the kernel accepts connections, nothing answers
    with guard(10):
        started = time.monotonic()
        result, failed = run_module(ckpool_shutdown, dict(socket_dir=pool.sockdir, timeout=0.5, wait_timeout=2,
                                                          force=True))
        elapsed = time.monotonic() - started
    assert not failed, (result.get('msg'), result)
    assert result['pid'] == pid and result['pid_file_pid'] == fake_ckpool.pid
    assert result['method'] == 'sigkill' and result['stopped'] is True   # SIGTERM waits while stopped
    assert elapsed < 2 + 0.5 + 1   # wait_timeout + timeout + 1 s
    wait_dead(pid)
    assert fake_ckpool.poll() is None, 'the process merely named ckpool was signalled'


def test_force_without_proof_refuses_to_signal(pool, run_module, fake_ckpool, monkeypatch):
    # Nothing proves which process serves the directory (as when /proc/PID/fd is not readable):
    # the listener's peer is known, but the kernel's view cannot confirm it.
    from ansible_collections.ckpool.fleet.plugins.module_utils import process
    monkeypatch.setattr(process, 'holds_listener', lambda pid, sockdir, sock='listener': (False, 'no proof'))
    pid = pool.pid
    stop_and_wait(pid)
    try:
        result, failed = run_module(ckpool_shutdown, dict(socket_dir=pool.sockdir, timeout=0.5, wait_timeout=1,
                                                          force=True))
        assert failed and 'refusing to signal' in result['msg'] and 'no proof' in result['msg']
        assert alive(pid)
    finally:
        os.kill(pid, signal.SIGCONT)


# ------------------------------------------------------------------ honest changed after late answers

def test_late_shutdown_answer_is_changed_and_succeeds(tmp_path, run_module):
    with SimPool(str(tmp_path / 'p'), faults=['slow=2:listener:shutdown']) as sim:
        pid = sim.pid
        with guard(15):
            result, failed = run_module(ckpool_shutdown, dict(socket_dir=sim.sockdir, timeout=1, wait_timeout=8))
        assert not failed, (result.get('msg'), result)
        assert result['changed'] is True and result['stopped'] is True
        wait_dead(pid)


def test_late_loglevel_answer_reports_changed(tmp_path, run_module):
    with SimPool(str(tmp_path / 'p'), faults=['slow=3:listener:loglevel']) as sim:
        result, failed = run_module(ckpool_loglevel, dict(socket_dir=sim.sockdir, level=7, timeout=1,
                                                          state_file=str(tmp_path / 's')))
        assert failed and result['changed'] is True
        assert 'loglevel=7 to the listener was delivered to ckpool before this failure and may have taken effect' \
            in result['msg']
        time.sleep(2.5)
        assert ('listener', 'loglevel=7') in mutating(sim)


def test_late_restart_answer_still_waits_for_the_handover(tmp_path, run_module):
    with SimPool(str(tmp_path / 'p'), faults=['slow=2:listener:restart']) as sim:
        old = sim.pid
        with guard(20):
            result, failed = run_module(ckpool_restart, dict(socket_dir=sim.sockdir, timeout=1, wait_timeout=10))
        assert not failed, (result.get('msg'), result)
        assert result['changed'] is True and result['old_pid'] == old and result['new_pid'] not in (None, old)


def test_control_verb_answer_late_is_changed(tmp_path, run_module):
    with SimPool(str(tmp_path / 'p'), faults=['slow=3:listener:reject']) as sim:
        result, failed = run_module(ckpool_control, dict(socket_dir=sim.sockdir, verb='reject', timeout=1))
        assert failed and result['changed'] is True and result['sent'] is True


# ------------------------------------------------------------------ one deadline per run

def test_info_against_hung_sockets_ends_within_one_timeout(tmp_path, run_module):
    with SimPool(str(tmp_path / 'p'), faults=['hang:listener', 'hang:stratifier']) as sim:
        with guard(10):
            started = time.monotonic()
            result, failed = run_module(ckpool_info, dict(socket_dir=sim.sockdir, timeout=2,
                                                          gather=['process', 'health', 'stratifier', 'connector']))
            elapsed = time.monotonic() - started
        assert not failed, (result.get('msg'), result)
        assert elapsed < 2 + 1, elapsed
        assert result['health']['healthy'] is False and result['process']['running'] is True


def test_shutdown_of_a_hung_pool_without_force_ends_in_time(tmp_path, run_module):
    with SimPool(str(tmp_path / 'p'), faults=['hang:listener']) as sim:
        with guard(10):
            started = time.monotonic()
            result, failed = run_module(ckpool_shutdown, dict(socket_dir=sim.sockdir, timeout=1, wait_timeout=30))
            elapsed = time.monotonic() - started
        assert failed and 'force=true' in result['msg']
        assert elapsed < 1 + 1
        assert alive(sim.pid)


# ------------------------------------------------------------------ bad numbers and text

@pytest.mark.parametrize('module, args, wanted', [
    (ckpool_shutdown, dict(force=True, wait_timeout=float('nan')), 'wait_timeout is nan, not a finite number'),
    (ckpool_shutdown, dict(wait_timeout=float('inf')), 'wait_timeout is inf, not a finite number'),
    (ckpool_shutdown, dict(wait_timeout=-1), 'wait_timeout must be > 0'),
    (ckpool_shutdown, dict(wait_timeout=10 ** 9), 'wait_timeout must be <= 86400'),
    (ckpool_restart, dict(poll_interval=float('nan')), 'poll_interval is nan'),
    (ckpool_restart, dict(wait_timeout=float('nan')), 'wait_timeout is nan'),
    (ckpool_info, dict(timeout=float('nan')), 'timeout is nan'),
    (ckpool_info, dict(timeout=0), 'timeout must be > 0'),
    (ckpool_info, dict(gather=['users'], users_limit=-1), 'users_limit must be >= 0'),
    (ckpool_info, dict(gather=['blocks'], blocks_limit=0), 'blocks_limit must be >= 1'),
    (ckpool_info, dict(gather=['blocks'], log_max_bytes=0), 'log_max_bytes must be >= 1'),
    (ckpool_info, dict(stale_after=-5), 'stale_after must be >= 0'),
    (ckpool_info, dict(connector_ping=True, connector_timeout=float('-inf')), 'connector_timeout is -inf'),
    (ckpool_dropuser, dict(user='alice', connector_timeout=float('nan')), 'connector_timeout is nan'),
    (ckpool_dropuser, dict(user='alice', log_max_bytes=2 ** 50), 'log_max_bytes must be <= '),
    (ckpool_loglevel, dict(level='\u00b2'), "invalid level '\u00b2'"),
    (ckpool_loglevel, dict(level='\u0663'), "invalid level"),
    (ckpool_loglevel, dict(level=7.5), "invalid level"),
    (ckpool_control, dict(verb='reject', timeout=float('nan')), 'timeout is nan'),
])
def test_bad_numbers_fail_clearly_before_anything_is_sent(pool, run_module, tmp_path, module, args, wanted):
    before = len(pool.commands())
    args = dict(args, socket_dir=pool.sockdir)
    if module is ckpool_loglevel:
        args['state_file'] = str(tmp_path / 's.json')
    with guard(10):
        result, failed = run_module(module, args)
    assert failed and wanted in result['msg'], result['msg']
    assert result['changed'] is False and result['commands'] == []
    assert pool.commands()[before:] == []


def test_query_that_selects_no_data_fails_clearly(pool, run_module):
    result, failed = run_module(ckpool_info, dict(socket_dir=pool.sockdir, gather=['process'], query='&foo'))
    assert failed and 'does not select data' in result['msg']


def test_huge_pid_in_main_pid_is_reported_not_a_crash(pool, run_module):
    pid = pool.pid
    with open(os.path.join(pool.sockdir, 'main.pid'), 'w') as handle:
        handle.write('99999999999999999999')
    result, failed = run_module(ckpool_info, dict(socket_dir=pool.sockdir, gather=['process']))
    assert not failed and result['process']['running'] is True and result['process']['pid'] == pid
    assert result['process']['pid_file_pid'] is None
    result, failed = run_module(ckpool_shutdown, dict(socket_dir=pool.sockdir, wait_timeout=5))
    assert not failed and result['stopped'] is True


# ------------------------------------------------------------------ forged worker names over stratum

def forged_line(message):
    now = time.time()
    return '[%s.%03d] %s' % (time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(now)), int(now * 1000) % 1000,
                             message)


def noise(pool, nbytes=2600):
    """Make the pool write at least ``nbytes`` of its own log lines (debug level: stats requests)."""
    size = os.path.getsize(os.path.join(pool.logdir, 'ckpool.log'))
    while os.path.getsize(os.path.join(pool.logdir, 'ckpool.log')) < size + nbytes:
        pool.request('listener', 'stratifierstats')


def miner(pool, worker):
    client = StratumClient('127.0.0.1', pool.stratum_port)
    client.subscribe()
    assert client.authorize(worker) is True
    return client


def test_dropuser_with_miners_forging_lines_over_stratum(tmp_path, run_module):
    with SimPool(str(tmp_path / 'p'), loglevel=7) as sim:
        clients = []
        try:
            alice_early = miner(sim, 'alice.early')
            clients.append(alice_early)
            noise(sim)   # > 2 KiB of the pool's own lines in between
            bob = miner(sim, 'bob.rig1')
            clients.append(bob)
            bob_id = sim.client_id('bob.rig1')
            # after bob: a line giving bob's id to alice
            clients.append(miner(sim, 'mallory.w\n%s\nz' % forged_line(
                'Authorised client %d 127.0.0.1 worker alice.x as user alice' % bob_id)))
            # before alice's next connection: a claim on the id she will get, and a drop of her first one
            early_id = sim.client_id('alice.early')
            clients.append(miner(sim, 'mallory.v\n%s\n%s\nz' % (
                forged_line('Dropped client %d 127.0.0.1 user alice worker alice.early ' % early_id),
                forged_line('Authorised client %d 127.0.0.1 worker carol.x as user carol' % (bob_id + 3)))))
            noise(sim)
            alice_late = miner(sim, 'alice.late')
            clients.append(alice_late)
            late_id = sim.client_id('alice.late')
            assert late_id == bob_id + 3   # the forger guessed right

            result, failed = run_module(ckpool_dropuser, dict(socket_dir=sim.sockdir, user='alice'),
                                        check_mode=True)
            assert not failed, (result.get('msg'), result)
            assert sorted(c['id'] for c in result['dropped_clients']) == [early_id], result['refused_clients']
            assert dict((r['id'], r['reason']) for r in result['refused_clients']) == {
                bob_id: 'claimed_by_several_users', late_id: 'claimed_by_several_users'}

            result, failed = run_module(ckpool_dropuser, dict(socket_dir=sim.sockdir, user='alice'))
            assert not failed, (result.get('msg'), result)
            assert result['changed'] is True
            assert [cmd for s, cmd in mutating(sim)] == ['dropclient=%d' % early_id]
            assert alice_early.wait_eof(3)
            assert not bob.wait_eof(0.5), 'bob was dropped on the strength of a forged line'
        finally:
            for client in clients:
                client.close()


def test_blocks_forged_over_stratum_are_not_reported(tmp_path, run_module):
    with SimPool(str(tmp_path / 'p'), loglevel=7) as sim:
        clients = []
        try:
            honest = miner(sim, 'alice.rig1')
            clients.append(honest)
            honest.submit(nonce='b10cb10c')   # the simulator's block-solving nonce
            sim.wait_for_log(r'Solved and confirmed block \d+ by alice.rig1')
            noise(sim)
            clients.append(miner(sim, '\n%s\n%s' % (forged_line('BLOCK ACCEPTED!'),
                                                    forged_line('Solved and confirmed block 999999 by mallory.x'))))
            result, failed = run_module(ckpool_info, dict(socket_dir=sim.sockdir, gather=['blocks']))
            assert not failed, (result.get('msg'), result)
            assert [b['worker'] for b in result['blocks']] == ['alice.rig1']
            assert [b['height'] for b in result['suspicious_blocks']] == [999999]
        finally:
            for client in clients:
                client.close()
