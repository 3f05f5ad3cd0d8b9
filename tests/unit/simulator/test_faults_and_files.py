# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fault modes for client tests, and the status files (pool/pool.status, users/*, Pool: lines)."""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import time

import pytest

from ansible_collections.ckpool.fleet.tests.simulator import ckpool_sim
from ansible_collections.ckpool.fleet.tests.simulator.fixture import connect_as

CAPTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'captures')


def test_fault_hang_blocks_the_socket(make_sim):
    sim = make_sim(faults=['hang:stratifier'])
    assert sim.request('stratifier', 'stats', timeout=0.5).outcome == 'timeout'
    # the socket's only thread is stuck: later clients wait too
    assert sim.request('stratifier', 'ping', timeout=0.5).outcome == 'timeout'
    assert sim.request('listener', 'ping').reply == 'pong'
    entry = [e for e in sim.commands() if e['socket'] == 'stratifier']
    assert entry[0]['outcome'] == 'hang' and entry[0]['command'] == 'stats'


def test_fault_with_command_prefix(make_sim):
    sim = make_sim(faults=['hang:listener:stratifierstats'])
    assert sim.request('listener', 'ping').reply == 'pong'
    assert sim.request('listener', 'stratifierstats', timeout=0.5).outcome == 'timeout'


def test_fault_garbage_truncated_huge(make_sim):
    sim = make_sim(faults=['garbage:listener', 'truncated:stratifier', 'huge:connector', 'rawgarbage:generator'])
    got = sim.request('listener', 'ping')
    assert got.outcome == 'reply'
    with pytest.raises(UnicodeDecodeError):
        got.raw[4:].decode('utf-8')
    got = sim.request('stratifier', 'stats')
    assert got.outcome == 'partial' and len(got.raw) < 4 + 1000
    got = sim.raw('connector', b'\x05\x00\x00\x00stats', timeout=1)
    assert got.outcome == 'huge'
    got = sim.request('generator', 'ping')
    assert got.outcome in ('partial', 'huge')
    outcomes = {e['socket']: (e['outcome'], e.get('fault')) for e in sim.commands() if e['socket'] != 'listener'}
    assert outcomes == {'stratifier': ('fault', 'truncated'), 'connector': ('fault', 'huge'),
                        'generator': ('fault', 'rawgarbage')}


def test_fault_slow(make_sim):
    sim = make_sim(faults=['slow=1.0:listener'])
    got = sim.request('listener', 'ping', timeout=3)
    assert got.reply == 'pong' and got.ms >= 950
    assert sim.request('listener', 'ping', timeout=0.5).outcome == 'timeout'


def test_fault_unreadable_for_a_group_member(make_sim):
    pytest.importorskip('pwd')
    nobody = pwd.getpwnam('nobody')
    group = grp.getgrgid(nobody.pw_gid).gr_name
    sim = make_sim(group=group, faults=['unreadable:stratifier'])
    os.chmod(sim.base, 0o755)   # let the other user reach the socket directory
    assert oct(os.stat(sim.socket_path('stratifier')).st_mode & 0o777) == '0o0'
    assert connect_as(sim.socket_path('listener'), user=nobody.pw_uid, group=nobody.pw_gid) == 'reply'
    assert connect_as(sim.socket_path('stratifier'), user=nobody.pw_uid, group=nobody.pw_gid) == 'denied'
    # root bypasses the mode: the fault only shows for other users
    assert sim.request('stratifier', 'ping').reply == 'pong'


def test_sockets_group_and_modes(make_sim):
    nobody = pwd.getpwnam('nobody')
    sim = make_sim(group=str(nobody.pw_gid))
    assert os.stat(sim.sockdir).st_gid == nobody.pw_gid
    for name in ('listener', 'stratifier', 'connector', 'generator'):
        st = os.stat(sim.socket_path(name))
        assert st.st_gid == nobody.pw_gid and st.st_mode & 0o777 == 0o770
    os.chmod(sim.base, 0o755)
    # a user outside the group is refused by the directory/socket modes
    assert connect_as(sim.socket_path('listener'), user=nobody.pw_uid, group=nobody.pw_gid,
                      extra_groups=[]) == 'reply'


def read_status(sim, timeout=5.0):
    path = os.path.join(sim.logdir, 'pool', 'pool.status')
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as handle:
                text = handle.read()
            lines = text.splitlines()
            if len(lines) == 3:
                return text, [json.loads(line) for line in lines]
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError('no complete pool.status')


def logged_status_writes(sim, until, timeout=10.0):
    """The status writes as the log copies them, once until(writes) holds: one "Pool:" line per
    pool.status line, three per write.  ckpool logs each line (LOGNOTICE("Pool:%s")) through its
    logger thread, so the copies may land after the file: wait for them, with a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        copies = [line.split('] Pool:', 1)[1] for line in sim.log_lines() if '] Pool:{' in line]
        writes = [copies[i:i + 3] for i in range(0, len(copies) - len(copies) % 3, 3)]
        if until(writes):
            return writes
        if time.monotonic() >= deadline:
            raise AssertionError('status writes in the log after %.1f s: %r' % (timeout, writes[-2:]))
        time.sleep(0.05)


def test_pool_status_format_and_timing(make_sim):
    interval = 0.5
    sim = make_sim(users=3, workers_per_user=2, status_interval=interval)
    started = sim.state()['started']
    text, lines = read_status(sim)
    with open(os.path.join(CAPTURES, 'pool.status')) as handle:
        captured = [json.loads(line) for line in handle]
    assert [list(d) for d in lines] == [list(d) for d in captured]
    assert text.endswith('}\n') and text.count('\n') == 3
    assert lines[0]['Users'] == 3 and lines[0]['Workers'] == 6
    assert all(re.fullmatch(r'\d+(\.\d+)?[KMGTPE]?', v) for v in lines[1].values())
    # each write is copied to the log verbatim as three Pool: lines, in the file's order
    writes = logged_status_writes(sim, lambda writes: text.splitlines() in writes)
    # the first write 1 s after start, not before (runtime: whole seconds since the start, taken at
    # the write); then rewritten every interval, never more often: however late a loaded machine
    # runs them, by time T there are at most 1 + (T - start - 1) / interval writes
    assert json.loads(writes[0][0])['runtime'] >= 1
    writes = logged_status_writes(sim, lambda writes: len(writes) >= 2)
    elapsed = time.time() - started
    assert len(writes) <= 1 + (elapsed - 1.0) / interval


def test_pool_status_first_write_one_second_after_start(make_sim):
    """PROTOCOL.md: pool.status is written 1 s after start, then every 60 s.  With the default
    interval the only write of the first minute is the 1-s one, so the file's mtime (the kernel's
    clock) dates that write, however late the test gets to look."""
    sim = make_sim(users=1)
    started = sim.state()['started']
    read_status(sim, timeout=30.0)
    first_mtime = os.stat(os.path.join(sim.logdir, 'pool', 'pool.status')).st_mtime
    assert 0.95 <= first_mtime - started < 60.0       # the 1-s write: not before 1 s, not the 60-s one
    writes = logged_status_writes(sim, lambda writes: len(writes) >= 1)
    assert len(writes) == 1 and json.loads(writes[0][0])['runtime'] >= 1


def read_user_file(sim, name, until, timeout=10.0):
    """users/NAME once until(record) holds: (text, record).  ckpool rewrites it in place at each
    status update (a reader can find it empty or torn), so read until a complete write satisfies
    until, with a deadline."""
    path = os.path.join(sim.logdir, 'users', name)
    deadline = time.monotonic() + timeout
    text = None
    while True:
        try:
            with open(path) as handle:
                text = handle.read()
            record = json.loads(text)
            if until(record):
                return text, record
        except (OSError, ValueError):
            pass
        if time.monotonic() >= deadline:
            raise AssertionError('users/%s after %.1f s: %r' % (name, timeout, text))
        time.sleep(0.05)


def test_user_files_format(make_sim):
    sim = make_sim(users=2, workers_per_user=2, status_interval=0.3)
    miner = sim.miner('alice.rig1')
    for _attempt in range(3):
        assert miner.submit()['result'] is True
    # the first status update after the three accepted shares
    text, data = read_user_file(sim, 'alice', lambda record: record.get('shares') == 3)
    with open(os.path.join(CAPTURES, 'users_testuser')) as handle:
        captured = handle.read()
    ref = json.loads(captured)
    assert list(data) == list(ref)
    assert list(data['worker'][0]) == list(ref['worker'][0])
    assert text.startswith('{\n "hashrate1m": "') and text.endswith('\n ]\n}\n')
    assert '\n  {\n   "workername": "alice.rig1",\n' in text
    assert data['shares'] == 3 and data['workers'] == 1 and isinstance(data['bestshare'], float)
    _text, synthetic = read_user_file(sim, 'user0001', lambda record: True)
    assert [w['workername'] for w in synthetic['worker']] == ['user0001.rig1', 'user0001.rig2']
    assert re.fullmatch(r'\d+(\.\d+)?T', synthetic['hashrate1m'])


def test_users_loaded_after_restart_count_in_stats(sim):
    miner = sim.miner('alice.rig1')
    assert miner.submit()['result'] is True
    deadline = time.monotonic() + 5
    while not os.path.exists(os.path.join(sim.logdir, 'users', 'alice')) and time.monotonic() < deadline:
        time.sleep(0.05)
    old = sim.pid
    assert sim.request('listener', 'restart').reply == 'restarting'
    new = sim.wait_pid_change(old)
    sim.wait_ready(new)
    assert sim.json('stratifier', 'stats')['users']['count'] == 1


def test_synthetic_fast_path_renders_like_the_generic_writer():
    sim = ckpool_sim.Sim(ckpool_sim.parse_args(['--sim-users', '50', '--sim-workers-per-user', '3']), [])
    sim.make_synthetic()
    now = time.time() + 3600
    for user in sim.users.values():
        assert sim.synthetic_record(user, now) == sim.user_record(user, now)


@pytest.mark.parametrize('value,text', [(0, '0'), (114.9, '114'), (8.71e6, '8.71M'), (568e3, '568K'),
                                        (21.3e3, '21.3K'), (1.5e12, '1.5T'), (999999, '1e+03K')])
def test_suffix_string_like_ckpool(value, text):
    assert ckpool_sim.suffix_string(value) == text


@pytest.mark.parametrize('value,precision,text', [(2.66e-8, 3, '2.66e-8'), (100.0, 3, '100.0'), (0.000403, 3, '0.000403'),
                                                  (4.6565423739069247e-10, 17, '4.6565423739069247e-10'),
                                                  (1.0113022158445459, 16, '1.011302215844546')])
def test_jansson_reals(value, precision, text):
    assert ckpool_sim.jreal(value, precision) == text
