# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""--sim-flavour=lhr against the ckpool-lhr captures (captures/lhr/, PROTOCOL.md "The ckpool-lhr fork")."""

from __future__ import annotations

import json
import os
import time

import pytest

from ansible_collections.ckpool.fleet.plugins.module_utils import status_files
from ansible_collections.ckpool.fleet.tests.simulator import ckpool_sim
from ansible_collections.ckpool.fleet.tests.simulator.fixture import StratumClient

CAPTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'plugins', 'module_utils', 'fixtures', 'lhr')


def captured(name):
    with open(os.path.join(CAPTURES, name)) as handle:
        return handle.read()


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError('condition not met within %.1f s' % timeout)


def lines_of(sim):
    try:
        with open(os.path.join(sim.logdir, 'pool', 'pool.status')) as handle:
            return [json.loads(line) for line in handle.read().splitlines()]
    except (OSError, ValueError):
        return None


@pytest.mark.parametrize('value, text', [
    (0.5, '500m'), (0.0025, '2.5m'), (2.5e-6, '2.5u'), (3e-9, '3n'), (1e-10, '0'), (1.5, '1.5'),
    (114.9, '115'), (999.4, '999'), (961000, '961K'), (8.41e6, '8.41M'),
])
def test_lhr_suffix_string(value, text):
    assert ckpool_sim.suffix_string_lhr(value) == text


def test_lhr_status_files_and_agents(make_sim):
    sim = make_sim(extra_args=['--sim-flavour=lhr'], config={'startdiff': 0.000001}, status_interval=0.5)
    miner = StratumClient('127.0.0.1', sim.stratum_port)
    miner.subscribe(agent='NerdMiner/1.0')
    assert miner.difficulty == 1e-06                      # fractional set_difficulty
    assert '{"params":[1e-06],"id":null,"method":"mining.set_difficulty"}' in miner.raw
    assert miner.authorize('dave.lhr1')
    for _share in range(3):
        assert miner.submit()['result'] is True

    def counted():
        lines = lines_of(sim)
        return lines if lines and lines[0].get('UserAgents') and lines[2].get('accepted_count') == 3 else None
    lines = wait_for(counted)
    capture = [json.loads(line) for line in captured('pool.status').splitlines()]
    assert [list(line) for line in lines] == [list(line) for line in capture]     # same keys, same order
    assert lines[0]['UserAgents'] == [{'ua': 'NerdMiner', 'devices': 1, 'hashrate5m': lines[0]['UserAgents'][0][
        'hashrate5m'], 'bestshare': lines[0]['UserAgents'][0]['bestshare']}]
    assert isinstance(lines[2]['accepted'], float) and lines[2]['rejected'] == 0.0
    path = os.path.join(sim.logdir, 'users', 'dave')
    wait_for(lambda: os.path.exists(path))
    with open(path) as handle:
        record = json.loads(handle.read())
    dave = json.loads(captured('users_dave'))
    assert list(record) == list(dave) and list(record['worker'][0]) == list(dave['worker'][0])
    worker = record['worker'][0]
    assert worker['useragent'] == 'NerdMiner/1.0' and isinstance(worker['started'], int)
    assert isinstance(record['shares'], float) and isinstance(worker['bestever'], float)
    assert record['hashrate7d'].endswith('m')              # 3e-6 diff shares over 7 days: milli-hashes
    # the collection's readers take the fork's files as they are
    user = status_files.read_user(sim.logdir, 'dave')
    assert 0 < user['hashrate']['7d'] < 1 and user['worker'][0]['useragent'] == 'NerdMiner/1.0'
    pool = status_files.read_pool_status(sim.logdir)
    assert pool['accepted_count'] == 3 and pool['user_agents'][0]['devices'] == 1


def test_lhr_listener_dropall(make_sim):
    sim = make_sim(extra_args=['--sim-flavour=lhr'])
    miner = sim.miner('dave.lhr1')
    assert sim.request('listener', 'dropall').reply == 'dropping all'      # upstream: "unknown"
    assert miner.wait_eof(3)
    sim.wait_for_log(r'Listener received dropall message, disconnecting all clients$')
    sim.wait_for_log(r'Dropped 1 instances for dropall request$')


def test_upstream_listener_dropall_unknown(sim):
    assert sim.request('listener', 'dropall').reply == 'unknown'


@pytest.mark.parametrize('name, error', [('a/b.c', 'Invalid character in username'),
                                         ('.x', 'Empty username parameter'), ('_x', 'Empty username parameter')])
def test_lhr_refuses_bad_user_names(make_sim, name, error):
    sim = make_sim(extra_args=['--sim-flavour=lhr'])
    miner = sim.miner()
    reply = miner.response(miner.send('mining.authorize', [name, 'x']))
    assert reply == {'result': False, 'error': error, 'id': reply['id']}


def test_lhr_synthetic_users_have_agents(make_sim):
    sim = make_sim(extra_args=['--sim-flavour=lhr'], users=3, workers_per_user=2, status_interval=0.5)
    first = wait_for(lambda: (lines_of(sim) or [{}])[0])
    agents = first['UserAgents']
    assert sum(a['devices'] for a in agents) == 6
    assert [a['devices'] for a in agents] == sorted((a['devices'] for a in agents), reverse=True)
    user = status_files.read_user(sim.logdir, 'user0001')
    assert all(w['useragent'] in ckpool_sim.LHR_AGENTS for w in user['worker'])
