# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet health and restart report filters."""

import datetime

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.ckpool.fleet.plugins.filter.fleet_health import FilterModule

F = FilterModule().filters()


def inst(healthy=True, **extra):
    checks = [dict(name='process', value=1, threshold='alive', ok=True, verdict='pass', reason=None)]
    if not healthy:
        checks.append(dict(name='listener_ping', value='no answer', threshold='pong within 2 s', ok=False,
                           verdict='fail', reason='no answer'))
    out = dict(healthy=healthy, failing=[] if healthy else ['listener_ping'], not_judged=[], checks=checks,
               hashrate_1m=8.71e6, workers=3, status_age=12.4, pid=42)
    out.update(extra)
    return out


HOSTVARS = {
    'pool1': {'ckpool_health': {'main': inst(), 'solo': inst(workers=None, hashrate_1m=None, status_age=None)}},
    'pool2': {'ckpool_health': {'main': inst(healthy=False, not_judged=['workers'])}},
    'pool3': {},
    'pool4': {'ckpool_health': None},
}


def test_rows():
    rows = F['health_rows'](['pool1', 'pool2', 'pool3', 'pool4'], HOSTVARS, ['pool1', 'pool2', 'pool4'])
    assert [(r['host'], r['instance'], r['healthy']) for r in rows] == [
        ('pool1', 'main', True), ('pool1', 'solo', True), ('pool2', 'main', False), ('pool3', '-', False),
        ('pool4', '-', False)]
    assert rows[3]['failing'] == ['unreachable'] and rows[4]['failing'] == ['not_checked']
    assert rows[2]['failing'] == ['listener_ping'] and rows[2]['not_judged'] == ['workers']
    assert rows[0]['checks'][0]['name'] == 'process'
    # without the reached list nobody is called unreachable
    assert F['health_rows'](['pool3'], HOSTVARS)[0]['failing'] == ['not_checked']


def test_table():
    rows = F['health_rows'](['pool1', 'pool2', 'pool3'], HOSTVARS, ['pool1', 'pool2'])
    lines = F['health_table'](rows)
    assert lines[0].split() == ['HOST', 'INSTANCE', 'HEALTH', 'HASHRATE', 'WORKERS', 'STATUS', 'AGE', 'FAILING',
                                'CHECKS']
    assert lines[1].split() == ['pool1', 'main', 'healthy', '8.71M', '3', '12', 's', '-']
    assert lines[2].split() == ['pool1', 'solo', 'healthy', '-', '-', '-', '-']
    assert lines[3].split() == ['pool2', 'main', 'UNHEALTHY', '8.71M', '3', '12', 's', 'listener_ping', '(not',
                                'judged:', 'workers)']
    assert lines[4].split()[:3] == ['pool3', '-', 'UNHEALTHY'] and lines[4].endswith('unreachable')
    assert lines[-1] == '2 of 4 instance(s) healthy; UNHEALTHY: pool2, pool3'
    assert F['health_table']([])[-1] == '0 of 0 instance(s) healthy'
    with pytest.raises(AnsibleFilterError):
        F['health_table']('not rows')


def test_report():
    rows = F['health_rows'](['pool1', 'pool2'], HOSTVARS, ['pool1', 'pool2'])
    report = F['health_report'](rows)
    assert report['healthy'] is False and report['unhealthy_hosts'] == ['pool2']
    assert report['instances'] == rows
    generated = datetime.datetime.strptime(report['generated'], '%Y-%m-%dT%H:%M:%S.%fZ')
    assert abs((datetime.datetime.utcnow() - generated).total_seconds()) < 5
    assert F['health_report'](rows[:2])['healthy'] is True


def test_restart_result_from_handover_results():
    results = [dict(item=dict(name='main', socket_dir='/run/ckpool/main'), old_pid=10, new_pid=11, duration=0.4),
               dict(item=dict(name='solo'), old_pid=20, new_pid=21, duration=0.5)]
    assert F['restart_result'](results, 'handover') == {
        'main': dict(old_pid=10, new_pid=11, strategy='handover', duration=0.4),
        'solo': dict(old_pid=20, new_pid=21, strategy='handover', duration=0.5)}
    with pytest.raises(AnsibleFilterError):
        F['restart_result']([dict(old_pid=1)], 'handover')
    # a loop skipped item by item (the other strategy) contributes nothing
    assert F['restart_result']([dict(item=dict(name='main'), skipped=True)], 'service') == {}


def test_restart_result_from_service_health():
    got = F['restart_result']([], 'service', {'main': 10}, {'main': {'pid': 12}})
    assert got == {'main': dict(old_pid=10, new_pid=12, strategy='service', duration=None)}


def test_restart_report_progress_and_completion():
    hv = {'a': {'rolling_restart_result': {'main': {'old_pid': 1, 'new_pid': 2}}}, 'b': {}, 'c': {}}
    report = F['restart_report'](['a', 'b', 'c'], hv, 'handover')
    assert (report['status'], report['restarted'], report['not_touched']) == ('in_progress', ['a'], ['b', 'c'])
    assert report['results'] == {'a': {'main': {'old_pid': 1, 'new_pid': 2}}}
    assert report['failed_host'] is None and report['failing_checks'] == {} and report['check_mode'] is False
    hv['b'] = hv['c'] = hv['a']
    assert F['restart_report'](['a', 'b', 'c'], hv, 'handover', True)['status'] == 'complete'


def test_restart_report_failure():
    hv = {'a': {'rolling_restart_result': {}}, 'b': {}, 'c': {}}
    health = {'main': inst(healthy=False), 'other': inst()}
    report = F['restart_report'](['a', 'b', 'c'], hv, 'service', False, 'b', 'Restart', 'it broke', health)
    assert (report['status'], report['failed_host'], report['restarted'], report['not_touched']) == (
        'failed', 'b', ['a'], ['c'])
    assert report['failed_task'] == 'Restart' and report['failed_message'] == 'it broke'
    assert [c['name'] for c in report['failing_checks']['main']] == ['listener_ping']
    assert 'other' not in report['failing_checks']
