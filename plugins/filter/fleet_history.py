# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters ``ckpool.fleet.fleet_history`` and ``ckpool.fleet.fleet_trends``: the fleet report's memory.

``fleet_history`` adds one compact record of a ``fleet_summary`` result to the runs kept so far (the
report's ``fleet-history.json``) and keeps the last N. ``fleet_trends`` turns those runs into what the
HTML report draws: inline SVG of the fleet hashrate, each host's hashrate and each host's health over
time, with the numbers for the axis labels. Everything is computed here; the page template only
places the strings.

Documentation: ``fleet_history.yml`` and ``fleet_trends.yml`` beside this file.
"""

from __future__ import annotations

import json
import math
import time

from collections.abc import Mapping
from html import escape

from ansible.errors import AnsibleFilterError

from ansible_collections.ckpool.fleet.plugins.module_utils.hashrate import format_hashrate

FORMAT = 1
POOL_WINDOWS = ('1m', '5m', '15m', '1hr', '6hr', '1d', '7d')
HOST_WINDOWS = ('1m', '5m', '1hr', '1d', '7d')
STATES = ('healthy', 'stale', 'unhealthy', 'unreachable', 'unknown')
MAX_KEEP = 10000
# SVG coordinate systems (the SVGs stretch to the page width; strokes do not scale)
FLEET_W = 1000.0
FLEET_H = 200.0
SPARK_W = 1000.0
SPARK_H = 40.0
STRIP_W = 1000.0
STRIP_H = 10.0


def _num(value):
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    return None


def _rates(rates, windows):
    rates = rates if isinstance(rates, Mapping) else {}
    return dict((w, _num(rates.get(w))) for w in windows)


def _record(summary, timestamp, generated):
    """The compact record of one run kept in the history."""
    if not isinstance(summary, Mapping) or not isinstance(summary.get('hosts'), list) \
            or not isinstance(summary.get('totals'), Mapping):
        raise AnsibleFilterError('fleet_history expects a ckpool.fleet.fleet_summary result')
    totals = summary['totals']
    counts = summary.get('counts') if isinstance(summary.get('counts'), Mapping) else {}
    hosts = {}
    for row in summary['hosts']:
        if not isinstance(row, Mapping) or not row.get('host'):
            continue
        state = row.get('state') if row.get('state') in STATES else 'unknown'
        hosts[str(row['host'])] = {'state': state, 'counted': bool(row.get('counted')),
                                   'hashrate': _rates(row.get('hashrate'), HOST_WINDOWS),
                                   'workers': _num(row.get('workers')), 'users': _num(row.get('users'))}
    return {'t': round(float(timestamp), 3), 'generated': str(generated) if generated else None,
            'window': summary.get('window'),
            'fleet': {'hashrate': _rates(totals.get('hashrate'), POOL_WINDOWS), 'workers': _num(totals.get('workers')),
                      'users': _num(totals.get('users')), 'hosts': _num(totals.get('hosts')),
                      'hosts_counted': _num(totals.get('hosts_counted')),
                      'counts': dict((s, int(counts.get(s) or 0)) for s in STATES)},
            'hosts': hosts}


def _valid_run(run):
    return isinstance(run, Mapping) and _num(run.get('t')) is not None and isinstance(run.get('fleet'), Mapping) \
        and isinstance(run.get('hosts'), Mapping)


def fleet_history(previous, summary, keep=48, timestamp=None, generated=None):
    """Add this run's record to the previous runs and keep the last ``keep``; see fleet_history.yml."""
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= MAX_KEEP:
        raise AnsibleFilterError('fleet_history: keep must be an integer from 1 to %d, got %r' % (MAX_KEEP, keep))
    if timestamp is None:
        timestamp = time.time()
    if _num(timestamp) is None or timestamp < 0:
        raise AnsibleFilterError('fleet_history: timestamp must be a unix time in seconds')
    record = _record(summary, timestamp, generated)

    note = ''
    runs = []
    doc = previous
    if isinstance(previous, (str, bytes)):
        text = previous.decode('utf-8', 'replace') if isinstance(previous, bytes) else previous
        if text.strip():
            try:
                doc = json.loads(text)
            except ValueError as exc:
                doc = None
                note = 'the previous history could not be read (%s); it starts again with this run' % exc
        else:
            doc = None
    if isinstance(doc, Mapping):
        if doc.get('format') != FORMAT or not isinstance(doc.get('runs'), list):
            note = 'the previous history has an unknown format; it starts again with this run'
        else:
            runs = doc['runs']
    elif isinstance(doc, list):
        runs = doc
    elif doc is not None and not note:
        note = 'the previous history is not a list of runs; it starts again with this run'
    kept = [run for run in runs if _valid_run(run)]
    if len(kept) < len(runs):
        note = note or '%d unreadable run(s) of the previous history were left out' % (len(runs) - len(kept))
    # runs from a clock that went backwards (or the same second twice) are replaced, never drawn out of order
    kept = [run for run in kept if _num(run['t']) < record['t']]
    kept.sort(key=lambda run: run['t'])
    kept.append(record)
    dropped = max(0, len(kept) - keep)
    return {'format': FORMAT, 'keep': keep, 'runs': kept[dropped:], 'dropped': dropped, 'note': note}


# -- drawing -------------------------------------------------------------------------------------------------------

def _f(value):
    text = '%.2f' % value
    return text.rstrip('0').rstrip('.') if '.' in text else text


def _x(t, t0, t1, width):
    if t1 <= t0:
        return width
    return (t - t0) / (t1 - t0) * width


def _segments(points, t0, t1, vmax, width, height, margin):
    """(x, y) runs of an SVG line through (t, value) points; a None value breaks the line."""
    segments = []
    current = None
    usable = height - 2 * margin
    for t, value in points:
        if value is None:
            current = None
            continue
        if current is None:
            current = []
            segments.append(current)
        current.append((_x(t, t0, t1, width), margin + usable * (1 - (value / vmax if vmax > 0 else 0.0))))
    return segments


def _svg(view_w, view_h, css_class, label, body, crisp=False):
    crisp = ' shape-rendering="crispEdges"' if crisp else ''
    return ('<svg class="%s" viewBox="0 0 %s %s" preserveAspectRatio="none"%s role="img" aria-label="%s" '
            'xmlns="http://www.w3.org/2000/svg">%s</svg>' % (css_class, _f(view_w), _f(view_h), crisp, escape(label), body))


def _line_svg(points, t0, t1, css_class, label, width, height, area):
    """A line chart scaled to its own maximum; returns (svg, maximum value, number of points drawn)."""
    values = [v for dummy, v in points if v is not None]
    top = max(values) if values else None
    vmax = top * 1.1 if top else 1.0
    margin = 3.0
    segments = _segments(points, t0, t1, vmax, width, height, margin)
    body = []
    for frac in (0.25, 0.5, 0.75):
        y = margin + (height - 2 * margin) * frac
        body.append('<line class="grid" x1="0" x2="%s" y1="%s" y2="%s" vector-effect="non-scaling-stroke"/>'
                    % (_f(width), _f(y), _f(y)))
    if segments:
        paths = ['M ' + ' L '.join('%s %s' % (_f(x), _f(y)) for x, y in seg) for seg in segments]
        if area:
            bottom = _f(height - margin)
            fills = ['%s L %s %s L %s %s Z' % (path, _f(seg[-1][0]), bottom, _f(seg[0][0]), bottom)
                     for path, seg in zip(paths, segments) if len(seg) > 1]
            if fills:
                body.append('<path class="area" d="%s"/>' % ' '.join(fills))
        body.append('<path class="line" d="%s" vector-effect="non-scaling-stroke" data-points="%d"/>'
                    % (' '.join(paths), len(values)))
        # the newest point as a dot: a zero-length path with a round cap stays round when the SVG is stretched
        x, y = segments[-1][-1]
        body.append('<path class="dot" d="M %s %s h 0" vector-effect="non-scaling-stroke"/>' % (_f(x), _f(y)))
    return _svg(width, height, css_class, label, ''.join(body)), top, len(values)


def _strip_svg(cells, t0, t1, label):
    """Health over time: one cell per run, from halfway to the previous run to halfway to the next."""
    body = []
    times = [t for t, dummy in cells]
    for i, (t, state) in enumerate(cells):
        left = 0.0 if i == 0 else _x((times[i - 1] + t) / 2.0, t0, t1, STRIP_W)
        right = STRIP_W if i == len(cells) - 1 else _x((t + times[i + 1]) / 2.0, t0, t1, STRIP_W)
        if len(cells) == 1:
            left, right = 0.0, STRIP_W
        title = '%s: %s' % (time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(t)), state or 'not in this run')
        body.append('<rect class="s-%s" x="%s" y="0" width="%s" height="%s" data-state="%s"><title>%s</title></rect>'
                    % (state or 'absent', _f(left), _f(max(right - left, 0.0)), _f(STRIP_H), state or 'absent',
                       escape(title)))
    return _svg(STRIP_W, STRIP_H, 'strip', label, ''.join(body), crisp=True)


def fleet_trends(history, window='5m'):
    """The charts of the fleet report's Trends section; see fleet_trends.yml."""
    if window not in HOST_WINDOWS:
        raise AnsibleFilterError('fleet_trends: window must be one of %s, got %r' % (', '.join(HOST_WINDOWS), window))
    runs = history.get('runs') if isinstance(history, Mapping) else history
    if not isinstance(runs, list):
        raise AnsibleFilterError('fleet_trends expects the result of ckpool.fleet.fleet_history (or its runs)')
    runs = sorted((r for r in runs if _valid_run(r)), key=lambda r: r['t'])
    if not runs:
        return {'runs': 0, 'fleet_svg': '', 'hosts': []}
    t0, t1 = runs[0]['t'], runs[-1]['t']

    fleet_points = [(r['t'], _num((r['fleet'].get('hashrate') or {}).get(window))) for r in runs]
    fleet_svg, fleet_max, fleet_drawn = _line_svg(fleet_points, t0, t1, 'trend fleet',
                                                  'Fleet hashrate (%s) over %d runs' % (window, len(runs)),
                                                  FLEET_W, FLEET_H, area=True)
    values = [v for dummy, v in fleet_points if v is not None]

    # hosts of the newest run first (in its order), then hosts seen only earlier, newest first
    order = list(runs[-1]['hosts'])
    for run in reversed(runs[:-1]):
        for host in run['hosts']:
            if host not in order:
                order.append(host)
    hosts = []
    for host in order:
        points, cells = [], []
        for run in runs:
            entry = run['hosts'].get(host)
            entry = entry if isinstance(entry, Mapping) else None
            rate = _num((entry.get('hashrate') or {}).get(window)) if entry else None
            points.append((run['t'], rate))
            state = entry.get('state') if entry and entry.get('state') in STATES else (None if not entry else 'unknown')
            cells.append((run['t'], state))
        spark, host_max, drawn = _line_svg(points, t0, t1, 'trend spark', 'Hashrate of %s (%s)' % (host, window),
                                           SPARK_W, SPARK_H, area=False)
        rates = [v for dummy, v in points if v is not None]
        states = [s for dummy, s in cells if s]
        hosts.append({
            'host': host,
            'current': host in runs[-1]['hosts'],
            'state': cells[-1][1] or 'absent',
            'spark_svg': spark,
            'strip_svg': _strip_svg(cells, t0, t1, 'Health of %s over %d runs' % (host, len(runs))),
            'points': drawn,
            'max': host_max,
            'max_human': format_hashrate(host_max) if host_max is not None else None,
            'last_human': format_hashrate(rates[-1]) if rates and points[-1][1] is not None else None,
            'runs_seen': len(states),
            'runs_healthy': states.count('healthy'),
        })
    return {
        'runs': len(runs), 'window': window, 'first': t0, 'last': t1,
        'first_text': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(t0)),
        'last_text': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(t1)),
        'span_seconds': t1 - t0,
        'fleet_svg': fleet_svg, 'fleet_points': fleet_drawn,
        'fleet_max': fleet_max, 'fleet_max_human': format_hashrate(fleet_max) if fleet_max is not None else None,
        'fleet_min_human': format_hashrate(min(values)) if values else None,
        'fleet_last_human': format_hashrate(values[-1]) if values and fleet_points[-1][1] is not None else None,
        'hosts': hosts,
    }


class FilterModule(object):
    """ckpool.fleet fleet report history filters."""

    def filters(self):
        return {'fleet_history': fleet_history, 'fleet_trends': fleet_trends}
