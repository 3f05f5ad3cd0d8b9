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
"""

import argparse
import json
import os
import re
import signal
import struct
import subprocess
import sys
import zlib
from html.parser import HTMLParser

CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync',
                  '--hide-scrollbars']
PHONE = (390, 844)
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


def png_info(path):
    """Width, height and number of distinct colours of an 8-bit RGB/RGBA non-interlaced PNG."""
    with open(path, 'rb') as f:
        data = f.read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
    pos, idat, header = 8, b'', None
    while pos < len(data):
        length, ctype = struct.unpack('>I4s', data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if ctype == b'IHDR':
            header = struct.unpack('>IIBBBBB', chunk)
        elif ctype == b'IDAT':
            idat += chunk
        pos += 12 + length
    width, height, depth, color, dummy, dummy2, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    colours = set()
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xff
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xff
            elif ftype == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 0xff
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xff
        for x in range(0, stride, bpp * 3):
            colours.add(bytes(line[x:x + 3]))
        prev = line
    return width, height, len(colours)


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
    function box(e) { var r = e.getBoundingClientRect(); return {left: r.left, right: r.right, width: r.width, height: r.height}; }
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--work', required=True)
    ap.add_argument('--evil', required=True)
    args = ap.parse_args()
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
    probe = os.path.join(out, 'probe.html')
    with open(probe, 'w') as f:
        f.write(PROBE % (w, h))
    dom = chromium(os.path.join(work, 'profile-probe'), '--allow-file-access-from-files', '--window-size=%d,%d' % (w, h),
                   '--virtual-time-budget=10000', '--dump-dom', 'file://' + probe)
    rp = ResultParser()
    rp.feed(dom)
    layout = json.loads(''.join(rp.data))
    os.unlink(probe)
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

    if failures:
        print('check_report: %d check(s) failed' % len(failures))
        return 1
    print('check_report: all checks passed (%d hosts, %d users, screenshot %s)' % (len(rows), report['users_total'], shot))
    return 0


if __name__ == '__main__':
    sys.exit(main())
