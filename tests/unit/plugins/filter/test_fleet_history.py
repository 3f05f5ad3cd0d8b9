# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the fleet_history and fleet_trends filters.

The summaries are made by the real fleet_summary filter from ckpool_info-shaped results; the SVG output is
parsed as XML and its geometry checked against the runs' times and values.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.ckpool.fleet.plugins.filter.fleet_history import FilterModule, fleet_history, fleet_trends
from ansible_collections.ckpool.fleet.plugins.filter.fleet_summary import fleet_summary

SVG = '{http://www.w3.org/2000/svg}'
T0 = 1795500000.0


def result(rate=None, running=True, healthy=True, workers=4):
    """A ckpool_info result of a pool with a 5-minute hashrate of ``rate`` H/s (None: no pool status)."""
    out = {'process': {'running': running, 'pid': 1 if running else None},
           'health': {'healthy': healthy, 'listener': {'ok': healthy}, 'stratifier': {'ok': healthy}}}
    if rate is not None:
        out['pool'] = {'age_seconds': 10, 'stale': False, 'lastupdate': int(T0), 'runtime': 100, 'users': 2,
                       'workers': workers, 'idle': 0, 'disconnected': 0, 'accepted': 10, 'rejected': 0,
                       'bestshare': 1.0, 'diff': 1.0,
                       'hashrate': dict((w, rate) for w in ('1m', '5m', '15m', '1hr', '6hr', '1d', '7d')),
                       'sps': {}}
    return out


def summary(**hosts):
    return fleet_summary(dict((name.replace('_', '-'), res) for name, res in hosts.items()))


def history_of(*summaries, keep=48, step=600.0):
    doc = None
    for i, s in enumerate(summaries):
        doc = fleet_history(doc, s, keep=keep, timestamp=T0 + i * step, generated='run %d' % i)
    return doc


def test_registered():
    assert set(FilterModule().filters()) == {'fleet_history', 'fleet_trends'}


@pytest.mark.parametrize('previous', [None, '', '   \n', b'', []])
def test_first_run(previous):
    s = summary(a=result(1e12), b=result(None, running=False, healthy=False))
    doc = fleet_history(previous, s, keep=5, timestamp=T0, generated='2026-11-01 12:00:00 UTC')
    assert doc['format'] == 1 and doc['keep'] == 5 and doc['dropped'] == 0 and doc['note'] == ''
    (run,) = doc['runs']
    assert run['t'] == T0 and run['generated'] == '2026-11-01 12:00:00 UTC' and run['window'] == '5m'
    assert run['fleet']['hashrate']['5m'] == 1e12 and run['fleet']['hashrate']['7d'] == 1e12
    assert run['fleet']['counts'] == {'healthy': 1, 'stale': 0, 'unhealthy': 1, 'unreachable': 0, 'unknown': 0}
    assert run['hosts']['a'] == {'state': 'healthy', 'counted': True, 'users': 2.0, 'workers': 4.0,
                                 'hashrate': {'1m': 1e12, '5m': 1e12, '1hr': 1e12, '1d': 1e12, '7d': 1e12}}
    assert run['hosts']['b']['state'] == 'unhealthy' and run['hosts']['b']['hashrate']['5m'] is None
    json.dumps(doc, allow_nan=False)  # storable as strict JSON


def test_keeps_the_last_n_in_order_through_json():
    s = summary(a=result(1e12))
    doc = None
    for i in range(7):
        text = json.dumps(doc) if doc else ''
        doc = fleet_history(text, s, keep=4, timestamp=T0 + i, generated=str(i))
    assert [r['generated'] for r in doc['runs']] == ['3', '4', '5', '6']
    assert doc['dropped'] == 1  # this run dropped one: the history was full
    doc = fleet_history(doc, s, keep=2, timestamp=T0 + 10)
    assert [r['t'] for r in doc['runs']] == [T0 + 6, T0 + 10] and doc['dropped'] == 3


def test_previous_runs_are_kept_unchanged():
    first = history_of(summary(a=result(1e12)), summary(a=result(2e12)))
    previous = json.loads(json.dumps(first))
    doc = fleet_history(previous, summary(a=result(3e12)), timestamp=T0 + 5000)
    assert doc['runs'][:2] == first['runs']


@pytest.mark.parametrize('previous, note', [
    ('{"format": 1, "runs": [{"t": 1', 'could not be read'),
    ('{"format": 99, "runs": []}', 'unknown format'),
    ('{"runs": "x"}', 'unknown format'),
    ('"text"', 'not a list of runs'),
    ('42', 'not a list of runs'),
])
def test_damaged_history_starts_again_and_says_so(previous, note):
    doc = fleet_history(previous, summary(a=result(1e12)), timestamp=T0)
    assert len(doc['runs']) == 1 and note in doc['note']


def test_damaged_runs_are_left_out():
    good = history_of(summary(a=result(1e12)))['runs'][0]
    previous = {'format': 1, 'runs': [good, {'t': 'yesterday'}, {'t': 5}, None, 'x']}
    doc = fleet_history(previous, summary(a=result(2e12)), timestamp=T0 + 60)
    assert [r['t'] for r in doc['runs']] == [T0, T0 + 60]
    assert doc['note'] == '4 unreadable run(s) of the previous history were left out'


def test_a_clock_that_went_back_never_draws_out_of_order():
    doc = history_of(summary(a=result(1e12)), summary(a=result(2e12)), summary(a=result(3e12)))
    doc = fleet_history(doc, summary(a=result(4e12)), timestamp=T0 + 700)  # before the third run
    assert [r['t'] for r in doc['runs']] == [T0, T0 + 600, T0 + 700]
    assert doc['runs'][-1]['fleet']['hashrate']['5m'] == 4e12


@pytest.mark.parametrize('kwargs, message', [
    ({'keep': 0}, 'keep must be an integer from 1'),
    ({'keep': 10001}, 'keep must be an integer from 1'),
    ({'keep': True}, 'keep must be an integer'),
    ({'keep': '5'}, 'keep must be an integer'),
    ({'timestamp': -1}, 'timestamp'),
    ({'timestamp': 'now'}, 'timestamp'),
])
def test_bad_options(kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        fleet_history(None, summary(a=result(1e12)), **kwargs)


def test_not_a_summary():
    with pytest.raises(AnsibleFilterError, match='fleet_summary result'):
        fleet_history(None, {'hosts': 'x'})


# -- trends --------------------------------------------------------------------------------------------------------

def parse_svg(text):
    assert '<script' not in text and 'href' not in text and 'url(' not in text
    root = ET.fromstring(text)
    assert root.tag == SVG + 'svg'
    return root


def line_points(svg):
    """[[(x, y), ...] per segment] of the path class="line"."""
    paths = [p for p in svg.iter(SVG + 'path') if p.get('class') == 'line']
    if not paths:
        return []
    segments = []
    for move in paths[0].get('d').split('M')[1:]:
        numbers = [float(n) for n in re.findall(r'-?[0-9.]+', move)]
        segments.append(list(zip(numbers[0::2], numbers[1::2])))
    return segments


def test_trends_geometry_follows_time_and_value():
    runs = history_of(summary(a=result(1e12), b=result(4e12)),
                      summary(a=result(2e12), b=result(None, running=False, healthy=False)),
                      summary(a=result(3e12), b=result(4e12)), step=100.0)
    # the third run 300 s after the second: x is proportional to time, not to the run's index
    runs['runs'][2]['t'] = T0 + 400
    tr = fleet_trends(runs)
    assert tr['runs'] == 3 and tr['span_seconds'] == 400
    fleet = parse_svg(tr['fleet_svg'])
    (segment,) = line_points(fleet)
    assert [round(x) for x, dummy in segment] == [0, 250, 1000]
    ys = [y for dummy, y in segment]
    assert ys[2] < ys[0] < ys[1], 'fleet 5e12, 2e12, 7e12: higher is up'
    assert tr['fleet_max_human'] == '7T' and tr['fleet_min_human'] == '2T' and tr['fleet_last_human'] == '7T'
    a, b = tr['hosts']
    assert (a['host'], b['host']) == ('a', 'b')
    # b had no hashrate in the second run: its line is broken in two
    assert [len(s) for s in line_points(parse_svg(b['spark_svg']))] == [1, 1] and b['points'] == 2
    assert [len(s) for s in line_points(parse_svg(a['spark_svg']))] == [3] and a['points'] == 3
    strip = parse_svg(b['strip_svg'])
    cells = [(r.get('data-state'), float(r.get('x')), float(r.get('width'))) for r in strip.iter(SVG + 'rect')]
    assert [c[0] for c in cells] == ['healthy', 'unhealthy', 'healthy']
    # each cell spans from halfway to the previous run to halfway to the next (50, 250 of 400 s)
    assert [round(c[1]) for c in cells] == [0, 125, 625] and round(sum(c[2] for c in cells)) == 1000
    assert b['runs_seen'] == 3 and b['runs_healthy'] == 2 and a['runs_healthy'] == 3


def test_hosts_that_left_or_joined():
    runs = history_of(summary(old=result(5e12), a=result(1e12)), summary(a=result(1e12)),
                      summary(a=result(1e12), new=result(2e12)))
    tr = fleet_trends(runs)
    assert [h['host'] for h in tr['hosts']] == ['a', 'new', 'old']
    old = tr['hosts'][2]
    assert not old['current'] and old['state'] == 'absent' and old['runs_seen'] == 1
    states = [r.get('data-state') for r in parse_svg(old['strip_svg']).iter(SVG + 'rect')]
    assert states == ['healthy', 'absent', 'absent']
    new = tr['hosts'][1]
    assert [r.get('data-state') for r in parse_svg(new['strip_svg']).iter(SVG + 'rect')] == ['absent', 'absent', 'healthy']
    assert new['points'] == 1 and new['last_human'] == '2T'


def test_one_run_and_no_runs():
    tr = fleet_trends(history_of(summary(a=result(1e12))))
    assert tr['runs'] == 1 and tr['span_seconds'] == 0
    (segment,) = line_points(parse_svg(tr['fleet_svg']))
    assert len(segment) == 1 and segment[0][0] == 1000, 'one run: a point at the right edge (now)'
    (cell,) = list(parse_svg(tr['hosts'][0]['strip_svg']).iter(SVG + 'rect'))
    assert float(cell.get('width')) == 1000
    assert fleet_trends({'runs': []}) == {'runs': 0, 'fleet_svg': '', 'hosts': []}


def test_host_names_are_escaped():
    evil = '<script>alert(1)</script>&"'
    tr = fleet_trends(history_of(fleet_summary({evil: result(1e12)})))
    for svg in (tr['hosts'][0]['spark_svg'], tr['hosts'][0]['strip_svg']):
        root = parse_svg(svg)
        assert evil in root.get('aria-label')
    assert '<script>' not in tr['hosts'][0]['strip_svg']


def test_window_and_input_checks():
    runs = history_of(summary(a=result(1e12)))
    assert fleet_trends(runs['runs'], window='1hr')['runs'] == 1
    with pytest.raises(AnsibleFilterError, match='window must be one of'):
        fleet_trends(runs, window='15m')
    with pytest.raises(AnsibleFilterError, match='expects the result of ckpool.fleet.fleet_history'):
        fleet_trends('runs')
