# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the fleet_report_entries and fleet_report_table filters (the real HostVars object and a full
playbook run are covered by the fleet_report integration target)."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.ckpool.fleet.plugins.filter.fleet_report import (
    FilterModule,
    fleet_report_entries,
    fleet_report_table,
)
from ansible_collections.ckpool.fleet.plugins.filter.fleet_summary import fleet_summary


def info(rate, running=True):
    return {'process': {'running': running, 'pid': 7}, 'health': {'healthy': running, 'listener': {'ok': running}},
            'pool': {'age_seconds': 12.4, 'stale': False, 'lastupdate': 1795500000, 'runtime': 60, 'users': 2,
                     'workers': 3, 'idle': 0, 'disconnected': 0, 'accepted': 5, 'rejected': 1, 'bestshare': 1.0,
                     'diff': 1.0, 'hashrate': {'1m': rate, '5m': rate, '1hr': rate}, 'sps': {}},
            'users': [{'name': 'alice', 'hashrate': {'5m': rate}, 'workers': 1, 'worker': []}]}


def loop(*items):
    """A registered loop of ckpool_info: one result per instance, with the loop item."""
    return {'changed': False, 'results': [dict(result, item=item) for item, result in items]}


HOSTVARS = {
    'edge': {'reg': loop(({'name': 'a', 'mode': 'pool'}, info(1e12)), ({'name': 'b', 'mode': 'proxy'}, info(5e11)))},
    'solo1': {'reg': loop(({'socket_dir': None}, info(2e12))), 'ckpool_mode': 'solo'},
    'node1': {'reg': loop(({'name': 'n', 'tier': 'node'}, info(3e11))), 'ckpool_mode': 'pool', 'ckpool_tier': 'x'},
    'down': {'reg': {'unreachable': True, 'msg': 'ssh: connect refused', 'changed': False}},
    'gone': {},
}


def test_registered():
    assert set(FilterModule().filters()) == {'fleet_report_entries', 'fleet_report_table'}


def test_one_entry_per_instance_with_labels_modes_and_tiers():
    entries = fleet_report_entries(['edge', 'solo1', 'node1', 'down', 'gone'], HOSTVARS, 'reg')
    assert [(e['host'], e['mode'], e['tier']) for e in entries] == [
        ('edge/a', 'pool', None), ('edge/b', 'proxy', None),   # several instances: host/instance, item modes
        ('solo1', 'solo', None),                                # one instance: the host; mode from ckpool_mode
        ('node1', 'pool', 'node'),                              # the item's tier wins over ckpool_tier
        ('down', None, None), ('gone', None, None)]
    assert entries[0]['info']['pool']['hashrate']['5m'] == 1e12
    assert entries[4]['info']['unreachable'] is True
    assert entries[5]['info'] is None


def test_entries_feed_fleet_summary():
    summary = fleet_summary(fleet_report_entries(list(HOSTVARS), HOSTVARS, 'reg'), key='info')
    states = dict((h['host'], h['state']) for h in summary['hosts'])
    assert states == {'edge/a': 'healthy', 'edge/b': 'healthy', 'solo1': 'healthy', 'node1': 'healthy',
                      'down': 'unreachable', 'gone': 'unreachable'}
    # the proxy and the node forward their miners' work: the fleet total is the pool tier's (edge/a, solo1)
    assert summary['totals']['hashrate']['5m'] == 3e12


@pytest.mark.parametrize('hosts, key, message', [
    ('edge', 'reg', 'list of host names'),
    ({'edge': 1}, 'reg', 'list of host names'),
    (['edge'], '', 'registered variable'),
])
def test_bad_input(hosts, key, message):
    with pytest.raises(AnsibleFilterError, match=message):
        fleet_report_entries(hosts, HOSTVARS, key)


def test_table():
    summary = fleet_summary(fleet_report_entries(list(HOSTVARS), HOSTVARS, 'reg'), key='info')
    lines = fleet_report_table(summary)
    assert lines[0].split() == ['HOST', 'STATE', 'HASH', '5m', 'USERS', 'WORKERS', 'AGE', 'REASON']
    rows = dict((line.split()[0], line) for line in lines[1:] if not line.startswith('  user'))
    assert rows['edge/a'].split()[:6] == ['edge/a', 'healthy', '1T', '2', '3', '12s']
    assert rows['down'].split()[:6] == ['down', 'unreachable', '-', '-', '-', '-']
    assert 'ssh: connect refused' in rows['down']
    fleet = [line for line in lines if line.startswith('FLEET')][0]
    assert fleet.startswith('FLEET (2 counted)') and '4/6 ok' in fleet and 'unreachable 2' in fleet
    users = [line for line in lines if line.startswith('  user')]
    assert len(users) == 1 and users[0].split()[1:3] == ['alice', '3T'] and users[0].endswith('edge/a,solo1')
    assert len(fleet_report_table(summary, users=0)) == len(lines) - 1


def test_table_refuses_what_is_not_a_summary():
    with pytest.raises(AnsibleFilterError, match='fleet_summary result'):
        fleet_report_table({'hosts': 'x'})
