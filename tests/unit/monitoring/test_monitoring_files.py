# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shipped monitoring files: Prometheus alerting rules, their promtool unit tests, the Grafana dashboard.

- ``promtool check rules`` and ``promtool test rules`` pass (Debian package prometheus, installed by .ci/run);
- every alert has a unit-test case where it fires and one where it must not, and the unit tests catch a broken
  alert: for every alert, three mutations of the rules file (never fires, fires at once, fires for everything)
  each make ``promtool test rules`` fail;
- rules and dashboard use only series and labels the health check's textfile has (the prometheus_textfile
  filter's METRICS);
- the dashboard is a well-formed Grafana dashboard: unique ids, panels on the 24-column grid without overlap, one
  data source variable, defined template variables, and the panels the issue asks for.

The real Prometheus run of the same files is the integration target prometheus_monitoring.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
import yaml

from ansible_collections.ckpool.fleet.plugins.module_utils.prometheus_text import METRICS

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
RULES = os.path.join(ROOT, 'monitoring', 'prometheus', 'ckpool_alerts.yml')
RULE_TESTS = os.path.join(ROOT, 'monitoring', 'prometheus', 'tests', 'ckpool_alerts_test.yml')
DASHBOARD = os.path.join(ROOT, 'monitoring', 'grafana', 'ckpool-fleet.json')
PROMTOOL = '/usr/bin/promtool'

LABELS = dict((name, set(labels) | {'instance', 'job'}) for name, kind, help_text, labels in METRICS)
SELECTOR = re.compile(r'\b(ckpool_[a-zA-Z0-9_]+)(\{[^}]*\})?')
GROUPING = re.compile(r'\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)')
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"')
ALERTS_ASKED_FOR = {'CkpoolInstanceDown', 'CkpoolStatusStale', 'CkpoolStratumNotServing', 'CkpoolHashrateDrop',
                    'CkpoolNoWorkers', 'CkpoolHighRejectRatio', 'CkpoolHealthcheckNotRun'}


def load_yaml(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def alerts():
    return [r for g in load_yaml(RULES)['groups'] for r in g['rules'] if 'alert' in r]


def promtool(*args):
    assert os.path.exists(PROMTOOL), 'promtool is required (Debian package prometheus; .ci/run installs it)'
    proc = subprocess.run([PROMTOOL] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120,
                          check=False)
    return proc.returncode, proc.stdout.decode()


def selectors(expr):
    """(metric, label names matched) of every ckpool_ selector, and the label names of by()/on()/... clauses."""
    grouping = set()
    for dummy, labels in GROUPING.findall(expr):
        grouping.update(label.strip() for label in labels.split(',') if label.strip())
    found = [(name, set(label for label, dummy in MATCHER.findall(matchers)))
             for name, matchers in SELECTOR.findall(GROUPING.sub('', expr))]
    return found, grouping


# -- the rules --------------------------------------------------------------------------------------------------

def test_promtool_check_rules():
    rc, out = promtool('check', 'rules', RULES)
    assert rc == 0 and 'SUCCESS: %d rules found' % len(alerts()) in out, out


def test_promtool_unit_tests_pass():
    rc, out = promtool('test', 'rules', RULE_TESTS)
    assert rc == 0 and 'SUCCESS' in out, out


def test_the_alerts_the_issue_asks_for_are_there():
    assert ALERTS_ASKED_FOR <= {a['alert'] for a in alerts()}


@pytest.mark.parametrize('rule', alerts(), ids=lambda r: r['alert'])
def test_alert_is_complete(rule):
    assert rule['alert'].startswith('Ckpool')
    assert rule['labels']['severity'] in ('critical', 'warning')
    assert rule['annotations']['summary'] and rule['annotations']['description']
    assert re.match(r'^\d+[smh]$', rule['for'])


@pytest.mark.parametrize('rule', alerts(), ids=lambda r: r['alert'])
def test_alert_uses_only_textfile_series_and_labels(rule):
    found, grouping = selectors(rule['expr'])
    assert found, 'no ckpool_ series in %s' % rule['expr']
    available = set()
    for name, matched in found:
        assert name in LABELS, '%s is not a textfile series' % name
        assert matched <= LABELS[name], '%s has no label %s' % (name, matched - LABELS[name])
        available |= LABELS[name]
    assert grouping <= available
    templated = set(re.findall(r'\$labels\.([a-zA-Z_]+)', json.dumps(rule['annotations'])))
    assert templated <= available, 'annotations use labels the series do not have: %s' % (templated - available)


def test_every_alert_is_tested_firing_and_not_firing():
    cases = {}
    for group in load_yaml(RULE_TESTS)['tests']:
        for case in group.get('alert_rule_test') or []:
            cases.setdefault(case['alertname'], []).append(bool(case.get('exp_alerts')))
    for rule in alerts():
        assert True in cases.get(rule['alert'], []), '%s never fires in the unit tests' % rule['alert']
        assert False in cases.get(rule['alert'], []), '%s has no case where it must not fire' % rule['alert']


def first_selector(expr):
    name, matchers = SELECTOR.findall(GROUPING.sub('', expr))[0]
    return name + matchers


MUTATIONS = {
    'never fires': lambda rule: dict(rule, expr='vector(1) < 0'),
    'fires at once': lambda rule: dict(rule, **{'for': '0s'}),
    'fires for every series': lambda rule: dict(rule, expr=first_selector(rule['expr'])),
}


@pytest.mark.parametrize('mutation', sorted(MUTATIONS))
@pytest.mark.parametrize('alert', [r['alert'] for r in alerts()])
def test_unit_tests_catch_a_broken_alert(tmp_path, alert, mutation):
    doc = load_yaml(RULES)
    for group in doc['groups']:
        group['rules'] = [MUTATIONS[mutation](r) if r.get('alert') == alert else r for r in group['rules']]
    (tmp_path / 'mutated.yml').write_text(yaml.safe_dump(doc, sort_keys=False))
    tests = load_yaml(RULE_TESTS)
    tests['rule_files'] = [str(tmp_path / 'mutated.yml')]
    (tmp_path / 'tests.yml').write_text(yaml.safe_dump(tests, sort_keys=False))
    # the mutations are valid rules: promtool must report the alert's failed expectations
    rc, out = promtool('test', 'rules', str(tmp_path / 'tests.yml'))
    assert rc != 0 and alert in out, 'promtool test rules did not notice that %s %s:\n%s' % (alert, mutation, out)


# -- the dashboard -----------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def dashboard():
    with open(DASHBOARD) as handle:
        return json.load(handle)


def panels(dash):
    out = []
    for panel in dash['panels']:
        out.append(panel)
        out.extend(panel.get('panels') or [])
    return out


def test_dashboard_identity(dashboard):
    assert dashboard['uid'] == 'ckpool-fleet' and dashboard['title']
    assert isinstance(dashboard['schemaVersion'], int) and dashboard['schemaVersion'] >= 36
    assert 'id' not in dashboard or dashboard['id'] is None, 'a provisioned dashboard has no database id'


def test_dashboard_variables(dashboard):
    variables = dict((v['name'], v) for v in dashboard['templating']['list'])
    assert variables['datasource']['type'] == 'datasource' and variables['datasource']['query'] == 'prometheus'
    used = set()
    for panel in panels(dashboard):
        for target in panel.get('targets') or []:
            used.update(re.findall(r'\$(\w+)', target['expr']))
    for variable in variables.values():
        if variable['type'] == 'query':
            used.update(re.findall(r'\$(\w+)', variable['definition']))
            assert variable['definition'] == variable['query']['query']
            assert variable['datasource']['uid'] == '${datasource}'
    assert used <= set(variables), 'undefined variables: %s' % (used - set(variables))
    assert {'host', 'ckpool_instance'} <= used


def test_dashboard_panels_on_the_grid(dashboard):
    ids = [p['id'] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), 'panel ids repeat'
    cells = {}
    for panel in panels(dashboard):
        grid = panel['gridPos']
        assert 0 <= grid['x'] and grid['x'] + grid['w'] <= 24 and grid['w'] > 0 and grid['h'] > 0, panel['title']
        for x in range(grid['x'], grid['x'] + grid['w']):
            for y in range(grid['y'], grid['y'] + grid['h']):
                assert (x, y) not in cells, '%r overlaps %r' % (panel['title'], cells[(x, y)])
                cells[(x, y)] = panel['title']


def test_dashboard_queries_use_textfile_series(dashboard):
    metrics = set()
    for panel in panels(dashboard):
        if panel['type'] == 'row':
            continue
        assert panel['datasource'] == {'type': 'prometheus', 'uid': '${datasource}'}, panel['title']
        assert panel.get('description'), '%s has no description' % panel['title']
        assert panel['targets'], panel['title']
        ref_ids = [t['refId'] for t in panel['targets']]
        assert len(ref_ids) == len(set(ref_ids))
        for target in panel['targets']:
            found, grouping = selectors(target['expr'])
            assert found, '%s: no ckpool_ series' % panel['title']
            available = set()
            for name, matched in found:
                assert name in LABELS, '%s: %s is not a textfile series' % (panel['title'], name)
                assert matched <= LABELS[name], '%s: %s has no label %s' % (panel['title'], name, matched - LABELS[name])
                available |= LABELS[name]
                metrics.add(name)
            assert grouping <= available, panel['title']
            legend = set(re.findall(r'\{\{\s*(\w+)\s*\}\}', target.get('legendFormat', '')))
            assert legend <= available, '%s: legend uses %s' % (panel['title'], legend - available)
    # what the issue asks for: fleet and per-instance hashrate, workers, health, status age, shares
    assert {'ckpool_hashrate_hashes_per_second', 'ckpool_workers', 'ckpool_healthy', 'ckpool_status_age_seconds',
            'ckpool_shares_accepted_total', 'ckpool_shares_rejected_total'} <= metrics
    titles = [p['title'] for p in panels(dashboard)]
    assert 'Fleet hashrate' in titles and 'Hashrate per instance (5m)' in titles
