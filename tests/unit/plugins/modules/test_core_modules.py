# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module tests of ckpool_info, ckpool_loglevel, ckpool_dropuser and ckpool_shutdown.

Each runs the module's main() in-process against a simulated ckpool (a
separate process with real unix sockets, real files and a real stratum port)
and checks the simulator's command log for what was really sent.
"""


import json
import os
import signal
import time

import pytest

from ansible_collections.ckpool.fleet.plugins.modules import (
    ckpool_dropuser,
    ckpool_info,
    ckpool_loglevel,
    ckpool_shutdown,
)
from ansible_collections.ckpool.fleet.tests.simulator.fixture import SimPool

READS = {'ping', 'stratifierstats', 'connectorstats', 'getbase', 'getbest'}


def sent(pool):
    """(socket, command) pairs the simulator received since the fixture became ready."""
    return [(c['socket'], c['command']) for c in pool.commands(getattr(pool, 'baseline', 0))]


def wait_dead(pid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        assert time.monotonic() < deadline, 'pid %d still alive' % pid
        time.sleep(0.02)


@pytest.fixture
def pool():
    with SimPool(users=3, workers_per_user=2) as sim:
        # pool.status is first written 1 s after start
        deadline = time.monotonic() + 5
        while not os.path.exists(os.path.join(sim.logdir, 'pool', 'pool.status')):
            assert time.monotonic() < deadline, 'simulator never wrote pool.status'
            time.sleep(0.05)
        sim.baseline = len(sim.commands())
        yield sim


# ---------------------------------------------------------------- ckpool_info
def test_info_defaults_read_only(pool, run_module):
    result, failed = run_module(ckpool_info, dict(socket_dir=pool.sockdir))
    assert not failed, result
    assert result['changed'] is False
    assert result['process']['running'] is True and result['process']['pid'] == pool.pid
    assert result['process']['mode'] == 'pool'    # from the serving process's command line
    assert result['process']['name'] == os.path.basename(pool.logfile)[:-len('.log')]
    assert result['health']['healthy'] is True
    assert result['log_dir'] == pool.logdir  # discovered from the process's -c argument
    assert result['pool']['stale'] is False and 'hashrate' in result['pool']
    assert 'workbases' in result['stratifier'] and 'clients' in result['connector']
    assert result['gathered'] == ['process', 'health', 'pool', 'stratifier', 'connector']
    assert {cmd for dummy, cmd in sent(pool)} <= READS
    assert [c['command'] for c in result['commands']] == ['ping', 'ping', 'stratifierstats', 'connectorstats']


def test_info_gather_grammar_users_and_query(pool, run_module):
    result, failed = run_module(ckpool_info, dict(socket_dir=pool.sockdir, gather=['all', '!work*', '!blocks'],
                                                  users=['user000*']))
    assert not failed, result
    assert 'workbase' not in result['gathered'] and 'workers' not in result['gathered']
    assert 'users' in result and len(result['users']) == 3
    result, failed = run_module(ckpool_info, dict(socket_dir=pool.sockdir, gather=['workers'],
                                                  users=[result['users'][0]['name']],
                                                  query='workers[].workername'))
    assert not failed, result
    assert 'workers' not in result and len(result['query_result']) == 2
    assert not any(cmd.lower().startswith(('getuser', 'userclients')) for dummy, cmd in sent(pool))


def test_info_users_as_json_text_and_numbers_only(pool, run_module):
    base = dict(socket_dir=pool.sockdir, gather=['users', 'workers'], users=['user000*'])
    listed, failed = run_module(ckpool_info, base)
    assert not failed, listed
    assert all('hashrate_raw' in u for u in listed['users'])
    numeric, failed = run_module(ckpool_info, dict(base, hashrate_strings=False))
    assert not failed and all('hashrate_raw' not in u for u in numeric['users'])
    assert all('hashrate_raw' not in w for w in numeric['workers'])
    text, failed = run_module(ckpool_info, dict(base, hashrate_strings=False, users_format='json'))
    assert not failed, text
    assert 'users' not in text and 'workers' not in text
    assert isinstance(text['users_json'], str) and isinstance(text['workers_json'], str)

    def without_null_lhr_keys(items):
        for item in items:
            for worker in item.get('worker', [item]):
                for key in ('started', 'useragent'):
                    if worker.get(key, 0) is None:
                        del worker[key]
        return items
    assert json.loads(text['users_json']) == without_null_lhr_keys(numeric['users'])
    assert json.loads(text['workers_json']) == without_null_lhr_keys(numeric['workers'])
    assert text['users_total'] == numeric['users_total'] == 3
    result, failed = run_module(ckpool_info, dict(base, users_format='json', query='users[].name'))
    assert failed and 'users_format=list' in result['msg']


def test_info_bad_gather_and_bad_user_pattern(pool, run_module):
    result, failed = run_module(ckpool_info, dict(socket_dir=pool.sockdir, gather=['pool', 'bogus']))
    assert failed and 'bogus' in result['msg'] and result['commands'] == []
    result, failed = run_module(ckpool_info, dict(socket_dir=pool.sockdir, gather=['users'], users=['../etc']))
    assert failed
    result, failed = run_module(ckpool_info, dict(socket_dir='relative/dir'))
    assert failed and 'absolute' in result['msg']


def test_info_stopped_pool_is_not_a_failure(pool, run_module):
    logdir = pool.logdir
    pid = pool.pid
    pool.request('listener', 'shutdown')
    wait_dead(pid)
    result, failed = run_module(ckpool_info, dict(socket_dir=pool.sockdir, log_dir=logdir))
    assert not failed, result
    assert result['process']['running'] is False
    assert result['health']['healthy'] is False
    assert result['health']['listener']['error'] == 'not_running'
    assert result['stratifier'] is None and result['connector'] is None
    assert result['pool'] is not None  # last pool.status still returned


# ------------------------------------------------------------ ckpool_loglevel
def test_loglevel_check_apply_reapply_and_restart_forgets(pool, run_module, tmp_path):
    state = str(tmp_path / 'state.json')
    args = dict(socket_dir=pool.sockdir, level='debug', state_file=state)
    result, failed = run_module(ckpool_loglevel, args, check_mode=True, diff=True)
    assert not failed and result['changed'] is True and result['reply'] is None
    assert 'unknown' in result['diff']['before']
    assert not any(cmd.startswith('loglevel') for dummy, cmd in sent(pool))

    result, failed = run_module(ckpool_loglevel, args)
    assert not failed and result['changed'] is True and result['reply'] == 'success' and result['level'] == 7
    assert sent(pool)[-1] == ('listener', 'loglevel=7')

    count = len(pool.commands())
    result, failed = run_module(ckpool_loglevel, args)
    assert not failed and result['changed'] is False and result['previous_level'] == 7
    assert [c['command'] for c in pool.commands()[count:]] == ['ping']   # only the liveness read

    old = pool.pid
    pool.request('listener', 'restart')
    new = pool.wait_pid_change(old)
    # ckpool writes main.pid before it recreates its listener: wait until the new process serves it
    deadline = time.monotonic() + 10
    while run_module(ckpool_info, dict(socket_dir=pool.sockdir, gather=['process']))[0]['process']['pid'] != new:
        assert time.monotonic() < deadline, 'the new process never served the listener'
        time.sleep(0.05)
    result, failed = run_module(ckpool_loglevel, args, check_mode=True)
    assert result['changed'] is True and result['previous_level'] is None


@pytest.mark.parametrize('level', [8, -1, 'verbose', True, '9'])
def test_loglevel_bad_input_sends_nothing(pool, run_module, tmp_path, level):
    result, failed = run_module(ckpool_loglevel, dict(socket_dir=pool.sockdir, level=level,
                                                      state_file=str(tmp_path / 's.json')))
    assert failed and 'invalid level' in result['msg']
    assert not any(cmd.startswith('loglevel') for dummy, cmd in sent(pool))


# ------------------------------------------------------------ ckpool_dropuser
def test_dropuser_check_then_drop_then_idempotent(pool, run_module):
    miners = [pool.miner('alice.rig1'), pool.miner('alice.rig2'), pool.miner('bob.rig1')]
    ids = sorted(pool.client_id(w) for w in ('alice.rig1', 'alice.rig2'))
    args = dict(socket_dir=pool.sockdir, user='alice')

    result, failed = run_module(ckpool_dropuser, args, check_mode=True, diff=True)
    assert not failed, result
    assert result['changed'] is True and sorted(c['id'] for c in result['dropped_clients']) == ids
    assert not any(cmd.startswith('dropclient') for dummy, cmd in sent(pool))
    assert not miners[0].wait_eof(0.3)

    result, failed = run_module(ckpool_dropuser, args)
    assert not failed, result
    assert result['changed'] is True
    assert result['connections_before'] == 3 and result['connections_after'] == 1
    assert sorted(cmd for s, cmd in sent(pool) if s == 'connector') == ['dropclient=%d' % i for i in ids]
    assert miners[0].wait_eof(3) and miners[1].wait_eof(3)
    assert not miners[2].wait_eof(0.3)

    pool.wait_for_log(r'Dropped client %d ' % ids[-1])
    result, failed = run_module(ckpool_dropuser, args)
    assert not failed and result['changed'] is False and result['dropped_clients'] == []


@pytest.mark.parametrize('user, why', [
    ('', 'is empty'), ('a/b', "'/'"), ('bad\nname', 'U+000A'), ('n\x00ul', 'U+0000'), ('x' * 128, '128 bytes'),
    ('nel\x85', 'U+0085'), ('..', 'directory name'), ('al*ce', "'*'"), ('alice?', "'?'"), ('[ab]', "'['"),
    ('alice ', 'whitespace'), (' alice', 'whitespace'), ('zw\u200bsp', 'U+200B'), ('ls\u2028x', 'U+2028'),
    ('back\\slash', "'\\\\'"),
])
def test_dropuser_bad_user(pool, run_module, user, why):
    # one user-name rule (usernames.py), the one the docs state; nothing is sent
    result, failed = run_module(ckpool_dropuser, dict(socket_dir=pool.sockdir, user=user))
    assert failed and 'invalid user' in result['msg'] and result['commands'] == []
    assert why in result['msg'], result['msg']
    assert 'nothing was sent' in result['msg']


@pytest.mark.parametrize('user', ['a=b', 'x"y', 'caf\u00e9', 'with space', 'bc1qexample'])
def test_dropuser_accepts_what_the_rule_allows(pool, run_module, user):
    result, failed = run_module(ckpool_dropuser, dict(socket_dir=pool.sockdir, user=user), check_mode=True)
    assert not failed, result
    assert result['changed'] is False and result['dropped_clients'] == []


# ------------------------------------------------------------ ckpool_shutdown
def test_shutdown_check_apply_reapply(pool, run_module):
    pid = pool.pid
    args = dict(socket_dir=pool.sockdir, wait_timeout=5)
    result, failed = run_module(ckpool_shutdown, args, check_mode=True, diff=True)
    assert not failed and result['changed'] is True and result['stopped'] is False
    assert sent(pool) == [('listener', 'ping')] and pool.pid == pid

    result, failed = run_module(ckpool_shutdown, args)
    assert not failed, result
    assert result['changed'] is True and result['stopped'] is True and result['method'] == 'shutdown'
    assert result['pid'] == pid
    assert sent(pool)[-1] == ('listener', 'shutdown')
    assert all(os.path.exists(pool.socket_path(n)) for n in ('listener', 'stratifier'))  # stale files stay

    result, failed = run_module(ckpool_shutdown, args)
    assert not failed and result['changed'] is False and result['was_running'] is False
    assert [(c['command'], c['error']) for c in result['commands']] == [('ping', 'not_running')]


def test_shutdown_force_escalates_only_for_ckpool(pool, run_module):
    pid = pool.pid
    os.kill(pid, signal.SIGSTOP)  # a hung ckpool: the kernel accepts connections, nothing answers
    deadline = time.monotonic() + 5
    while open('/proc/%d/stat' % pid).read().rsplit(')', 1)[1].split()[0] != 'T':
        assert time.monotonic() < deadline, 'SIGSTOP did not take effect'
        time.sleep(0.01)
    args = dict(socket_dir=pool.sockdir, timeout=0.5, wait_timeout=2)
    started = time.monotonic()
    result, failed = run_module(ckpool_shutdown, args)
    assert time.monotonic() - started < 1.5  # hung socket fails within timeout + 1 s
    assert failed and result['error']['kind'] == 'deadline_exceeded' and 'force=true' in result['msg']
    assert pool.pid == pid
    result, failed = run_module(ckpool_shutdown, dict(args, force=True))
    assert not failed, result
    assert result['method'] == 'sigkill' and result['stopped'] is True  # SIGTERM waits while stopped
    wait_dead(pid)


def test_shutdown_never_signals_what_main_pid_names(tmp_path, run_module):
    sockdir = tmp_path / 'run'
    sockdir.mkdir()
    (sockdir / 'main.pid').write_text(str(os.getpid()))  # pytest itself: alive, not serving this directory
    result, failed = run_module(ckpool_shutdown, dict(socket_dir=str(sockdir), timeout=0.5, wait_timeout=0.5,
                                                      force=True))
    assert not failed and result['changed'] is False and result['was_running'] is False
    assert result['pid'] is None and result['pid_file_pid'] == os.getpid()


# ------------------------------------------------- ckpool_info: workbase, blocks
def test_info_workbase_summary_is_opt_in(pool, run_module):
    result, failed = run_module(ckpool_info, dict(socket_dir=pool.sockdir, gather=['workbase']))
    assert not failed, result
    base = result['workbase']
    assert isinstance(base['height'], int) and isinstance(base['transactions'], int)
    assert len(base['previousblockhash']) == 64 and len(base['best']) == 64
    assert base['coinbasevalue'] > 0 and 'diff' in base and 'ntime' in base
    sent_here = [(c['socket'], c['command']) for c in result['commands']]
    assert sent_here == [('listener', 'ping'), ('generator', 'getbase'), ('generator', 'getbest')]
    result, failed = run_module(ckpool_info, dict(socket_dir=pool.sockdir, gather=['all', '!users', '!workers']))
    assert 'workbase' in result['gathered']
    result, failed = run_module(ckpool_info, dict(socket_dir=pool.sockdir))
    assert 'workbase' not in result['gathered']


def test_info_blocks_newest_first_with_limit(pool, run_module):
    miner = pool.miner('alice.rig1')
    for dummy in range(2):
        miner.submit(nonce='b10cb10c')  # the simulator's block-solving nonce
        time.sleep(1.1)  # distinct log seconds
    pool.wait_for_log(r'Solved and confirmed block \d+ by alice.rig1')
    deadline = time.monotonic() + 5
    while True:
        result, failed = run_module(ckpool_info, dict(socket_dir=pool.sockdir, gather=['blocks']))
        assert not failed, result
        if len(result['blocks']) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    blocks = result['blocks']
    assert len(blocks) == 2, blocks
    assert blocks[0]['height'] > blocks[1]['height'] and blocks[0]['time'] >= blocks[1]['time']
    assert blocks[0]['worker'] == 'alice.rig1' and blocks[0]['user'] == 'alice'
    result, failed = run_module(ckpool_info, dict(socket_dir=pool.sockdir, gather=['blocks'], blocks_limit=1))
    assert [b['height'] for b in result['blocks']] == [blocks[0]['height']]
    assert [c['command'] for c in result['commands']] == ['ping']   # only to find the process and its log
    assert result['suspicious_blocks'] == []


def test_info_torn_pool_status_is_reported_not_fatal(pool, run_module):
    path = os.path.join(pool.logdir, 'pool', 'pool.status')
    with open(path, 'w') as handle:
        handle.write('{"runtime": 300, "lastupd')  # caught mid-rewrite (ckpool writes it in place)
    result, failed = run_module(ckpool_info, dict(socket_dir=pool.sockdir, gather=['pool', 'health']))
    assert not failed, result
    assert result['pool'] is None and result['health']['healthy'] is True
    assert [e['name'] for e in result['file_errors']] == ['pool.status']
