# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the prometheus_textfile filter.

The output is read back by an independent parser of the exposition format written here from the
format's specification (not from the filter), and linted by Prometheus's own ``promtool check metrics``
(Debian package ``prometheus``, installed by .ci/run).
"""

from __future__ import annotations

import math
import os
import re
import subprocess

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.ckpool.fleet.plugins.filter import prometheus_textfile as filter_file
from ansible_collections.ckpool.fleet.plugins.filter.prometheus_textfile import FilterModule, prometheus_textfile
from ansible_collections.ckpool.fleet.plugins.module_utils import prometheus_text as pt

NOW = 1795502500.25
PROMTOOL = '/usr/bin/promtool'

NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
SAMPLE = re.compile(r'^(%s)(?:\{(%s(?:,%s)*)\})? (\S+)$' % (NAME, LABEL, LABEL))


def unescape(text):
    out, i = [], 0
    while i < len(text):
        if text[i] == '\\':
            out.append({'\\': '\\', '"': '"', 'n': '\n'}[text[i + 1]])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return ''.join(out)


def parse(text):
    """Parse the text format strictly; return {name: {'type', 'help', 'samples': [(labels dict, float)]}}."""
    assert text.endswith('\n') and not text.endswith('\n\n'), 'one trailing newline'
    families = {}
    current = None
    seen = set()
    for number, line in enumerate(text[:-1].split('\n'), 1):
        if line.startswith('# HELP '):
            name, help_text = line[7:].split(' ', 1)
            assert name not in families, 'line %d: second HELP for %s' % (number, name)
            families[name] = {'help': help_text, 'type': None, 'samples': []}
            current = name
            continue
        if line.startswith('# TYPE '):
            name, kind = line[7:].split(' ')
            assert name == current and families[name]['type'] is None, 'line %d: TYPE right after HELP' % number
            assert kind in ('gauge', 'counter'), kind
            families[name]['type'] = kind
            continue
        match = SAMPLE.match(line)
        assert match, 'line %d: not a sample line: %r' % (number, line)
        name = match.group(1)
        assert name == current, 'line %d: %s outside its family (%s)' % (number, name, current)
        labels = {}
        if match.group(2):
            for key, value in re.findall(LABEL, match.group(2)):
                assert key not in labels, 'line %d: label %s twice' % (number, key)
                labels[key] = unescape(value)
        value = match.group(match.lastindex)
        number_value = float(value.replace('Inf', 'inf')) if value != 'NaN' else math.nan
        key = (name, tuple(sorted(labels.items())))
        assert key not in seen, 'line %d: series repeated: %s' % (number, key)
        seen.add(key)
        families[name]['samples'].append((labels, number_value))
    return families


def promtool_lint(text):
    """promtool check metrics: the exposition parser of Prometheus plus its naming lint (units, _total, HELP)."""
    assert os.path.exists(PROMTOOL), 'promtool is required (Debian package prometheus; .ci/run installs it)'
    proc = subprocess.run([PROMTOOL, 'check', 'metrics'], input=text.encode(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=60, check=False)
    return proc.returncode, proc.stdout.decode()


def value_of(families, name, **labels):
    found = [v for lab, v in families[name]['samples'] if lab == labels]
    assert len(found) == 1, '%s%s: %s' % (name, labels, families.get(name))
    return found[0]


def checks(**verdicts):
    return [{'name': name, 'value': None, 'threshold': None, 'ok': ok} for name, ok in verdicts.items()]


def healthy_instance(**extra):
    """An entry of the healthcheck role's ckpool_health fact for a running, healthy pool."""
    inst = {
        'checks': checks(process=True, listener_ping=True, stratifier_ping=True, status_age=True, stratum_port=True),
        'healthy': True, 'failing': [], 'pid': 4242, 'socket_dir': '/run/ckpool/main', 'stratum': '127.0.0.1:3333',
        'hashrate_1m': 8.71e12, 'hashrate_5m': 9.5e12, 'users': 3, 'workers': 7, 'accepted': 123456789012,
        'rejected': 1234, 'bestshare': 98765.4321, 'runtime': 86400, 'status_age': 12.5,
        'ping_ms': {'listener': 0.31, 'stratifier': 0.27},
        'user_stats': [
            {'name': 'alice', 'hashrate': {'1m': 1e12, '5m': 1.5e12, '1hr': 2e12, '1d': 2e12, '7d': 2e12},
             'workers': 2, 'shares': 5000},
            {'name': 'bob', 'hashrate': {'1m': 0.5, '5m': 3e-3}, 'workers': 1, 'shares': 12.5},
        ],
    }
    inst.update(extra)
    return inst


def stopped_instance():
    """What the healthcheck role records for a stopped pool: no process, no pings, no status."""
    return {'checks': checks(process=False, listener_ping=False, stratifier_ping=False, status_age=False,
                             stratum_port=False),
            'healthy': False, 'failing': ['process', 'listener_ping', 'stratifier_ping', 'status_age', 'stratum_port'],
            'pid': None, 'hashrate_1m': None, 'hashrate_5m': None, 'users': None, 'workers': None, 'accepted': None,
            'rejected': None, 'bestshare': None, 'runtime': None, 'status_age': None,
            'ping_ms': {'listener': None, 'stratifier': None}, 'user_stats': []}


def test_filter_is_registered():
    assert FilterModule().filters()['prometheus_textfile'] is prometheus_textfile


def test_healthy_instance_series_values_and_units():
    fam = parse(prometheus_textfile({'main': healthy_instance()}, timestamp=NOW))
    assert value_of(fam, 'ckpool_healthcheck_success') == 1
    assert value_of(fam, 'ckpool_healthcheck_last_run_timestamp_seconds') == NOW
    assert value_of(fam, 'ckpool_healthcheck_instances') == 1
    one = {'ckpool_instance': 'main'}
    assert value_of(fam, 'ckpool_healthy', **one) == 1
    assert value_of(fam, 'ckpool_up', **one) == 1
    assert value_of(fam, 'ckpool_stratum_serving', **one) == 1
    assert value_of(fam, 'ckpool_workers', **one) == 7
    assert value_of(fam, 'ckpool_users', **one) == 3
    # base units: milliseconds of the health check become seconds, hashrates stay H/s
    assert value_of(fam, 'ckpool_socket_ping_seconds', socket='listener', **one) == pytest.approx(0.00031)
    assert value_of(fam, 'ckpool_hashrate_hashes_per_second', window='1m', **one) == 8.71e12
    assert value_of(fam, 'ckpool_hashrate_hashes_per_second', window='5m', **one) == 9.5e12
    # integers stay exact (no float rounding of a 12-digit share counter)
    assert value_of(fam, 'ckpool_shares_accepted_total', **one) == 123456789012
    assert value_of(fam, 'ckpool_best_share_difficulty', **one) == 98765.4321
    assert value_of(fam, 'ckpool_status_age_seconds', **one) == 12.5
    # without lastupdate in the entry it is the check time minus the age
    assert value_of(fam, 'ckpool_status_last_update_timestamp_seconds', **one) == pytest.approx(NOW - 12.5)
    assert value_of(fam, 'ckpool_uptime_seconds', **one) == 86400
    assert {lab['check'] for lab, dummy in fam['ckpool_check_ok']['samples']} == {
        'process', 'listener_ping', 'stratifier_ping', 'status_age', 'stratum_port'}
    assert fam['ckpool_shares_accepted_total']['type'] == 'counter'
    assert fam['ckpool_workers']['type'] == 'gauge'


def test_conventions_for_every_family():
    text = prometheus_textfile({'main': healthy_instance(), 'b': stopped_instance()}, per_user=True, timestamp=NOW)
    fam = parse(text)
    for name, family in fam.items():
        assert name.startswith('ckpool_')
        assert family['type'] is not None and family['help']
        assert name.endswith('_total') == (family['type'] == 'counter'), name
        for labels, dummy in family['samples']:
            if not name.startswith('ckpool_healthcheck_'):
                assert 'ckpool_instance' in labels, name
            assert 'instance' not in labels, 'the target label instance is left to Prometheus'
    rc, out = promtool_lint(text)
    assert rc == 0 and out.strip() == '', out


def test_promtool_lint_can_fail():
    """The lint above is not a formality: promtool rejects what the conventions forbid."""
    rc, out = promtool_lint('# HELP ckpool_x_milliseconds x\n# TYPE ckpool_x_milliseconds counter\n'
                            'ckpool_x_milliseconds 1\n')
    assert rc != 0 and 'total' in out and 'base unit' in out, out


def test_stopped_instance_has_verdicts_but_no_invented_numbers():
    fam = parse(prometheus_textfile({'main': healthy_instance(), 'down': stopped_instance()}, timestamp=NOW))
    down = {'ckpool_instance': 'down'}
    assert value_of(fam, 'ckpool_up', **down) == 0
    assert value_of(fam, 'ckpool_healthy', **down) == 0
    assert value_of(fam, 'ckpool_stratum_serving', **down) == 0
    for name in ('ckpool_workers', 'ckpool_hashrate_hashes_per_second', 'ckpool_status_age_seconds',
                 'ckpool_status_last_update_timestamp_seconds', 'ckpool_shares_accepted_total', 'ckpool_socket_ping_seconds'):
        assert not [lab for lab, dummy in fam[name]['samples'] if lab['ckpool_instance'] == 'down'], name
    for dummy, value in fam['ckpool_workers']['samples']:
        assert not math.isnan(value)
    # a stopped pool is a finding of a successful run: the run read what there was to read
    assert value_of(fam, 'ckpool_healthcheck_success') == 1
    assert value_of(fam, 'ckpool_healthcheck_instances') == 2


def test_unreadable_instance_makes_the_run_unsuccessful():
    broken = stopped_instance()
    broken['checks'].insert(0, {'name': 'ckpool_info', 'value': 'permission denied', 'threshold': 'answers', 'ok': False})
    fam = parse(prometheus_textfile({'main': healthy_instance(), 'x': broken}, timestamp=NOW))
    assert value_of(fam, 'ckpool_healthcheck_success') == 0
    assert value_of(fam, 'ckpool_check_ok', ckpool_instance='x', check='ckpool_info') == 0


@pytest.mark.parametrize('name', [
    'a"b', 'back\\slash', 'new\nline', '\\"\n\\n', 'trailing\\', 'ünïcødé ⛏', '{x="1"} 2\n# TYPE ckpool_up counter',
    'a\udcffb',
])
def test_user_and_instance_names_are_escaped(name):
    inst = healthy_instance(user_stats=[{'name': name, 'hashrate': {'5m': 42.0}, 'workers': 1, 'shares': 3}])
    text = prometheus_textfile({name: inst}, per_user=True, timestamp=NOW)
    fam = parse(text)
    expected = name.encode('utf-8', 'backslashreplace').decode('utf-8')
    assert value_of(fam, 'ckpool_user_workers', ckpool_instance=expected, user=expected) == 1
    assert value_of(fam, 'ckpool_user_hashrate_hashes_per_second', ckpool_instance=expected, user=expected,
                    window='5m') == 42.0
    # the forged TYPE line stays inside a label value: one TYPE line per family
    assert [line for line in text.split('\n') if line.startswith('# TYPE ckpool_up ')] == ['# TYPE ckpool_up gauge']
    text.encode('utf-8')  # valid UTF-8 whatever the name held
    rc, out = promtool_lint(text)
    assert rc == 0, out


def test_per_user_series_are_opt_in():
    health = {'main': healthy_instance()}
    fam = parse(prometheus_textfile(health, timestamp=NOW))
    assert not [n for n in fam if n.startswith('ckpool_user_')]
    fam = parse(prometheus_textfile(health, per_user=True, timestamp=NOW))
    assert value_of(fam, 'ckpool_user_workers', ckpool_instance='main', user='alice') == 2
    assert value_of(fam, 'ckpool_user_shares_total', ckpool_instance='main', user='bob') == 12.5
    assert value_of(fam, 'ckpool_user_hashrate_hashes_per_second', ckpool_instance='main', user='bob',
                    window='5m') == 3e-3
    assert {lab['window'] for lab, dummy in fam['ckpool_user_hashrate_hashes_per_second']['samples']
            if lab['user'] == 'alice'} == {'1m', '5m', '1hr', '1d', '7d'}
    assert fam['ckpool_user_shares_total']['type'] == 'counter'


def test_every_pool_window_and_full_pool_entries():
    """An entry that carries the module's pool dict (all windows, lastupdate, idle) exports all of it."""
    rates = {'1m': 1.0, '5m': 2.0, '15m': 3.0, '1hr': 4.0, '6hr': 5.0, '1d': 6.0, '7d': 7.0}
    inst = {'checks': checks(process=True), 'healthy': True,
            'process': {'running': True, 'pid': 1},
            'health': {'listener': {'ok': True, 'ms': 2.0}, 'connector': {'ok': False, 'error': 'timeout'}},
            'stratum_probe': {'ok': True, 'seconds': 0.004},
            'pool': {'lastupdate': 1795502400, 'age_seconds': 100.25, 'runtime': 5, 'users': 1, 'workers': 2,
                     'idle': 1, 'accepted': 10, 'rejected': 0, 'bestshare': 1.5, 'hashrate': rates}}
    fam = parse(prometheus_textfile({'p': inst}, timestamp=NOW))
    one = {'ckpool_instance': 'p'}
    for window, rate in rates.items():
        assert value_of(fam, 'ckpool_hashrate_hashes_per_second', window=window, **one) == rate
    assert value_of(fam, 'ckpool_status_last_update_timestamp_seconds', **one) == 1795502400
    assert value_of(fam, 'ckpool_idle_workers', **one) == 1
    assert value_of(fam, 'ckpool_stratum_probe_seconds', **one) == 0.004
    assert value_of(fam, 'ckpool_socket_ping_seconds', socket='listener', **one) == 0.002
    assert not [lab for lab, dummy in fam['ckpool_socket_ping_seconds']['samples'] if lab['socket'] == 'connector']


def test_repeated_series_are_written_once():
    inst = healthy_instance()
    inst['checks'].append({'name': 'process', 'ok': False})
    fam = parse(prometheus_textfile({'main': inst}, timestamp=NOW))
    assert value_of(fam, 'ckpool_check_ok', ckpool_instance='main', check='process') == 1


def test_values_are_formatted_for_prometheus():
    assert pt.format_value(True) == '1'
    assert pt.format_value(3) == '3'
    assert pt.format_value(2.0) == '2'
    assert pt.format_value(0.1) == '0.1'
    assert pt.format_value(1e300) == '1e+300'
    assert pt.format_value(float('inf')) == '+Inf'
    assert pt.format_value(float('-inf')) == '-Inf'
    assert pt.format_value(float('nan')) == 'NaN'
    assert float(pt.format_value(123456789.123456789)) == 123456789.123456789


def test_empty_health_is_a_valid_file():
    fam = parse(prometheus_textfile({}, timestamp=NOW))
    assert value_of(fam, 'ckpool_healthcheck_instances') == 0
    assert set(fam) == {'ckpool_healthcheck_success', 'ckpool_healthcheck_last_run_timestamp_seconds',
                        'ckpool_healthcheck_instances'}


def test_timestamp_defaults_to_now():
    import time
    before = time.time()
    fam = parse(prometheus_textfile({}))
    assert before - 1 <= value_of(fam, 'ckpool_healthcheck_last_run_timestamp_seconds') <= time.time() + 1


@pytest.mark.parametrize('args, message', [
    (([],), 'expects the ckpool_health fact'),
    (('text',), 'expects the ckpool_health fact'),
    (({'a': 'x'},), "instance 'a'"),
    (({}, 'yes'), 'per_user must be a boolean'),
    (({}, False, 'soon'), 'timestamp'),
    (({}, False, -1), 'timestamp'),
    (({}, False, float('inf')), 'timestamp'),
])
def test_bad_input_is_refused(args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        prometheus_textfile(*args)


def test_documentation_names_every_metric():
    path = os.path.join(os.path.dirname(filter_file.__file__), 'prometheus_textfile.yml')
    with open(path) as handle:
        doc = yaml.safe_load(handle)['DOCUMENTATION']
    text = [entry for entry in doc['description'] if entry.startswith('Series:')][0]
    documented = set(re.findall(r'C\((ckpool_[a-z_]+)\)', text))
    assert documented - {'ckpool_instance'} == {m[0] for m in pt.METRICS}


def module_instance(**extra):
    """An instance of the ckpool_health fact as the ckpool_health module era shapes it (fleetops, 0.2.0)."""
    checks_ = [
        {'name': 'process', 'value': 4242, 'threshold': 'alive', 'ok': True, 'verdict': 'pass', 'reason': ''},
        {'name': 'stratum_port', 'value': '127.0.0.1:3333', 'threshold': 'connect', 'ok': True, 'verdict': 'pass',
         'reason': ''},
        {'name': 'stratum_subscribe', 'value': 3.5, 'threshold': 'answer within 3 s', 'ok': False, 'verdict': 'fail',
         'reason': 'no answer'},
        {'name': 'workers', 'value': 0, 'threshold': 1, 'ok': True, 'verdict': 'not_judged',
         'reason': 'process younger than its first status update'},
    ]
    inst = {'checks': checks_, 'healthy': False, 'failing': ['stratum_subscribe'], 'not_judged': ['workers'],
            'pid': 4242, 'started': 1795500000, 'mode': 'solo', 'socket_dir': '/run/ckpool/solo',
            'stratum': '127.0.0.1:3333', 'stratum_ms': 3012.5, 'hashrate_1m': 1.0, 'hashrate_5m': 2.0,
            'hashrate': {'1m': 1.0, '5m': 2.0, '15m': 3.0, '1hr': 4.0, '6hr': 5.0, '1d': 6.0, '7d': 7.0},
            'lastupdate': 1795502450, 'users': 1, 'workers': 0, 'accepted': 5, 'rejected': 1, 'bestshare': 2.5,
            'runtime': 2500, 'status_age': 50.25, 'ping_ms': {'listener': 0.2, 'stratifier': 0.3}, 'user_stats': [],
            'read_errors': []}
    inst.update(extra)
    return inst


def test_module_shape_stratum_subscribe_decides_serving():
    """A TCP port that accepts but a subscribe that is never answered (a frozen pool) is not serving."""
    text = prometheus_textfile({'solo': module_instance()}, per_user=True, timestamp=NOW)
    rc, out = promtool_lint(text)
    assert rc == 0 and out.strip() == '', out
    fam = parse(text)
    one = {'ckpool_instance': 'solo'}
    assert value_of(fam, 'ckpool_stratum_serving', **one) == 0
    assert value_of(fam, 'ckpool_stratum_probe_seconds', **one) == pytest.approx(3.0125)
    assert value_of(fam, 'ckpool_check_ok', check='stratum_port', **one) == 1
    assert value_of(fam, 'ckpool_check_ok', check='stratum_subscribe', **one) == 0
    # not judged is not failing
    assert value_of(fam, 'ckpool_check_ok', check='workers', **one) == 1
    assert value_of(fam, 'ckpool_process_start_time_seconds', **one) == 1795500000
    assert value_of(fam, 'ckpool_instance_info', mode='solo', tier='pool', **one) == 1
    assert value_of(fam, 'ckpool_status_last_update_timestamp_seconds', **one) == 1795502450
    for window, rate in module_instance()['hashrate'].items():
        assert value_of(fam, 'ckpool_hashrate_hashes_per_second', window=window, **one) == rate
    assert value_of(fam, 'ckpool_healthcheck_success') == 1
    # and the subscribe probe's order in the list does not matter
    inst = module_instance()
    inst['checks'] = list(reversed(inst['checks']))
    fam = parse(prometheus_textfile({'solo': inst}, timestamp=NOW))
    assert value_of(fam, 'ckpool_stratum_serving', **one) == 0


def test_module_shape_read_errors_make_the_run_unsuccessful():
    fam = parse(prometheus_textfile({'solo': module_instance(read_errors=['users/: permission denied'])},
                                    timestamp=NOW))
    assert value_of(fam, 'ckpool_healthcheck_success') == 0


def test_module_shape_stopped_instance_has_no_start_time():
    inst = module_instance(pid=None, healthy=False)
    inst['checks'][0] = {'name': 'process', 'value': None, 'threshold': 'alive', 'ok': False, 'verdict': 'fail'}
    fam = parse(prometheus_textfile({'solo': inst}, timestamp=NOW))
    assert value_of(fam, 'ckpool_up', ckpool_instance='solo') == 0
    assert 'ckpool_process_start_time_seconds' not in fam


@pytest.mark.parametrize('extra, tier', [
    ({'mode': 'passthrough'}, 'passthrough'),
    ({'mode': 'proxy'}, 'proxy'),
    ({'mode': 'pool', 'tier': 'node'}, 'node'),       # the inventory's tier wins
    ({'mode': 'martian'}, 'unknown'),                 # a mode this collection does not know
])
def test_instance_info_tier(extra, tier):
    fam = parse(prometheus_textfile({'x': module_instance(**extra)}, timestamp=NOW))
    ((labels, value),) = fam['ckpool_instance_info']['samples']
    assert labels['tier'] == tier and value == 1
