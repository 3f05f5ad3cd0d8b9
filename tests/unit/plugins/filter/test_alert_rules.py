# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the alert_rules filter, on the collection's shipped rules file; results checked by promtool."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.ckpool.fleet.plugins.filter.alert_rules import FilterModule, alert_rules

RULES = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'monitoring', 'prometheus',
                                      'ckpool_alerts.yml'))
PROMTOOL = '/usr/bin/promtool'


@pytest.fixture(scope='module')
def shipped():
    with open(RULES) as handle:
        return handle.read()


def alerts_of(text):
    doc = yaml.safe_load(text)
    return dict((r['alert'], r) for g in doc['groups'] for r in g['rules'] if 'alert' in r)


def promtool_check(text, tmp_path):
    assert os.path.exists(PROMTOOL), 'promtool is required (Debian package prometheus; .ci/run installs it)'
    path = tmp_path / 'rules.yml'
    path.write_text(text)
    proc = subprocess.run([PROMTOOL, 'check', 'rules', str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=60, check=False)
    return proc.returncode, proc.stdout.decode()


def test_registered():
    assert FilterModule().filters()['alert_rules'] is alert_rules


def test_no_overrides_keeps_every_rule_as_shipped(shipped, tmp_path):
    out = alert_rules(shipped)
    assert out.startswith('# Prometheus alerting rules of ckpool.fleet.\n')
    assert alerts_of(out) == alerts_of(shipped)
    assert list(alerts_of(out)) == list(alerts_of(shipped)), 'order kept'
    rc, report = promtool_check(out, tmp_path)
    assert rc == 0, report


def test_for_and_labels_overrides(shipped, tmp_path):
    out = alert_rules(shipped, {'CkpoolInstanceDown': {'for': '0s', 'labels': {'severity': 'page', 'team': 'pool'}},
                                'CkpoolHashrateDrop': {'for': '1h30m'},
                                'CkpoolNoWorkers': {'labels': {'severity': None}}}, source='here.yml')
    before, after = alerts_of(shipped), alerts_of(out)
    assert after['CkpoolInstanceDown']['for'] == '0s'
    assert after['CkpoolInstanceDown']['labels'] == {'severity': 'page', 'team': 'pool'}
    assert after['CkpoolHashrateDrop']['for'] == '1h30m'
    assert 'labels' not in after['CkpoolNoWorkers']
    for name in before:
        # expressions and annotations are never touched
        assert after[name]['expr'] == before[name]['expr']
        assert after[name]['annotations'] == before[name]['annotations']
    for name in set(before) - {'CkpoolInstanceDown', 'CkpoolHashrateDrop', 'CkpoolNoWorkers'}:
        assert after[name] == before[name]
    assert '(here.yml)' in out.splitlines()[0]
    assert 'CkpoolHashrateDrop, CkpoolInstanceDown, CkpoolNoWorkers' in out.splitlines()[1]
    rc, report = promtool_check(out, tmp_path)
    assert rc == 0, report


def test_prometheus_templates_pass_through_unchanged(shipped):
    out = alert_rules(shipped, {'CkpoolInstanceDown': {'for': '5m'}})
    assert '{{ $labels.ckpool_instance }}' in out
    assert '{{ $value | humanizeDuration }}' in out


def _same(self):
    """What AnsibleUnsafeText.__str__ does on ansible-core 2.16: the object itself, not a plain str."""
    return self


# Like Ansible's wrapped strings before 2.19: a str subclass whose str() is itself.
Wrapped = type('Wrapped', (str,), {'__str__': _same})


def test_wrapped_is_like_ansible_2_16():
    assert isinstance(str(Wrapped('x')), Wrapped)


def test_wrapped_strings_are_written_as_plain_yaml(shipped, tmp_path):
    out = alert_rules(Wrapped(shipped), {Wrapped('CkpoolInstanceDown'): {Wrapped('for'): Wrapped('30s'),
                                                                         'labels': {Wrapped('team'): Wrapped('a b')}}},
                      [Wrapped('CkpoolNoWorkers')], source=Wrapped('x'))
    after = alerts_of(out)
    assert after['CkpoolInstanceDown']['for'] == '30s' and after['CkpoolInstanceDown']['labels']['team'] == 'a b'
    rc, report = promtool_check(out, tmp_path)
    assert rc == 0, report


def test_disabled_alerts_are_left_out(shipped, tmp_path):
    out = alert_rules(shipped, disabled=['CkpoolNoWorkers', 'CkpoolHashrateDrop'])
    assert set(alerts_of(shipped)) - set(alerts_of(out)) == {'CkpoolNoWorkers', 'CkpoolHashrateDrop'}
    rc, report = promtool_check(out, tmp_path)
    assert rc == 0, report


def test_parsed_input_is_not_changed(shipped):
    doc = yaml.safe_load(shipped)
    copy = yaml.safe_load(shipped)
    alert_rules(doc, {'CkpoolInstanceDown': {'for': '0s', 'labels': {'x': 'y'}}}, ['CkpoolNoWorkers'])
    assert doc == copy


@pytest.mark.parametrize('overrides, disabled, message', [
    ({'CkpoolTypo': {'for': '1m'}}, None, r'unknown alert\(s\) CkpoolTypo'),
    (None, ['CkpoolTypo'], r'unknown alert\(s\) CkpoolTypo'),
    ({'CkpoolInstanceDown': {'expr': 'vector(1)'}}, None, 'may set only for and labels, not expr'),
    ({'CkpoolInstanceDown': {'annotations': {}}}, None, 'not annotations'),
    ({'CkpoolInstanceDown': {'for': '5 minutes'}}, None, 'Prometheus duration'),
    ({'CkpoolInstanceDown': {'for': '5m1h'}}, None, 'Prometheus duration'),
    ({'CkpoolInstanceDown': {'for': ''}}, None, 'Prometheus duration'),
    ({'CkpoolInstanceDown': {'for': 300}}, None, 'Prometheus duration'),
    ({'CkpoolInstanceDown': {'labels': {'bad-name': 'x'}}}, None, 'is not a label name'),
    ({'CkpoolInstanceDown': {'labels': {'__reserved': 'x'}}}, None, 'is not a label name'),
    ({'CkpoolInstanceDown': {'labels': {'team': ['a']}}}, None, 'must be a string'),
    ({'CkpoolInstanceDown': {'labels': ['team']}}, None, 'must be a dict'),
    ({'CkpoolInstanceDown': '0s'}, None, 'must be a dict'),
    (['CkpoolInstanceDown'], None, 'overrides must be a dict'),
    (None, 'CkpoolNoWorkers', 'disabled must be a list'),
])
def test_mistakes_are_refused(shipped, overrides, disabled, message):
    with pytest.raises(AnsibleFilterError, match=message):
        alert_rules(shipped, overrides, disabled)


def test_disabling_everything_is_refused(shipped):
    with pytest.raises(AnsibleFilterError, match='every alert is disabled'):
        alert_rules(shipped, disabled=list(alerts_of(shipped)))


@pytest.mark.parametrize('text, message', [
    ('groups: [', 'not YAML'),
    ('- a\n- b\n', 'mapping with a list of groups'),
    ('groups:\n  - name: x\n', 'list of rules'),
])
def test_not_a_rules_file(text, message):
    with pytest.raises(AnsibleFilterError, match=message):
        alert_rules(text)
