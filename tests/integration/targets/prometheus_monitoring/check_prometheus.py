# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Questions to a real Prometheus server over its HTTP API (called by runme.sh).

    check_prometheus.py --url URL wait-ready [--timeout S]
    check_prometheus.py --url URL rules --expect-groups N [--rules-file F --for DURATION]
    check_prometheus.py --url URL wait-query EXPR VALUE [--timeout S]
    check_prometheus.py --url URL series --rules-file F --dashboard F --instances H/I,... [--user H/I/NAME]
    check_prometheus.py --url URL alerts (--none | --only ALERT:HOST/INSTANCE...)
    check_prometheus.py --url URL wait-alert ALERT LABEL=VALUE... [--timeout S]

Exit 1 with the reasons when a check fails.
"""

import argparse
import importlib
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
# ckpool_ metric selectors in PromQL: the name and its optional {matchers}; label lists of by(), on() ... first
# removed (they name labels, not metrics)
SELECTOR = re.compile(r'\b(ckpool_[a-zA-Z0-9_]+)(\{[^}]*\})?')
GROUPING = re.compile(r'\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)')
LABEL_VALUES = re.compile(r'^label_values\((.+),\s*([a-zA-Z_]+)\)$')
# Grafana variables of the dashboard -> the values they take when "All" is selected, and one selection
ALL = {'$host': '.*', '$ckpool_instance': '.*'}
ONE = {'$host': 'alpha', '$ckpool_instance': 'main'}
# labels Prometheus itself adds to every scraped series (the scrape target)
TARGET_LABELS = {'instance', 'job'}

failures = []


def fail(message):
    failures.append(message)
    print('FAIL: %s' % message)


def done():
    if failures:
        sys.exit('%d check(s) failed' % len(failures))


def api(url, path, params=None, method='GET', timeout=10):
    data = None
    full = url + path
    if params is not None and method == 'POST':
        data = urllib.parse.urlencode(params, doseq=True).encode()
    elif params is not None:
        full += '?' + urllib.parse.urlencode(params, doseq=True)
    request = urllib.request.Request(full, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
    doc = json.loads(body.decode())
    if doc.get('status') != 'success':
        raise RuntimeError('%s %s: %s' % (path, params, doc))
    return doc['data']


def query(url, expr):
    data = api(url, '/api/v1/query', {'query': expr}, method='POST')
    assert data['resultType'] in ('vector', 'scalar'), data
    return data['result'] if data['resultType'] == 'vector' else [{'metric': {}, 'value': data['result']}]


def load_metrics(coll):
    """METRICS of the collection's textfile format (module_utils/prometheus_text.py): name -> label names."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(coll))))
    if root not in sys.path:
        sys.path.insert(0, root)
    module = importlib.import_module('ansible_collections.ckpool.fleet.plugins.module_utils.prometheus_text')
    assert os.path.samefile(module.__file__, os.path.join(coll, 'plugins', 'module_utils', 'prometheus_text.py'))
    return dict((name, set(labels)) for name, kind, help_text, labels in module.METRICS)


def duration_seconds(text):
    total = 0.0
    for number, unit in re.findall(r'(\d+)(ms|y|w|d|h|m|s)', text):
        total += int(number) * {'ms': 0.001, 's': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800, 'y': 31536000}[unit]
    return total


def shipped_alerts(path):
    with open(path) as handle:
        doc = yaml.safe_load(handle)
    return dict((r['alert'], r) for g in doc['groups'] for r in g['rules'] if 'alert' in r)


def dashboard_queries(path):
    """(where, expr) of every query in the dashboard: panel targets and query variables."""
    with open(path) as handle:
        dash = json.load(handle)
    out = []

    def walk(panels):
        for panel in panels:
            for target in panel.get('targets') or []:
                if target.get('expr'):
                    out.append(('panel %r %s' % (panel['title'], target.get('refId')), target['expr']))
            walk(panel.get('panels') or [])
    walk(dash.get('panels') or [])
    variables = [v for v in dash['templating']['list'] if v.get('type') == 'query']
    return out, variables


def substitute(expr, values):
    for name, value in values.items():
        expr = expr.replace(name, value)
    assert '$' not in expr, 'unknown dashboard variable in %r' % expr
    return expr


def cmd_wait_ready(args):
    deadline = time.time() + args.timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(args.url + '/-/ready', timeout=2) as response:
                if response.status == 200:
                    print('prometheus is ready')
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    sys.exit('prometheus did not become ready within %s s' % args.timeout)


def cmd_rules(args):
    groups = api(args.url, '/api/v1/rules')['groups']
    if len(groups) != args.expect_groups:
        fail('%d rule group(s) loaded, expected %d: %s' % (len(groups), args.expect_groups, [g['name'] for g in groups]))
    if args.rules_file:
        shipped = shipped_alerts(args.rules_file)
        loaded = dict((r['name'], r) for g in groups for r in g['rules'] if r['type'] == 'alerting')
        if set(loaded) != set(shipped):
            fail('alerts loaded %s, shipped %s' % (sorted(loaded), sorted(shipped)))
        for name, rule in loaded.items():
            if name not in shipped:
                continue
            if args.__dict__['for'] is not None and rule['duration'] != duration_seconds(args.__dict__['for']):
                fail('%s: for is %s s in Prometheus, the override says %s' % (name, rule['duration'], args.__dict__['for']))
            if rule['labels'] != shipped[name].get('labels', {}):
                fail('%s: labels %s, shipped %s' % (name, rule['labels'], shipped[name].get('labels')))
            if rule['annotations'] != shipped[name].get('annotations', {}):
                fail('%s: annotations differ from the shipped ones' % name)
            if rule['health'] != 'ok' and rule['health'] != 'unknown':
                fail('%s: rule health %s (%s)' % (name, rule['health'], rule.get('lastError')))
        print('rules: %d group(s), alerts %s' % (len(groups), sorted(loaded)))
    done()


def cmd_wait_query(args):
    deadline = time.time() + args.timeout
    last = None
    while time.time() < deadline:
        result = query(args.url, args.expr)
        last = [r['value'][1] for r in result]
        if last == [args.value]:
            print('%s = %s' % (args.expr, args.value))
            return
        time.sleep(0.5)
    sys.exit('%s is %s, not %s, after %s s' % (args.expr, last, args.value, args.timeout))


def check_labels(name, series, metrics):
    """Every series of a ckpool_ metric has exactly the labels the textfile filter documents, plus the target's."""
    expected = metrics[name] | TARGET_LABELS
    for entry in series:
        labels = set(entry['metric']) - {'__name__'}
        if labels != expected:
            fail('%s: labels %s, expected %s' % (name, sorted(labels), sorted(expected)))
            return


def cmd_series(args):
    metrics = load_metrics(args.coll)
    instances = set(tuple(item.split('/', 1)) for item in args.instances.split(','))
    hosts = set(h for h, dummy in instances)

    # the textfiles parsed cleanly on every host
    errors = query(args.url, 'node_textfile_scrape_error')
    if sorted(e['metric']['instance'] for e in errors) != sorted(hosts) or any(e['value'][1] != '0' for e in errors):
        fail('node_textfile_scrape_error: %s' % [(e['metric'], e['value'][1]) for e in errors])

    # every ckpool_ series in Prometheus carries the documented labels
    present = set()
    for name in sorted(metrics):
        series = query(args.url, '{__name__="%s"}' % name)
        if series:
            present.add(name)
            check_labels(name, series, metrics)
    unknown = [r['metric']['__name__'] for r in query(args.url, '{__name__=~"ckpool_.+"}')
               if r['metric']['__name__'] not in metrics]
    if unknown:
        fail('series the filter does not document: %s' % sorted(set(unknown)))

    # what the rules and the dashboard use
    used = []
    for name, rule in shipped_alerts(args.rules_file).items():
        used.append(('alert %s' % name, rule['expr']))
    panels, variables = dashboard_queries(args.dashboard)
    for where, expr in panels:
        used.append((where, substitute(expr, ALL)))
    for variable in variables:
        match = LABEL_VALUES.match(substitute(variable['definition'], ALL))
        if not match:
            fail('variable %s: not a label_values() query' % variable['name'])
            continue
        used.append(('variable %s' % variable['name'], match.group(1)))
    names = set()
    for where, expr in used:
        for name, matchers in SELECTOR.findall(GROUPING.sub('', expr)):
            names.add(name)
            if name not in metrics:
                fail('%s uses %s, which the textfile does not have' % (where, name))
                continue
            series = query(args.url, name + matchers)
            if not series:
                fail('%s: %s%s matches no series in Prometheus' % (where, name, matchers))
                continue
            check_labels(name, series, metrics)
            # per-instance series exist for every instance, the run's own series for every host
            if 'ckpool_instance' in metrics[name] and not matchers:
                got = set((s['metric']['instance'], s['metric']['ckpool_instance']) for s in series)
                if got != instances:
                    fail('%s: %s exists for %s, expected %s' % (where, name, sorted(got), sorted(instances)))
            elif not matchers:
                got = set(s['metric']['instance'] for s in series)
                if got != hosts:
                    fail('%s: %s exists for hosts %s, expected %s' % (where, name, sorted(got), sorted(hosts)))
    print('rules and dashboard use %d metric(s): %s' % (len(names), ', '.join(sorted(names))))

    # every dashboard query answers with data, for "All" and for one host and instance
    for values in (ALL, ONE):
        for where, expr in panels:
            try:
                result = query(args.url, substitute(expr, values))
            except RuntimeError as exc:
                fail('%s: %s' % (where, exc))
                continue
            if not result:
                fail('%s answers nothing with %s: %s' % (where, values, expr))
    for variable in variables:
        match = LABEL_VALUES.match(substitute(variable['definition'], ALL))
        if not match:
            continue
        values = api(args.url, '/api/v1/label/%s/values' % match.group(2), {'match[]': match.group(1)})
        expected = hosts if variable['name'] == 'host' else set(i for dummy, i in instances)
        if set(values) != expected:
            fail('variable %s offers %s, expected %s' % (variable['name'], values, sorted(expected)))
    print('dashboard: %d panel queries answered for all and for %s' % (len(panels), ONE))

    if args.pool_tier:
        # the dashboard's fleet total counts the pool tier only (a proxy forwards its miners' work to a pool)
        pool_tier = set(tuple(item.split('/', 1)) for item in args.pool_tier.split(','))
        rates = dict(((s['metric']['instance'], s['metric']['ckpool_instance']), float(s['value'][1]))
                     for s in query(args.url, 'ckpool_hashrate_hashes_per_second{window="5m"}'))
        tiers = dict(((s['metric']['instance'], s['metric']['ckpool_instance']), s['metric']['tier'])
                     for s in query(args.url, 'ckpool_instance_info'))
        if set(k for k, t in tiers.items() if t == 'pool') != pool_tier:
            fail('pool tier per ckpool_instance_info: %s, expected %s' % (sorted(tiers.items()), sorted(pool_tier)))
        others = [k for k in rates if k not in pool_tier]
        if not others or not all(rates[k] > 0 for k in others):
            fail('the test needs an instance outside the pool tier with a hashrate: %s' % rates)
        expected = sum(rates[k] for k in pool_tier)
        stat = [expr for where, expr in panels if where.startswith("panel 'Fleet hashrate (5m)'")]
        got = [float(r['value'][1]) for r in query(args.url, substitute(stat[0], ALL))] if stat else []
        if len(got) != 1 or abs(got[0] - expected) > 1e-6 * expected:
            fail('dashboard fleet hashrate %s, expected the pool tier sum %s (all tiers: %s)'
                 % (got, expected, sum(rates.values())))
        else:
            print('dashboard fleet hashrate = pool tier %s H/s (all tiers would be %s)' % (expected, sum(rates.values())))

    if args.user:
        host, inst, user = args.user.split('/', 2)
        series = query(args.url, 'ckpool_user_workers{instance="%s",ckpool_instance="%s"}' % (host, inst))
        names = [s['metric'].get('user') for s in series]
        if user not in names:
            fail('user %r not among the user series of %s/%s: %s' % (user, host, inst, names))
        else:
            print('user label round trip: %r' % user)
    done()


def alerts(url):
    return api(url, '/api/v1/alerts')['alerts']


def cmd_alerts(args):
    active = alerts(args.url)
    summary = [(a['labels']['alertname'], a['labels'].get('instance'), a['labels'].get('ckpool_instance'), a['state'])
               for a in active]
    if args.none:
        if active:
            fail('alerts active over a healthy fleet: %s' % summary)
    else:
        expected = []
        for item in args.only:
            alert, where = item.split(':', 1)
            host, inst = where.split('/', 1)
            expected.append((alert, host, inst, 'firing'))
        if sorted(summary) != sorted(expected):
            fail('active alerts %s, expected exactly %s' % (summary, expected))
    print('alerts: %s' % (summary or 'none'))
    done()


def cmd_wait_alert(args):
    want = dict(item.split('=', 1) for item in args.labels)
    deadline = time.time() + args.timeout
    while time.time() < deadline:
        for alert in alerts(args.url):
            labels = alert['labels']
            if labels.get('alertname') == args.alert and all(labels.get(k) == v for k, v in want.items()) \
                    and alert['state'] == 'firing':
                print('%s firing: %s (%s)' % (args.alert, labels, alert['annotations'].get('summary')))
                return
        time.sleep(0.5)
    sys.exit('%s %s did not fire within %s s; active: %s' % (args.alert, want, args.timeout, alerts(args.url)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--url', required=True)
    parser.add_argument('--coll', default=os.path.normpath(os.path.join(HERE, '..', '..', '..', '..')))
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('wait-ready')
    p.add_argument('--timeout', type=float, default=60)
    p = sub.add_parser('rules')
    p.add_argument('--expect-groups', type=int, required=True)
    p.add_argument('--rules-file')
    p.add_argument('--for', default=None)
    p = sub.add_parser('wait-query')
    p.add_argument('expr')
    p.add_argument('value')
    p.add_argument('--timeout', type=float, default=30)
    p = sub.add_parser('series')
    p.add_argument('--rules-file', required=True)
    p.add_argument('--dashboard', required=True)
    p.add_argument('--instances', required=True)
    p.add_argument('--user')
    p.add_argument('--pool-tier')
    p = sub.add_parser('alerts')
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument('--none', action='store_true')
    group.add_argument('--only', action='append', metavar='ALERT:HOST/INSTANCE')
    p = sub.add_parser('wait-alert')
    p.add_argument('alert')
    p.add_argument('labels', nargs='*')
    p.add_argument('--timeout', type=float, default=30)
    args = parser.parse_args()
    {'wait-ready': cmd_wait_ready, 'rules': cmd_rules, 'wait-query': cmd_wait_query, 'series': cmd_series,
     'alerts': cmd_alerts, 'wait-alert': cmd_wait_alert}[args.command](args)


if __name__ == '__main__':
    main()
