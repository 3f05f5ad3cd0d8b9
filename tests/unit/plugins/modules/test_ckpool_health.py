# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ckpool_health through its main(), against real simulated pools: healthy, stopped (SIGSTOP),
rejecting miners, shut down, restarted; several instances in one run; its options."""

import os
import signal
import time

import pytest

from ansible_collections.ckpool.fleet.plugins.modules import ckpool_health
from ansible_collections.ckpool.fleet.tests.simulator.fixture import SimPool


def instance(pool, name='main', **extra):
    inst = dict(name=name, socket_dir=pool.sockdir, log_dir=pool.logdir, stratum_port=pool.stratum_port)
    inst.update(extra)
    return inst


def checks(result, name='main'):
    return dict((c['name'], c) for c in result['instances'][name]['checks'])


def wait_status(sim):
    deadline = time.monotonic() + 10
    while not os.path.exists(os.path.join(sim.logdir, 'pool', 'pool.status')) and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture(scope='module')
def pool():
    with SimPool(users=2, status_interval=2) as sim:
        wait_status(sim)
        yield sim


def test_healthy_pool_passes_every_check_and_sends_only_ping(run_module, pool):
    since = len(pool.commands())
    result, failed = run_module(ckpool_health, dict(instances=[instance(pool)], timeout=2))
    assert not failed and result['changed'] is False
    assert result['healthy'] and result['unhealthy'] == [] and result['summary'] == ''
    assert list(checks(result)) == ['process', 'listener_ping', 'stratifier_ping', 'status_age', 'stratum_port',
                                    'stratum_subscribe']
    assert all(c['verdict'] == 'pass' for c in checks(result).values())
    main = result['instances']['main']
    assert main['pid'] == pool.pid and main['mode'] == 'pool' and main['stratum_ms'] > 0
    assert main['workers'] == 2 and main['hashrate_1m'] > 0 and set(main['hashrate']) >= {'1m', '5m', '1d'}
    assert main['started'] and abs(main['started'] - time.time()) < 600
    assert {c['command'] for c in result['commands']} == {'ping'}
    assert all(c['socket_dir'] == pool.sockdir for c in result['commands'])
    assert {c['command'] for c in pool.commands()[since:]} == {'ping'}
    # the probe subscribed and never authorised: no user record was created by it
    assert not any('ckpool.fleet-probe' in line and 'Authorised' in line for line in pool.log_lines())


def test_check_mode_is_the_same_run(run_module, pool):
    result, failed = run_module(ckpool_health, dict(instances=[instance(pool)], timeout=2), check_mode=True)
    assert not failed and result['healthy'] and 'stratum_subscribe' in checks(result)


def test_log_dir_and_mode_are_discovered_from_the_process(run_module, pool):
    inst = dict(name='main', socket_dir=pool.sockdir, stratum_port=pool.stratum_port)
    result, failed = run_module(ckpool_health, dict(instances=[inst]))
    assert not failed and result['healthy']
    assert result['instances']['main']['log_dir'] == pool.logdir and result['instances']['main']['mode'] == 'pool'


def test_a_rejecting_pool_answers_ping_but_serves_no_miner(run_module, pool):
    """The pool the 0.1.0 health check called healthy: pings and TCP connects succeed, nobody is served."""
    assert pool.request('listener', 'reject').reply == 'rejecting'
    try:
        result, failed = run_module(ckpool_health, dict(instances=[instance(pool)], stratum_timeout=0.5))
    finally:
        assert pool.request('listener', 'accept').reply == 'accepting'
    assert not failed and not result['healthy']
    assert result['instances']['main']['failing'] == ['stratum_subscribe']
    assert checks(result)['stratum_port']['verdict'] == 'pass'
    assert checks(result)['listener_ping']['verdict'] == 'pass'
    assert 'no answer to mining.subscribe within 0.5 s' in result['summary']


def test_a_stopped_pool_fails_within_its_deadlines(run_module, pool):
    pid = pool.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        result, failed = run_module(ckpool_health, dict(instances=[instance(pool)], timeout=0.5,
                                                        stratum_timeout=0.5))
        elapsed = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    assert not failed and not result['healthy']
    failing = result['instances']['main']['failing']
    assert {'listener_ping', 'stratifier_ping', 'stratum_subscribe'} <= set(failing)
    assert 'process' not in failing and 'stratum_port' not in failing
    # 2 pings of 0.5 s and the probe's 0.5 s, nothing unbounded
    assert elapsed < 2.5


def test_instances_are_read_in_parallel(run_module, pool):
    with SimPool() as other:
        os.kill(other.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            result, failed = run_module(ckpool_health, dict(
                instances=[instance(pool), instance(other, name='other')], timeout=1.0, stratum_timeout=1.0))
            elapsed = time.monotonic() - started
        finally:
            os.kill(other.pid, signal.SIGCONT)
    assert not failed and result['unhealthy'] == ['other']
    assert result['instances']['main']['healthy'] and not result['instances']['other']['healthy']
    # sequential would be >= 3 s for the stopped one alone plus the other; in parallel it is the slowest one
    assert elapsed < 3.5


def test_a_pool_that_is_not_running(run_module):
    with SimPool() as sim:
        inst = instance(sim)
        pid = sim.pid
        assert sim.request('listener', 'shutdown').reply == 'exiting'
        deadline = time.monotonic() + 5
        while os.path.exists('/proc/%d' % pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        result, failed = run_module(ckpool_health, dict(instances=[inst], stratum_timeout=0.5))
    assert not failed and not result['healthy']
    failing = result['instances']['main']['failing']
    assert failing[:3] == ['process', 'listener_ping', 'stratifier_ping']
    assert 'stratum_port' in failing
    assert checks(result)['process']['reason'].startswith('nothing listens on %s/listener' % inst['socket_dir'])


def test_worker_threshold_right_after_a_restart_is_not_judged(run_module):
    """A restarted pool's first pool.status reads 0 workers: not judged, then judged at the first update."""
    # --sim-zero-first-status: like ckpool, the first status after a start reads Users 0, Workers 0
    with SimPool(users=3, status_interval=3, extra_args=['--sim-zero-first-status']) as sim:
        wait_status(sim)
        old = sim.pid
        assert sim.request('listener', 'restart').reply == 'restarting'
        new = sim.wait_pid_change(old)
        sim.wait_ready(new)
        args = dict(instances=[instance(sim)], min_workers=1, status_interval=3, previous_pids=dict(main=old))
        result, failed = run_module(ckpool_health, args)
        assert not failed
        workers = checks(result)['workers']
        assert workers['verdict'] == 'not_judged' and workers['ok'], workers
        assert 'earlier process' in workers['reason'] or 'first 3-second update' in workers['reason']
        # the new process's own first status: 0 workers, still not judged (it would fail min_workers 1)
        deadline = time.monotonic() + 5
        while result['instances']['main']['runtime'] != 1 and time.monotonic() < deadline:
            time.sleep(0.1)
            result, failed = run_module(ckpool_health, args)
        assert result['instances']['main']['runtime'] == 1 and result['instances']['main']['workers'] == 0
        assert checks(result)['workers']['verdict'] == 'not_judged' and result['healthy']
        assert "first 3-second update" in checks(result)['workers']['reason']
        assert result['instances']['main']['not_judged'] == ['workers']
        assert checks(result)['new_process']['verdict'] == 'pass' and result['healthy']
        # after the first update of the new process the count is judged
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            result, failed = run_module(ckpool_health, args)
            if checks(result)['workers']['verdict'] != 'not_judged':
                break
            time.sleep(0.5)
        assert checks(result)['workers']['verdict'] == 'pass' and checks(result)['workers']['value'] == 3
        # the same threshold above the count fails
        result, failed = run_module(ckpool_health, dict(args, min_workers=4))
        assert checks(result)['workers']['verdict'] == 'fail' and not result['healthy']


def test_a_stale_or_forged_pid_file_decides_nothing(run_module):
    """main.pid naming another live process (recycled pid, a pid file written by someone else): the process
    that serves the directory is proven from the socket, main.pid is only reported."""
    with SimPool() as sim:
        wait_status(sim)
        real = sim.pid
        with open(os.path.join(sim.sockdir, 'main.pid'), 'w') as handle:
            handle.write(str(os.getpid()))
        result, failed = run_module(ckpool_health, dict(instances=[instance(sim)]))
        assert not failed and result['healthy']
        item = checks(result)['process']
        assert item['value'] == real and 'stale pid file' in item['reason']
        assert result['pids'] == {'main': real}
        # and a directory nobody serves is not made healthy by a live pid in main.pid
        assert sim.request('listener', 'shutdown').reply == 'exiting'
        deadline = time.monotonic() + 5
        while os.path.exists('/proc/%d' % real) and time.monotonic() < deadline:
            time.sleep(0.02)
        with open(os.path.join(sim.sockdir, 'main.pid'), 'w') as handle:
            handle.write(str(os.getpid()))
        result, failed = run_module(ckpool_health, dict(instances=[instance(sim)], stratum_timeout=0.3))
        assert not result['healthy'] and checks(result)['process']['verdict'] == 'fail'
        assert 'still running' in checks(result)['process']['reason']


def test_previous_pid_still_running_fails_new_process(run_module, pool):
    result, failed = run_module(ckpool_health, dict(instances=[instance(pool)], previous_pids=dict(main=pool.pid)))
    assert not failed and result['instances']['main']['failing'] == ['new_process']


def test_thresholds(run_module, pool):
    result, failed = run_module(ckpool_health, dict(instances=[instance(pool)], status_interval=2, min_workers=2,
                                                    min_hashrate_1m=1, min_hashrate_5m=1, max_reject_ratio=1.0))
    assert not failed
    for name in ('workers', 'hashrate_1m', 'hashrate_5m'):
        assert checks(result)[name]['verdict'] in ('pass', 'not_judged'), checks(result)[name]
    result, failed = run_module(ckpool_health, dict(instances=[instance(pool)], min_hashrate_1m=1e30,
                                                    status_interval=2))
    assert checks(result)['hashrate_1m']['verdict'] in ('fail', 'not_judged')


def test_passthrough_instances_get_no_status_checks(run_module, pool):
    result, failed = run_module(ckpool_health, dict(instances=[instance(pool, mode='passthrough', log_dir=None)],
                                                    min_workers=5))
    assert not failed and result['healthy']
    assert 'status_age' not in checks(result) and 'workers' not in checks(result)


def test_users(run_module, pool):
    result, failed = run_module(ckpool_health, dict(instances=[instance(pool)], users=True))
    assert not failed and len(result['instances']['main']['user_stats']) == 2


def test_readings_stop_at_the_first_unhealthy_one(run_module, pool):
    started = time.monotonic()
    result, failed = run_module(ckpool_health, dict(instances=[instance(pool)], readings=3, interval=0.3))
    assert not failed and result['healthy'] and len(result['readings']) == 3
    assert time.monotonic() - started >= 0.6
    result, failed = run_module(ckpool_health, dict(instances=[instance(pool)], readings=3, interval=0.3,
                                                    previous_pids=dict(main=pool.pid)))
    assert not result['healthy'] and len(result['readings']) == 1


def test_default_instance_is_socket_dir(run_module, pool):
    result, failed = run_module(ckpool_health, dict(socket_dir=pool.sockdir))
    assert not failed and list(result['instances']) == ['ckpool'] and result['healthy']
    assert 'stratum_port' not in checks(result, 'ckpool')


@pytest.mark.parametrize('args, message', [
    (dict(stale_after=0), 'stale_after'),
    (dict(min_workers=-1), 'min_workers'),
    (dict(min_hashrate_1m=float('nan')), 'min_hashrate_1m'),
    (dict(min_hashrate_5m=-1.0), 'min_hashrate_5m'),
    (dict(max_reject_ratio=1.5), 'max_reject_ratio'),
    (dict(stratum_timeout=0), 'stratum_timeout'),
    (dict(stratum_timeout=float('inf')), 'stratum_timeout'),
    (dict(stratum_user_agent='a\nb'), 'stratum_user_agent'),
    (dict(status_interval=0), 'status_interval'),
    (dict(readings=0), 'readings'),
    (dict(interval=-1.0), 'interval'),
    (dict(previous_pids=dict(main='x')), 'previous_pids'),
    (dict(previous_pids=dict(nosuch=1)), 'unknown instance'),
    (dict(instances=[dict(name='x')]), 'has no socket_dir'),
    (dict(instances=[]), 'no instance to check'),
    (dict(instances=[dict(name='x', socket_dir='/tmp/x', stratum_port=99999)]), 'stratum_port'),
])
def test_invalid_options(run_module, args, message):
    args.setdefault('instances', [dict(name='main', socket_dir='/tmp/nowhere')])
    result, failed = run_module(ckpool_health, args)
    assert failed and message in result['msg'], result['msg']


def test_textfile_written_atomically_in_the_same_run(run_module, pool, tmp_path):
    path = str(tmp_path / 'textfile' / 'ckpool.prom')
    result, failed = run_module(ckpool_health, dict(instances=[instance(pool)], textfile=path, textfile_per_user=True))
    assert not failed and result['changed'] and result['textfile']['written']
    with open(path) as handle:
        text = handle.read()
    assert 'ckpool_healthy{ckpool_instance="main"} 1' in text
    assert 'ckpool_check_ok{ckpool_instance="main",check="stratum_subscribe"} 1' in text
    assert 'ckpool_stratum_serving{ckpool_instance="main"} 1' in text
    assert 'ckpool_user_hashrate_hashes_per_second{' in text
    assert result['textfile']['series'] == sum(1 for line in text.splitlines() if line and not line.startswith('#'))
    # only the metrics file is left in the directory (the temporary file was renamed)
    assert os.listdir(str(tmp_path / 'textfile')) == ['ckpool.prom']
    assert oct(os.stat(path).st_mode & 0o777) == '0o644'


def test_textfile_reports_an_unhealthy_instance(run_module, pool, tmp_path):
    path = str(tmp_path / 'ckpool.prom')
    assert pool.request('listener', 'reject').reply == 'rejecting'
    try:
        result, failed = run_module(ckpool_health, dict(instances=[instance(pool)], textfile=path, stratum_timeout=0.3))
    finally:
        pool.request('listener', 'accept')
    with open(path) as handle:
        text = handle.read()
    assert 'ckpool_healthy{ckpool_instance="main"} 0' in text
    assert 'ckpool_stratum_serving{ckpool_instance="main"} 0' in text
    assert 'ckpool_user_' not in text


def test_textfile_not_written_in_check_mode(run_module, pool, tmp_path):
    path = str(tmp_path / 'ckpool.prom')
    result, failed = run_module(ckpool_health, dict(instances=[instance(pool)], textfile=path), check_mode=True)
    assert not failed and not result['changed'] and result['textfile']['written'] is False
    assert not os.path.exists(path)


@pytest.mark.parametrize('path', ['relative.prom', '/tmp/metrics.txt', '/tmp/.prom'])
def test_textfile_path_is_checked(run_module, pool, path):
    result, failed = run_module(ckpool_health, dict(instances=[instance(pool)], textfile=path))
    assert failed and 'textfile must be an absolute path ending in .prom' in result['msg']
