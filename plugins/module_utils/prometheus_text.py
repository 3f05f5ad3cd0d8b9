# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Prometheus text exposition format of the health check, and its atomic write.

Runs on the controller (the ``ckpool.fleet.prometheus_textfile`` filter) and may run on the managed host
(Python 3.6+, standard library only): :func:`render` turns a host's ``ckpool_health`` (instance name ->
health entry) into the text node_exporter's textfile collector reads - ``ckpool_`` prefix, base units
(seconds, hashes per second), ``_total`` exactly on counters, HELP and TYPE before every family, label
values escaped (user names come from miners), per-user series only when asked for; :func:`write_textfile`
puts it in place by rename in the same directory, under a temporary name node_exporter never reads.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import os
import tempfile
import time

from collections.abc import Mapping

from ansible_collections.ckpool.fleet.plugins.module_utils import modes

POOL_WINDOWS = ('1m', '5m', '15m', '1hr', '6hr', '1d', '7d')
USER_WINDOWS = ('1m', '5m', '1hr', '1d', '7d')
PING_SOCKETS = ('listener', 'stratifier', 'connector', 'generator')
# Names of the health checks that say whether the stratum port serves miners, best first: the
# mining.subscribe probe, then the TCP connect probe (the only one before 0.2.0).
STRATUM_CHECKS = ('stratum_subscribe', 'stratum', 'stratum_port')
# Names of the checks that say the instance could not be read at all.
READ_CHECKS = ('ckpool_info', 'read')

# name -> (type, help, labels besides ckpool_instance). Order = order in the file.
METRICS = (
    ('ckpool_healthcheck_success', 'gauge',
     'Whether this health check run could read every instance of the host (1) or not (0).', ()),
    ('ckpool_healthcheck_last_run_timestamp_seconds', 'gauge',
     'Unix time of the health check run that wrote this file.', ()),
    ('ckpool_healthcheck_instances', 'gauge', 'Instances the health check run checked on this host.', ()),
    ('ckpool_instance_info', 'gauge',
     'The instance, its ckpool mode and its fleet tier (always 1); the pool tier is the fleet total.',
     ('ckpool_instance', 'mode', 'tier')),
    ('ckpool_healthy', 'gauge', 'Whether every check of the instance passed (1) or not (0).', ('ckpool_instance',)),
    ('ckpool_check_ok', 'gauge', 'Verdict of one health check of the instance (1 passed, 0 failed).',
     ('ckpool_instance', 'check')),
    ('ckpool_up', 'gauge', 'Whether the ckpool process of the instance is running (1) or not (0).',
     ('ckpool_instance',)),
    ('ckpool_stratum_serving', 'gauge',
     'Whether the stratum port of the instance answered the health check probe (1) or not (0).',
     ('ckpool_instance',)),
    ('ckpool_stratum_probe_seconds', 'gauge', 'Time the stratum probe took to get its answer.', ('ckpool_instance',)),
    ('ckpool_process_start_time_seconds', 'gauge', 'Unix time the running ckpool process started.',
     ('ckpool_instance',)),
    ('ckpool_socket_ping_seconds', 'gauge', 'Round trip of a ping to a control socket of the instance.',
     ('ckpool_instance', 'socket')),
    ('ckpool_status_age_seconds', 'gauge',
     'Age of pool/pool.status when the health check read it (ckpool rewrites it every 60 s).', ('ckpool_instance',)),
    ('ckpool_status_last_update_timestamp_seconds', 'gauge',
     'Unix time of the last pool.status update the health check read (its lastupdate field).',
     ('ckpool_instance',)),
    ('ckpool_uptime_seconds', 'gauge', 'Runtime of the pool, from pool.status.', ('ckpool_instance',)),
    ('ckpool_hashrate_hashes_per_second', 'gauge', 'Pool hashrate averaged over a window, from pool.status.',
     ('ckpool_instance', 'window')),
    ('ckpool_users', 'gauge', 'Users with a connected worker, from pool.status.', ('ckpool_instance',)),
    ('ckpool_workers', 'gauge', 'Connected workers, from pool.status.', ('ckpool_instance',)),
    ('ckpool_idle_workers', 'gauge', 'Connected workers without a recent share, from pool.status.',
     ('ckpool_instance',)),
    ('ckpool_shares_accepted_total', 'counter',
     'Accepted shares (difficulty-weighted, as pool.status counts them).', ('ckpool_instance',)),
    ('ckpool_shares_rejected_total', 'counter',
     'Rejected shares (difficulty-weighted, as pool.status counts them).', ('ckpool_instance',)),
    ('ckpool_best_share_difficulty', 'gauge', 'Best share difficulty of the pool, from pool.status.',
     ('ckpool_instance',)),
    ('ckpool_user_hashrate_hashes_per_second', 'gauge', 'Hashrate of one user averaged over a window.',
     ('ckpool_instance', 'user', 'window')),
    ('ckpool_user_workers', 'gauge', 'Workers of one user.', ('ckpool_instance', 'user')),
    ('ckpool_user_shares_total', 'counter', 'Shares of one user (difficulty-weighted).', ('ckpool_instance', 'user')),
)
PER_USER = frozenset(('ckpool_user_hashrate_hashes_per_second', 'ckpool_user_workers', 'ckpool_user_shares_total'))


def escape_label(value):
    """Escape a label value: backslash, double quote and line feed (the exposition format's rules).

    Text that is not valid UTF-8 (lone surrogates from undecodable bytes) is written as escapes,
    so the file is always valid UTF-8.
    """
    text = value if isinstance(value, str) else str(value)
    text = text.encode('utf-8', 'backslashreplace').decode('utf-8')
    return text.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def escape_help(text):
    return text.replace('\\', '\\\\').replace('\n', '\\n')


def format_value(value):
    """A sample value: integers as integers, floats in shortest round-trip form, NaN and +/-Inf spelled out."""
    if isinstance(value, bool):
        return '1' if value else '0'
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return 'NaN'
    if math.isinf(value):
        return '+Inf' if value > 0 else '-Inf'
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _number(value):
    """``value`` as an int or float, or None when it is missing or not a number (bools are flags, not numbers)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value if not (isinstance(value, float) and math.isnan(value)) else None
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                return None
            return None if math.isnan(number) else number
    return None


def _flag(value):
    if isinstance(value, bool):
        return value
    return None


def _mapping(value):
    return value if isinstance(value, Mapping) else {}


def _checks(inst):
    return [c for c in inst.get('checks') or [] if isinstance(c, Mapping) and c.get('name')]


def _check(inst, names):
    """The first check of ``names`` (in that order of preference) the instance has, or None."""
    by_name = {}
    for check in _checks(inst):
        by_name.setdefault(check['name'], check)
    for name in names:
        if name in by_name:
            return by_name[name]
    return None


def _instance_view(name, inst, now):
    """The facts one instance contributes, from a ``ckpool_health`` entry; None for what it does not say."""
    pool = _mapping(inst.get('pool'))
    process = _mapping(inst.get('process'))
    view = {'name': name}

    up = _flag(process.get('running')) if process else None
    if up is None:
        check = _check(inst, ('process',))
        up = bool(check.get('ok')) if check is not None else None
    view['up'] = up

    healthy = _flag(inst.get('healthy'))
    view['healthy'] = healthy if healthy is not None else bool(_checks(inst)) and all(c.get('ok') for c in _checks(inst))
    view['checks'] = [(c['name'], bool(c.get('ok'))) for c in _checks(inst)]

    stratum = _mapping(inst.get('stratum_probe'))
    serving = _flag(stratum.get('ok')) if stratum else None
    if serving is None:
        check = _check(inst, STRATUM_CHECKS)
        serving = bool(check.get('ok')) if check is not None else None
    view['stratum_serving'] = serving
    seconds = _number(stratum.get('seconds')) if stratum else None
    if seconds is None:
        ms = _number(stratum.get('ms')) if stratum else _number(inst.get('stratum_ms'))
        seconds = None if ms is None else ms / 1000.0
    view['stratum_seconds'] = seconds
    view['started'] = _number(inst.get('started')) if _number(inst.get('started')) is not None else (
        _number(process.get('started')) if process else None)
    mode = inst.get('mode')
    view['mode'] = mode if isinstance(mode, str) and mode else None
    tier = inst.get('tier')
    if not (isinstance(tier, str) and tier) and view['mode'] is not None:
        try:
            tier = modes.tier(view['mode'])
        except ValueError:
            tier = None
    view['tier'] = tier if isinstance(tier, str) and tier else None

    pings = {}
    for sock, ms in _mapping(inst.get('ping_ms')).items():
        if _number(ms) is not None:
            pings[str(sock)] = _number(ms) / 1000.0
    for sock, entry in _mapping(inst.get('health')).items():
        entry = _mapping(entry)
        if entry.get('ok') and _number(entry.get('ms')) is not None:
            pings.setdefault(str(sock), _number(entry.get('ms')) / 1000.0)
    view['pings'] = pings

    def pick(*keys):
        for key in keys:
            for source in (inst, pool):
                if key in source and _number(source[key]) is not None:
                    return _number(source[key])
        return None

    view['status_age'] = pick('status_age', 'age_seconds')
    lastupdate = pick('lastupdate')
    if lastupdate is None and view['status_age'] is not None and now is not None:
        lastupdate = round(now - view['status_age'], 3)
    view['lastupdate'] = lastupdate
    view['runtime'] = pick('runtime')
    view['users'] = pick('users')
    view['workers'] = pick('workers')
    view['idle'] = pick('idle')
    view['accepted'] = pick('accepted')
    view['rejected'] = pick('rejected')
    view['bestshare'] = pick('bestshare')

    rates = {}
    for source in (_mapping(pool.get('hashrate')), _mapping(inst.get('hashrate'))):
        for window in POOL_WINDOWS:
            if _number(source.get(window)) is not None:
                rates[window] = _number(source[window])
    for window in POOL_WINDOWS:
        if window not in rates and _number(inst.get('hashrate_' + window)) is not None:
            rates[window] = _number(inst['hashrate_' + window])
    view['hashrate'] = rates

    users = inst.get('user_stats')
    if users is None and isinstance(inst.get('users'), list):
        users = inst['users']
    view['user_stats'] = [u for u in users or [] if isinstance(u, Mapping) and u.get('name') is not None]
    # Something of the instance could not be read (read_errors), or a check says it could not be read at all
    # (the healthcheck role before 0.2.0 recorded a failed module run as a check named ckpool_info).
    unread = _check(inst, READ_CHECKS)
    view['unread'] = bool(inst.get('read_errors')) or (unread is not None and not unread.get('ok'))
    return view


class _Writer:
    def __init__(self):
        self.samples = dict((m[0], []) for m in METRICS)
        self.seen = set()

    def add(self, name, labels, value):
        """Add a sample; None (unknown) is left out, and so is a repeated series (the first one counts)."""
        if value is None:
            return
        key = (name, labels)
        if key in self.seen:
            return
        self.seen.add(key)
        self.samples[name].append((labels, value))

    def text(self, per_user):
        lines = []
        for name, kind, help_text, dummy in METRICS:
            if name in PER_USER and not per_user:
                continue
            samples = self.samples[name]
            if not samples:
                continue
            lines.append('# HELP %s %s' % (name, escape_help(help_text)))
            lines.append('# TYPE %s %s' % (name, kind))
            for labels, value in samples:
                if labels:
                    rendered = ','.join('%s="%s"' % (key, escape_label(val)) for key, val in labels)
                    lines.append('%s{%s} %s' % (name, rendered, format_value(value)))
                else:
                    lines.append('%s %s' % (name, format_value(value)))
        return '\n'.join(lines) + '\n'


def render(health, per_user=False, timestamp=None):
    """Render a host's ``ckpool_health`` (instance name -> health entry) as a node_exporter textfile.

    :raises ValueError: not a dict of dicts, a bad ``per_user`` or ``timestamp``.
    """
    if not isinstance(health, Mapping):
        raise ValueError('expects the ckpool_health fact: a dict of instance name -> health entry, got %s'
                         % type(health).__name__)
    if timestamp is None:
        timestamp = time.time()
    timestamp = _number(timestamp)
    if timestamp is None or math.isinf(timestamp) or timestamp < 0:
        raise ValueError('timestamp must be a unix time in seconds')
    if not isinstance(per_user, bool):
        raise ValueError('per_user must be a boolean')

    views = []
    for name in sorted(health, key=str):
        inst = health[name]
        if not isinstance(inst, Mapping):
            raise ValueError('the entry of instance %r is a %s, expected a dict' % (name, type(inst).__name__))
        views.append(_instance_view(str(name), inst, timestamp))

    out = _Writer()
    out.add('ckpool_healthcheck_success', (), 0 if any(v['unread'] for v in views) else 1)
    out.add('ckpool_healthcheck_last_run_timestamp_seconds', (), round(timestamp, 3))
    out.add('ckpool_healthcheck_instances', (), len(views))
    for view in views:
        inst = (('ckpool_instance', view['name']),)
        if view['mode'] is not None:
            out.add('ckpool_instance_info', inst + (('mode', view['mode']), ('tier', view['tier'] or 'unknown')), 1)
        out.add('ckpool_healthy', inst, view['healthy'])
        for check, ok in view['checks']:
            out.add('ckpool_check_ok', inst + (('check', check),), ok)
        out.add('ckpool_up', inst, view['up'])
        out.add('ckpool_stratum_serving', inst, view['stratum_serving'])
        out.add('ckpool_stratum_probe_seconds', inst, view['stratum_seconds'])
        out.add('ckpool_process_start_time_seconds', inst, view['started'] if view['up'] else None)
        for sock in sorted(view['pings'], key=lambda s: (PING_SOCKETS.index(s) if s in PING_SOCKETS else 99, s)):
            out.add('ckpool_socket_ping_seconds', inst + (('socket', sock),), view['pings'][sock])
        out.add('ckpool_status_age_seconds', inst, view['status_age'])
        out.add('ckpool_status_last_update_timestamp_seconds', inst, view['lastupdate'])
        out.add('ckpool_uptime_seconds', inst, view['runtime'])
        for window in POOL_WINDOWS:
            out.add('ckpool_hashrate_hashes_per_second', inst + (('window', window),), view['hashrate'].get(window))
        out.add('ckpool_users', inst, view['users'])
        out.add('ckpool_workers', inst, view['workers'])
        out.add('ckpool_idle_workers', inst, view['idle'])
        out.add('ckpool_shares_accepted_total', inst, view['accepted'])
        out.add('ckpool_shares_rejected_total', inst, view['rejected'])
        out.add('ckpool_best_share_difficulty', inst, view['bestshare'])
        if per_user:
            for user in sorted(view['user_stats'], key=lambda u: str(u['name'])):
                labels = inst + (('user', user['name']),)
                rates = _mapping(user.get('hashrate'))
                for window in USER_WINDOWS:
                    out.add('ckpool_user_hashrate_hashes_per_second', labels + (('window', window),),
                            _number(rates.get(window)))
                out.add('ckpool_user_workers', labels, _number(user.get('workers')))
                out.add('ckpool_user_shares_total', labels, _number(user.get('shares')))
    return out.text(per_user)


def write_textfile(path, text, mode=0o644):
    """Write ``text`` to ``path`` atomically: node_exporter sees the old file or the new one, never a part.

    The data goes to a hidden temporary file in the same directory whose name does not end in ``.prom``
    (node_exporter reads every ``*.prom`` file, hidden ones too), is flushed to disk, then renamed over
    ``path``. A symlink at ``path`` is replaced, not followed. On any error the temporary file is removed.

    :returns: True when the file content changed.
    """
    directory, name = os.path.split(os.path.abspath(path))
    data = text.encode('utf-8')
    try:
        with open(path, 'rb') as handle:
            if not os.path.islink(path) and handle.read(len(data) + 1) == data \
                    and (os.stat(path).st_mode & 0o7777) == mode:
                return False
    except (IOError, OSError):
        pass
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % name, suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return True
