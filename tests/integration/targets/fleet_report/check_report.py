# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of the fleet report written by playbooks/fleet_report.yml (called by runme.sh).

1. fleet.json against the pools' own files, read here independently of the collection's parsers:
   per-host states, ckpoolstats-style totals, users merged across pools.
2. fleet.html rendered by headless Debian Chromium (--dump-dom): hosts, health labels, totals and
   the top users are in the DOM after parsing; a miner-chosen HTML user name is text, not markup;
   nothing external is referenced.
3. Layout at a phone viewport (390 px): a probe page frames the report and measures it after layout
   (no horizontal overflow, every host card inside the viewport, health colours, rendered text).
4. A 390x844 screenshot is a real, non-blank PNG of that size (also kept for a person to look at).
5. History (fleet-history.json) and its trends: the runs kept are the seeded ones (the oldest dropped) plus this
   run, equal to fleet.json; at a phone (390 px) and a desktop (1280 px) width the Trends section is laid out
   inside the viewport with a fleet chart, a hashrate line and a health strip per host whose points and cells match
   the history; screenshots of both widths show the lines and the health colours inside the charts' boxes.

    check_report.py --seed FILE --now UNIX_TIME     writes the seeded history (runme.sh, before the first run)
"""

import argparse
import json
import math
import os
import re
import signal
import struct
import subprocess
import sys
import time
import zlib
from html.parser import HTMLParser

CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync',
                  '--hide-scrollbars']
PHONE = (390, 844)
DESKTOP = (1280, 900)
SI = {'': 1, 'K': 1e3, 'M': 1e6, 'G': 1e9, 'T': 1e12, 'P': 1e15, 'E': 1e18}
POOL_WINDOWS = ('1m', '5m', '15m', '1hr', '6hr', '1d', '7d')
COUNTED = ('edge/a', 'edge/b', 'pool-hung')
# report label -> the pool's directory under --work (edge is one host with two instances)
DIRS = {'edge/a': 'pool-a', 'edge/b': 'pool-b', 'pool-hung': 'pool-hung'}
EXPECTED_STATES = {'edge/a': 'healthy', 'edge/b': 'healthy', 'pool-hung': 'unhealthy', 'pool-stale': 'stale',
                   'pool-stopped': 'unhealthy', 'pool-down': 'unreachable'}

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print('FAIL: %s' % what)
    return cond


def si(text):
    m = re.match(r'^([0-9.e+-]+)([KMGTPE]?)$', text)
    assert m, text
    return float(m.group(1)) * SI[m.group(2)]


def close(a, b):
    return a is not None and b is not None and abs(a - b) <= 1e-6 * max(abs(a), abs(b), 1.0)


def read_status(logdir):
    merged = {}
    with open(os.path.join(logdir, 'pool', 'pool.status')) as f:
        for line in f:
            if line.strip():
                merged.update(json.loads(line))
    return merged


def read_users(logdir):
    users = {}
    udir = os.path.join(logdir, 'users')
    for name in os.listdir(udir):
        with open(os.path.join(udir, name)) as f:
            users[name] = json.load(f)
    return users


def chromium(profile, *args, timeout=90):
    """Run headless Chromium in its own process group; the whole group is killed on a timeout."""
    cmd = ['chromium'] + CHROMIUM_FLAGS + ['--user-data-dir=' + profile] + list(args)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise SystemExit('FAIL: chromium did not finish within %d s (%s). A page that runs script can block '
                         'headless Chromium with a dialog: is something in the report executed as markup?'
                         % (timeout, ' '.join(args)))
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # renderer/zygote children left behind
        except ProcessLookupError:
            pass
    if proc.returncode != 0:
        sys.stderr.write(err.decode(errors='replace')[-3000:])
        raise SystemExit('chromium failed with exit %d' % proc.returncode)
    return out.decode('utf-8')


class DomParser(HTMLParser):
    """Collects tags, attributes, text per element id / data-* and the full visible text."""

    VOID = {'meta', 'br', 'img', 'input', 'link', 'hr', 'source', 'area', 'base', 'col', 'embed', 'wbr'}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []
        self.stack = []
        self.texts = {}
        self.all_text = []
        self.external = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        for key, value in attrs.items():
            if key in ('src', 'href', 'srcset', 'action', 'data') and value and not value.startswith('#'):
                self.external.append((tag, key, value))
            if key == 'style' and value and 'url(' in value:
                self.external.append((tag, key, value))
        keys = [('id', attrs['id'])] if 'id' in attrs else []
        keys += [(k, v) for k, v in attrs.items() if k in ('data-host', 'data-user', 'data-state-count')]
        if tag not in self.VOID:
            self.stack.append(keys)
            for key in keys:
                self.texts.setdefault(key, [])

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        self.all_text.append(data)
        for keys in self.stack:
            for key in keys:
                self.texts[key].append(data)

    def text(self, key, value):
        return ' '.join(''.join(self.texts.get((key, value), [])).split())


def png_decode(path):
    """Width, height and the RGB rows (bytes, 3 per pixel) of an 8-bit RGB/RGBA non-interlaced PNG."""
    with open(path, 'rb') as f:
        data = f.read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, ctype = struct.unpack('>I4s', data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if ctype == b'IHDR':
            header = struct.unpack('>IIBBBBB', chunk)
        elif ctype == b'IDAT':
            idat.append(chunk)
        pos += 12 + length
    width, height, depth, color, dummy, dummy2, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(b''.join(idat))
    stride = width * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ftype == 2:
            line = bytearray((a + b) & 0xff for a, b in zip(line, prev))
        elif ftype in (1, 3, 4):
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                if ftype == 1:
                    line[i] = (line[i] + a) & 0xff
                elif ftype == 3:
                    line[i] = (line[i] + ((a + b) >> 1)) & 0xff
                else:
                    c = prev[i - bpp] if i >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xff
        rows.append(bytes(line) if bpp == 3 else bytes(v for i, v in enumerate(line) if i % 4 != 3))
        prev = line
    return width, height, rows


def png_info(path):
    """Width, height and number of distinct colours (sampled) of a PNG."""
    width, height, rows = png_decode(path)
    colours = set()
    for row in rows:
        for x in range(0, len(row), 9):
            colours.add(row[x:x + 3])
    return width, height, len(colours)


def count_colour(rows, box, rgb, tolerance=24):
    """Pixels within ``tolerance`` (per channel) of ``rgb`` inside the CSS pixel box (device scale factor 1)."""
    top, bottom = max(0, int(box['top'])), min(len(rows), int(math.ceil(box['bottom'])))
    left, right = max(0, int(box['left'])), int(math.ceil(box['right']))
    found = 0
    for y in range(top, bottom):
        row = rows[y]
        for x in range(left, min(right, len(row) // 3)):
            r, g, b = row[3 * x], row[3 * x + 1], row[3 * x + 2]
            if abs(r - rgb[0]) <= tolerance and abs(g - rgb[1]) <= tolerance and abs(b - rgb[2]) <= tolerance:
                found += 1
    return found


PROBE = '''<!DOCTYPE html><html><head><meta charset="utf-8">
<style>html,body{margin:0}iframe{border:0;width:%dpx;height:%dpx;display:block}</style></head>
<body><iframe id="r" src="fleet.html"></iframe><pre id="result">pending</pre>
<script>
document.getElementById('r').addEventListener('load', function () {
  var out = {};
  try {
    var d = this.contentDocument, w = this.contentWindow;
    out.viewport = w.innerWidth;
    out.scrollWidth = d.documentElement.scrollWidth;
    out.bodyText = d.body.innerText;
    function box(e) {
      var r = e.getBoundingClientRect();
      return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width, height: r.height};
    }
    out.hosts = Array.prototype.map.call(d.querySelectorAll('[data-host]'), function (e) {
      var b = box(e), badge = e.querySelector('.badge');
      b.host = e.getAttribute('data-host'); b.state = e.getAttribute('data-state'); b.text = e.innerText;
      b.badgeColor = w.getComputedStyle(badge).backgroundColor; b.badgeText = badge.innerText;
      b.visible = w.getComputedStyle(e).visibility === 'visible' && w.getComputedStyle(e).display !== 'none';
      return b;
    });
    out.users = Array.prototype.map.call(d.querySelectorAll('[data-user]'), function (e) {
      var b = box(e), bar = e.querySelector('.bar'), fill = e.querySelector('.bar > span');
      b.user = e.getAttribute('data-user'); b.text = e.innerText;
      b.barRatio = fill.getBoundingClientRect().width / bar.getBoundingClientRect().width;
      return b;
    });
    var trends = d.getElementById('trends');
    if (trends) {
      var fleet = d.querySelector('#trend-fleet svg'), fleetLine = fleet.querySelector('path.line');
      out.trends = {box: box(trends), meta: d.getElementById('trends-meta').innerText,
        note: d.getElementById('history-note') ? d.getElementById('history-note').innerText : null,
        fleet: {box: box(fleet), container: box(fleet.parentNode), points: fleetLine ? +fleetLine.getAttribute('data-points') : 0,
                stroke: fleetLine ? w.getComputedStyle(fleetLine).stroke : null},
        hosts: Array.prototype.map.call(d.querySelectorAll('[data-history-host]'), function (e) {
          var spark = e.querySelector('svg.spark'), strip = e.querySelector('svg.strip'), line = spark.querySelector('path.line');
          return {host: e.getAttribute('data-history-host'), box: box(e), spark: box(spark), strip: box(strip), text: e.innerText,
                  points: line ? +line.getAttribute('data-points') : 0,
                  cells: Array.prototype.map.call(strip.querySelectorAll('rect'), function (r) {
                    return {state: r.getAttribute('data-state'), fill: w.getComputedStyle(r).fill, box: box(r)}; })};
        })};
    }
    out.imgs = d.querySelectorAll('img').length;
    out.fontSize = parseFloat(w.getComputedStyle(d.body).fontSize);
  } catch (e) { out.error = String(e); }
  document.getElementById('result').textContent = JSON.stringify(out);
});
</script></body></html>
'''


class ResultParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.inside = False
        self.data = []

    def handle_starttag(self, tag, attrs):
        if tag == 'pre' and dict(attrs).get('id') == 'result':
            self.inside = True

    def handle_endtag(self, tag):
        if tag == 'pre':
            self.inside = False

    def handle_data(self, data):
        if self.inside:
            self.data.append(data)


def probe_layout(work, out, w, h):
    """The report framed at a w x h viewport, measured after layout by the probe page."""
    probe = os.path.join(out, 'probe.html')
    with open(probe, 'w') as f:
        f.write(PROBE % (w, h))
    dom = chromium(os.path.join(work, 'profile-probe-%d' % w), '--allow-file-access-from-files',
                   '--window-size=%d,%d' % (w, h), '--virtual-time-budget=10000', '--dump-dom', 'file://' + probe)
    rp = ResultParser()
    rp.feed(dom)
    os.unlink(probe)
    return json.loads(''.join(rp.data))


# -- history -------------------------------------------------------------------------------------------------

HOST_WINDOWS = ('1m', '5m', '1hr', '1d', '7d')
SEED_HOSTS = ('edge/a', 'edge/b', 'pool-hung', 'pool-stale', 'pool-stopped', 'pool-down', 'old-pool')
KEEP = 6          # fleet_report_history of the first run (runme.sh)
STATE_RGB = {'healthy': (27, 127, 59), 'stale': (154, 103, 0), 'unhealthy': (180, 35, 24),
             'unreachable': (91, 95, 102), 'unknown': (107, 79, 187), 'absent': (231, 235, 240)}
LINE_RGB = (47, 111, 221)


def seed_history(path, now):
    """Seven earlier runs over six hours, in the history format of ckpool.fleet.fleet_history (format 1):
    hashrates that move, hosts that fail and recover, a host (old-pool) that has left the fleet since."""
    offsets = (6 * 3600, 5 * 3600, 4 * 3600, 3 * 3600, 7200, 3600, 1200)
    plan = {  # host -> [(state, 5m hashrate in TH/s or None) per run]
        'edge/a': [('healthy', 400), ('healthy', 420), ('healthy', 390), ('healthy', 200), ('healthy', 410),
                   ('healthy', 450), ('healthy', 440)],
        'edge/b': [('healthy', 300), ('healthy', 310), ('unhealthy', None), ('unhealthy', None), ('healthy', 280),
                   ('healthy', 300), ('healthy', 305)],
        'pool-hung': [('healthy', 100), ('healthy', 110), ('healthy', 105), ('healthy', 100), ('healthy', 95),
                      ('unhealthy', None), ('unhealthy', None)],
        'pool-stale': [('stale', 50)] * 7,
        'pool-stopped': [('healthy', 80), ('healthy', 85), ('healthy', 82), ('healthy', 80), ('healthy', 79),
                         ('unhealthy', None), ('unhealthy', None)],
        'pool-down': [('unreachable', None)] * 7,
        'old-pool': [('healthy', 500), ('healthy', 510), ('healthy', 505)],
    }
    runs = []
    for i, offset in enumerate(offsets):
        t = float(int(now) - offset)
        hosts, total, counts = {}, 0.0, dict((s, 0) for s in STATE_RGB if s != 'absent')
        for host in SEED_HOSTS:
            if i >= len(plan[host]):
                continue
            state, rate = plan[host][i]
            rate = None if rate is None else rate * 1e12
            counted = state == 'healthy' and rate is not None
            total += rate if counted else 0.0
            counts[state] += 1
            hosts[host] = {'state': state, 'counted': counted,
                           'hashrate': dict((w, rate) for w in HOST_WINDOWS),
                           'workers': None if rate is None else 4.0, 'users': None if rate is None else 2.0}
        runs.append({'t': t, 'generated': time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(t)), 'window': '5m',
                     'fleet': {'hashrate': dict((w, total) for w in ('1m', '5m', '15m', '1hr', '6hr', '1d', '7d')),
                               'workers': 20.0, 'users': 10.0, 'hosts': float(len(hosts)),
                               'hosts_counted': float(sum(1 for h in hosts.values() if h['counted'])),
                               'counts': counts},
                     'hosts': hosts})
    with open(path, 'w') as f:
        json.dump({'format': 1, 'keep': 48, 'runs': runs, 'dropped': 0, 'note': ''}, f)


def check_history(work, out, report):
    """fleet-history.json after the first run: the seeded runs but the two oldest, then this run."""
    doc = json.load(open(os.path.join(out, 'fleet-history.json')))
    seed = json.load(open(os.path.join(work, 'seed-history.json')))
    runs = doc['runs']
    check(doc['format'] == 1 and doc['keep'] == KEEP and doc['note'] == '', 'history header: %s' % (
        dict((k, v) for k, v in doc.items() if k != 'runs')))
    check(len(runs) == KEEP and doc['dropped'] == len(seed['runs']) + 1 - KEEP,
          'history keeps the last %d runs: %d kept, %d dropped' % (KEEP, len(runs), doc['dropped']))
    check(runs[:-1] == seed['runs'][-(KEEP - 1):], 'the kept earlier runs are the newest seeded ones, unchanged')
    check([r['t'] for r in runs] == sorted(r['t'] for r in runs), 'runs in time order')
    last = runs[-1]
    check(last['t'] > seed['runs'][-1]['t'] and abs(last['t'] - time.time()) < 600, 'this run is the newest')
    check(last['generated'] == report['generated'], 'the run carries the report time')
    for w, rate in report['totals']['hashrate'].items():
        check(close(last['fleet']['hashrate'][w], rate) or (rate is None and last['fleet']['hashrate'][w] is None),
              'history fleet hashrate %s: %s vs fleet.json %s' % (w, last['fleet']['hashrate'][w], rate))
    check(last['fleet']['counts'] == dict((k, v) for k, v in report['counts'].items() if k != 'stopped'),
          'history counts %s vs %s' % (last['fleet']['counts'], report['counts']))
    check(dict((h, e['state']) for h, e in last['hosts'].items()) == dict((r['host'], r['state']) for r in report['hosts']),
          'history host states equal the report')
    text = json.dumps(doc)
    check(not [u['name'] for u in report['users'] if json.dumps(u['name'])[1:-1] in text],
          'no user name (miner-chosen text) in the history')
    return runs


def expected_trends(runs):
    """Per host of the history: its hashrate points and its health cells, as the page must draw them."""
    order = list(runs[-1]['hosts'])
    for run in reversed(runs[:-1]):
        order += [h for h in run['hosts'] if h not in order]
    out = []
    for host in order:
        entries = [run['hosts'].get(host) for run in runs]
        out.append((host, sum(1 for e in entries if e and e['hashrate'].get('5m') is not None),
                    [e['state'] if e else 'absent' for e in entries]))
    return out


def check_trends(layout, runs, w, label):
    """The Trends section as laid out at width w."""
    tr = layout.get('trends')
    if not check(tr is not None, '%s: the page has a Trends section' % label):
        return
    check('%d runs' % len(runs) in tr['meta'], '%s: trends meta %r' % (label, tr['meta']))
    check(tr['note'] is None, '%s: no history note: %r' % (label, tr['note']))
    fleet = tr['fleet']
    check(fleet['points'] == len(runs), '%s: fleet line has %s points for %d runs' % (label, fleet['points'], len(runs)))
    check(fleet['stroke'] == 'rgb(47, 111, 221)', '%s: fleet line colour %s' % (label, fleet['stroke']))
    check(fleet['box']['left'] >= 0 and fleet['box']['right'] <= w and fleet['box']['height'] >= 100,
          '%s: fleet chart inside the viewport and tall enough: %s' % (label, fleet['box']))
    check(fleet['box']['width'] >= 0.85 * fleet['container']['width'] - 26, '%s: fleet chart uses its card: %s of %s'
          % (label, fleet['box']['width'], fleet['container']['width']))
    expected = expected_trends(runs)
    got = [h['host'] for h in tr['hosts']]
    check(got == [h for h, dummy, dummy2 in expected], '%s: history hosts %s, expected %s' % (label, got, expected))
    for item, (host, points, cells) in zip(tr['hosts'], expected):
        check(item['points'] == points, '%s: %s hashrate line has %s points, expected %s' % (label, host, item['points'], points))
        check([c['state'] for c in item['cells']] == cells, '%s: %s health cells %s, expected %s'
              % (label, host, [c['state'] for c in item['cells']], cells))
        for cell in item['cells']:
            check(cell['fill'] == 'rgb(%d, %d, %d)' % STATE_RGB[cell['state']],
                  '%s: %s %s cell filled %s' % (label, host, cell['state'], cell['fill']))
        for part in ('box', 'spark', 'strip'):
            check(item[part]['left'] >= 0 and item[part]['right'] <= w, '%s: %s %s inside the viewport: %s'
                  % (label, host, part, item[part]))
        check(item['spark']['width'] >= 0.8 * item['box']['width'] and item['spark']['height'] >= 20
              and item['strip']['height'] >= 6, '%s: %s charts sized %s %s' % (label, host, item['spark'], item['strip']))
        check(host in item['text'], '%s: %s history row names it' % (label, host))
        if host == 'old-pool':
            check('not in this run' in item['text'], '%s: old-pool says it is not in this run' % label)


def check_trend_pixels(work, out, layout, w, name):
    """A screenshot down to the end of the Trends section: the lines and health colours are really drawn."""
    tr = layout['trends']
    height = int(math.ceil(tr['box']['bottom'])) + 8
    shot = os.path.join(out, name)
    chromium(os.path.join(work, 'profile-' + name), '--window-size=%d,%d' % (w, height), '--force-device-scale-factor=1',
             '--screenshot=' + shot, 'file://' + os.path.join(out, 'fleet.html'))
    width, image_height, rows = png_decode(shot)
    check((width, image_height) == (w, height), '%s: screenshot %sx%s, expected %sx%s' % (name, width, image_height, w, height))
    blue = count_colour(rows, tr['fleet']['box'], LINE_RGB)
    check(blue >= 0.5 * tr['fleet']['box']['width'], '%s: fleet line drawn (%d line pixels)' % (name, blue))
    for item in tr['hosts']:
        blue = count_colour(rows, item['spark'], LINE_RGB)
        if item['points'] >= 2:
            check(blue >= 0.3 * item['spark']['width'], '%s: %s line drawn (%d line pixels)' % (name, item['host'], blue))
        elif item['points'] == 1:
            check(blue >= 8, '%s: %s single point drawn (%d pixels)' % (name, item['host'], blue))
        else:
            check(blue == 0, '%s: nothing drawn for %s, which never had a hashrate (%d pixels)' % (name, item['host'], blue))
        for cell in item['cells']:
            box = dict(cell['box'], left=cell['box']['left'] + 1, right=cell['box']['right'] - 1)
            area = max(0, int(box['right']) - int(box['left'])) * int(box['bottom'] - box['top'])
            found = count_colour(rows, box, STATE_RGB[cell['state']], tolerance=8)
            check(area > 0 and found >= 0.5 * area, '%s: %s %s cell painted (%d of %d pixels)'
                  % (name, item['host'], cell['state'], found, area))
    return shot


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--work')
    ap.add_argument('--evil')
    ap.add_argument('--seed', help='write the seeded history to this file and exit')
    ap.add_argument('--now', type=float, help='with --seed: the time the first run happens')
    args = ap.parse_args()
    if args.seed:
        seed_history(args.seed, args.now or time.time())
        return 0
    if not args.work or not args.evil:
        ap.error('--work and --evil are required')
    work = args.work
    out = os.path.join(work, 'out')
    report = json.load(open(os.path.join(out, 'fleet.json')))

    # 1. JSON against the files ------------------------------------------------------------
    rows = dict((r['host'], r) for r in report['hosts'])
    check(set(rows) == set(EXPECTED_STATES), 'hosts in report: %s' % sorted(rows))
    for host, state in EXPECTED_STATES.items():
        row = rows.get(host, {})
        check(row.get('state') == state,
              '%s state %r, expected %r (reason %r)' % (host, row.get('state'), state, row.get('reason')))
    check('listener' in rows['pool-hung']['reason'], 'hung pool reason names the listener: %r' % rows['pool-hung']['reason'])
    check('not running' in rows['pool-stopped']['reason'], 'stopped pool reason: %r' % rows['pool-stopped']['reason'])
    check(rows['pool-stale']['stale'] is True and rows['pool-stale']['counted'] is False, 'stale pool not counted')
    check(report['counts'] == dict(healthy=2, stale=1, unhealthy=2, unreachable=1, unknown=0, stopped=1),
          'counts %s' % report['counts'])
    counted = sorted(h for h, r in rows.items() if r['counted'])
    check(counted == sorted(COUNTED), 'counted hosts %s' % counted)

    statuses = dict((h, read_status(os.path.join(work, DIRS[h], 'logs'))) for h in COUNTED)
    for host, st in statuses.items():
        check(rows[host]['lastupdate'] == st['lastupdate'],
              '%s: pool.status changed during the test (report %s, file %s)' % (host, rows[host]['lastupdate'], st['lastupdate']))
    t = report['totals']
    for w in POOL_WINDOWS:
        expected = sum(si(st['hashrate' + w]) for st in statuses.values())
        check(close(t['hashrate'][w], expected), 'total hashrate %s: %s != %s' % (w, t['hashrate'][w], expected))
        check(close(si(t['hashrate_human'][w]), expected) or abs(si(t['hashrate_human'][w]) - expected) / expected < 0.01,
              'human total %s %r vs %s' % (w, t['hashrate_human'][w], expected))
    for field, key in (('users', 'Users'), ('workers', 'Workers'), ('idle', 'Idle'), ('disconnected', 'Disconnected'),
                       ('accepted', 'accepted'), ('rejected', 'rejected')):
        check(t[field] == sum(st[key] for st in statuses.values()), 'total %s' % field)
    check(close(t['sps']['1m'], sum(st['SPS1m'] for st in statuses.values())), 'total SPS1m')
    check(t['bestshare'] == max(st['bestshare'] for st in statuses.values()), 'max bestshare')
    check(t['runtime'] == min(st['runtime'] for st in statuses.values()), 'min runtime')
    check(t['lastupdate'] == min(st['lastupdate'] for st in statuses.values()), 'oldest lastupdate')
    check(t['hosts'] == 6 and t['hosts_counted'] == 3, 'host counts in totals')

    merged = {}
    for host in COUNTED:
        for name, doc in read_users(os.path.join(work, DIRS[host], 'logs')).items():
            m = merged.setdefault(name, {'5m': 0.0, 'hosts': set(), 'workers': set()})
            m['5m'] += si(doc['hashrate5m'])
            m['hosts'].add(host)
            m['workers'].update(w['workername'] for w in doc.get('worker', []))
    check(report['users_total'] == len(merged), 'distinct users %s vs %s' % (report['users_total'], len(merged)))
    check(len(report['users']) == min(10, len(merged)), 'top_users=10 respected')
    for u in report['users']:
        m = merged.get(u['name'])
        if not check(m is not None, 'user %r not in any counted pool' % u['name']):
            continue
        check(close(u['hashrate']['5m'], m['5m']), 'user %s 5m %s vs %s' % (u['name'], u['hashrate']['5m'], m['5m']))
        check(set(u['hosts']) == m['hosts'], 'user %s hosts %s vs %s' % (u['name'], u['hosts'], m['hosts']))
        check(set(w['workername'] for w in u['worker']) == m['workers'], 'user %s workers merged by name' % u['name'])
    ranked = sorted(merged, key=lambda n: (-merged[n]['5m'], n))[:10]
    check([u['name'] for u in report['users']] == ranked, 'users ranked by 5m hashrate')
    check(report['users'][0]['name'] == args.evil, 'the 9.99E user is first')
    shared = [n for n, m in merged.items() if len(m['hosts']) > 1]
    check(len(shared) >= 3, 'several users mine on several pools (merge exercised): %s' % shared)

    # 2. Rendered DOM ------------------------------------------------------------------------
    html_path = os.path.join(out, 'fleet.html')
    html_text = open(html_path, encoding='utf-8').read()
    check('<script' not in html_text.lower(), 'the report has no script')
    check('<link' not in html_text.lower(), 'the report links no stylesheet')
    w, h = PHONE
    dom = chromium(os.path.join(work, 'profile-dom'), '--window-size=%d,%d' % (w, h), '--dump-dom',
                   'file://' + html_path)
    parser = DomParser()
    parser.feed(dom)
    check(not parser.external, 'no external reference in the rendered DOM: %s' % parser.external[:5])
    check(not [tag for tag, dummy in parser.tags if tag in ('img', 'script', 'iframe', 'object', 'embed')],
          'no img/script/iframe in the rendered DOM (user names are text)')
    for host, state in EXPECTED_STATES.items():
        text = parser.text('data-host', host)
        check(host in text and state in text, 'DOM: host %s shows %r: %r' % (host, state, text[:200]))
    hashrate_card = parser.text('id', 'total-hashrate')
    human = t['hashrate_human']['5m']
    shown = human[:-1] + '\u00a0' + human[-1] + 'H/s' if human[-1] in SI else human + '\u00a0H/s'
    check(shown in hashrate_card.replace(' ', '\u00a0') or shown.replace('\u00a0', ' ') in hashrate_card,
          'DOM: total hashrate %r in %r' % (shown, hashrate_card))
    hosts_card = parser.text('id', 'total-hosts')
    check('2\u00a0/\u00a06' in hosts_card or '2 / 6' in hosts_card, 'DOM: healthy 2 / 6 in %r' % hosts_card)
    check(str(t['users']) in parser.text('id', 'total-users'), 'DOM: total users')
    check(str(t['workers']) in parser.text('id', 'total-workers'), 'DOM: total workers')
    for state, n in (('healthy', 2), ('stale', 1), ('unhealthy', 2), ('unreachable', 1)):
        check(parser.text('data-state-count', state) == '%s: %d' % (state, n), 'DOM: badge %s: %d' % (state, n))
    check(args.evil in parser.text('data-user', args.evil), 'DOM: the HTML user name is shown as text')
    for u in report['users']:
        check(u['name'] in parser.text('data-user', u['name']), 'DOM: user %s listed' % u['name'])

    # 3. Layout at a phone viewport ------------------------------------------------------------
    layout = probe_layout(work, out, w, h)
    check('error' not in layout, 'probe: %s' % layout.get('error'))
    check(layout.get('viewport') == w, 'probe viewport %s' % layout.get('viewport'))
    check(layout.get('scrollWidth', 10 ** 6) <= w, 'no horizontal scrolling at %d px: scrollWidth %s' % (w, layout.get('scrollWidth')))
    check(layout.get('fontSize', 0) >= 14, 'body text at least 14 px: %s' % layout.get('fontSize'))
    check(layout.get('imgs') == 0, 'no image element after layout')
    colours = {'healthy': 'rgb(27, 127, 59)', 'stale': 'rgb(154, 103, 0)', 'unhealthy': 'rgb(180, 35, 24)',
               'unreachable': 'rgb(91, 95, 102)'}
    seen = set()
    for item in layout.get('hosts', []):
        seen.add(item['host'])
        check(item['visible'] and item['height'] > 20, 'host card %s rendered' % item['host'])
        check(item['left'] >= 0 and item['right'] <= w, 'host card %s inside the viewport: %s-%s' % (item['host'], item['left'], item['right']))
        check(item['width'] >= w * 0.8, 'host card %s uses the width: %s' % (item['host'], item['width']))
        check(item['host'] in item['text'], 'rendered text of %s names it' % item['host'])
        check(item['badgeText'] == EXPECTED_STATES[item['host']], 'rendered badge of %s: %r' % (item['host'], item['badgeText']))
        check(item['badgeColor'] == colours[item['state']], 'badge colour of %s: %s' % (item['host'], item['badgeColor']))
    check(seen == set(EXPECTED_STATES), 'every host rendered: %s' % sorted(seen))
    order = [item['state'] for item in layout.get('hosts', [])]
    check(order.index('unhealthy') < order.index('healthy'), 'problems are listed before healthy hosts: %s' % order)
    users = layout.get('users', [])
    check(len(users) == len(report['users']), 'every top user rendered')
    for item, u in zip(users, report['users']):
        check(item['right'] <= w and item['left'] >= 0, 'user row %s inside the viewport' % u['name'])
        check(abs(item['barRatio'] - u['bar_percent'] / 100.0) < 0.02, 'user %s bar %.3f vs %s%%' % (u['name'], item['barRatio'], u['bar_percent']))
    check(args.evil in layout.get('bodyText', ''), 'the HTML user name is rendered as visible text')
    check('FAIL' not in layout.get('bodyText', '') and 'undefined' not in layout.get('bodyText', ''),
          'no template garbage in the rendered text')

    # 4. Screenshot -----------------------------------------------------------------------------
    shot = os.path.join(out, 'fleet-phone.png')
    chromium(os.path.join(work, 'profile-shot'), '--window-size=%d,%d' % (w, h), '--screenshot=' + shot,
             'file://' + html_path)
    width, height, ncolours = png_info(shot)
    check((width, height) == (w, h), 'screenshot size %sx%s' % (width, height))
    check(ncolours > 30, 'screenshot is not blank (%d colours)' % ncolours)

    # 5. History and trends at a phone and a desktop width -------------------------------------------
    runs = check_history(work, out, report)
    check_trends(layout, runs, w, 'phone')
    shots = [check_trend_pixels(work, out, layout, w, 'trends-phone.png')]
    desktop = probe_layout(work, out, *DESKTOP)
    check('error' not in desktop, 'desktop probe: %s' % desktop.get('error'))
    check(desktop.get('scrollWidth', 10 ** 6) <= DESKTOP[0], 'no horizontal scrolling at %d px: scrollWidth %s'
          % (DESKTOP[0], desktop.get('scrollWidth')))
    check_trends(desktop, runs, DESKTOP[0], 'desktop')
    shots.append(check_trend_pixels(work, out, desktop, DESKTOP[0], 'trends-desktop.png'))

    if failures:
        print('check_report: %d check(s) failed' % len(failures))
        return 1
    print('check_report: all checks passed (%d hosts, %d users, %d runs of history; screenshots %s)'
          % (len(rows), report['users_total'], len(runs), ', '.join([shot] + shots)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
