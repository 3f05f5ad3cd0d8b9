# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``ckpool.fleet.fleet_summary`` filter: many hosts' ``ckpool_info`` results -> one fleet view.

Combines pool statistics the way upstream's ``ckpoolstats`` combines several
ckpool status directories:

* hashrates summed per window (in H/s; then formatted the way ckpool writes
  them), users, workers, idle, disconnected, accepted, rejected and the
  shares-per-second averages summed;
* ``bestshare`` and ``diff`` are the maximum, ``runtime`` the minimum and
  ``lastupdate`` the oldest (``ckpoolstats`` "pessimises" those two);
* users merged by name across pools (hashrates summed, ``lastshare`` and
  ``bestshare``/``bestever`` the maximum, ``shares`` summed, ``authorised``
  the earliest) and, inside a user, workers merged by worker name the same way;

plus what ``ckpoolstats`` lacks: a per-host health verdict and staleness, and
counts of healthy, stale, unhealthy and unreachable hosts.  Hosts whose result
is missing, failed, unreachable or only partly gathered never make it fail.

Multi-tier fleets: every host has a tier, from its mode (``modes.py``; a proxy,
node, passthrough or redirector forwards its miners' work to a pool upstream,
which counts it again) unless overridden.  Each tier is totalled separately
(``tiers``); the fleet totals (``totals``) and the merged users are the
``pool`` tier's, so miners behind a downstream instance are counted once.
Devices per user agent (``agents``) come from the ckpool-lhr fork's
``UserAgents`` of the pool tier (or the workers' ``useragent`` when a pool has
no such list).

Documentation: ``fleet_summary.yml`` beside this file.
"""


import math

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.ckpool.fleet.plugins.module_utils.hashrate import format_hashrate
from ansible_collections.ckpool.fleet.plugins.module_utils import modes as ckpool_modes


POOL_WINDOWS = ('1m', '5m', '15m', '1hr', '6hr', '1d', '7d')
USER_WINDOWS = ('1m', '5m', '1hr', '1d', '7d')
SPS_WINDOWS = ('1m', '5m', '15m', '1h')
STATES = ('healthy', 'stale', 'unhealthy', 'unreachable', 'unknown')
SUMMED_POOL_FIELDS = ('users', 'workers', 'idle', 'disconnected', 'accepted', 'rejected')
REASON_MAX = 300


def _num(value):
    """Return ``value`` as an int or float, or None when it is not a number (bools are not numbers)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _add(a, b):
    b = _num(b)
    if b is None:
        return a
    return b if a is None else a + b


def _max(a, b):
    b = _num(b)
    if b is None:
        return a
    return b if a is None or b > a else a


def _min(a, b):
    b = _num(b)
    if b is None:
        return a
    return b if a is None or b < a else a


def _human(rates):
    result = {}
    for window, value in rates.items():
        result[window] = None if value is None else format_hashrate(value)
    return result


def _short(text):
    text = ' '.join(str(text).split())
    # ansible-core 2.19 prefixes registered failure messages; the report says what failed itself.
    for prefix in ('Task failed: ', 'Module failed: '):
        while text.startswith(prefix):
            text = text[len(prefix):]
    text = text.replace('ckpool_info failed: Task failed: Module failed: ', 'ckpool_info failed: ')
    text = text.replace('ckpool_info failed: Task failed: ', 'ckpool_info failed: ')
    if len(text) > REASON_MAX:
        text = text[:REASON_MAX - 3] + '...'
    return text


def _mapping(value):
    return value if isinstance(value, Mapping) else None


def _lookup_hostvar(hostvars, host, key):
    """``hostvars[host][key]``, or None when the host or the variable does not exist."""
    try:
        hv = hostvars[host]
    except (KeyError, IndexError, TypeError):
        return None
    try:
        if key not in hv:
            return None
        return hv[key]
    except (KeyError, TypeError):
        return None


def _entries(data, hostvars, key):
    """Normalise the filter input into a list of ``(host, result)`` pairs."""
    if isinstance(data, Mapping):
        return [(str(host), data[host]) for host in data]
    if isinstance(data, (str, bytes)) or not hasattr(data, '__iter__'):
        raise AnsibleFilterError('fleet_summary expects a list of ckpool_info results, a dict of host -> result, '
                                 'or a list of host names with hostvars; got %s' % type(data).__name__)
    entries = []
    for index, item in enumerate(data):
        if isinstance(item, str):
            if hostvars is None:
                raise AnsibleFilterError('fleet_summary got host names (%r ...) but no hostvars: use '
                                         "HOSTS | ckpool.fleet.fleet_summary(hostvars, 'registered_var')" % (item,))
            if not key:
                raise AnsibleFilterError('fleet_summary needs the name of the registered variable (key) '
                                         'to look up in hostvars')
            entries.append((item, _lookup_hostvar(hostvars, item, key)))
            continue
        if item is None:
            entries.append(('host%d' % index, None))
            continue
        if not isinstance(item, Mapping):
            raise AnsibleFilterError('fleet_summary: item %d is a %s, expected a dict or a host name'
                                     % (index, type(item).__name__))
        host = item.get('inventory_hostname') or item.get('host') or item.get('name') or 'host%d' % index
        result = item
        if key and key in item:
            result = item[key]
            # a wrapper {host, KEY: result, mode, tier} may say what the instance is
            meta = dict((k, item[k]) for k in ('mode', 'tier') if item.get(k) is not None)
            if meta and isinstance(result, Mapping):
                result = dict(result)
                for k, v in meta.items():
                    result.setdefault(k, v)
        entries.append((str(host), result))
    return entries


def _health_reason(health):
    parts = []
    for sock in ('listener', 'stratifier', 'connector'):
        entry = _mapping(health.get(sock))
        if entry is not None and not entry.get('ok'):
            parts.append('%s: %s' % (sock, entry.get('error') or entry.get('message') or 'no answer'))
    return '; '.join(parts) or 'not healthy'


def _normalise_ua(text):
    """ckpool-lhr's normalize_ua_buf(): leading blanks skipped, cut at "/" or "(", 64 bytes."""
    text = str(text or '').lstrip()
    for stop in ('/', '('):
        pos = text.find(stop)
        if pos != -1:
            text = text[:pos]
    return text[:64]


def _tier_of(host, result, hostvars, tiers):
    """(mode, tier) of a host: an explicit override (O(tiers), the result's or the host's C(tier) /
    C(ckpool_tier)), else the tier of its mode (the result's C(mode) or C(process.mode), or the host
    variable C(ckpool_mode)); unknown mode: the pool tier."""
    result = _mapping(result) or {}
    mode = result.get('mode') or (_mapping(result.get('process')) or {}).get('mode')
    if not mode and hostvars is not None:
        mode = _lookup_hostvar(hostvars, host, 'ckpool_mode')
    if mode not in ckpool_modes.MODES:
        mode = None
    override = (tiers or {}).get(host) if isinstance(tiers, Mapping) else None
    if override is None:
        override = result.get('tier')
    if override is None and hostvars is not None:
        override = _lookup_hostvar(hostvars, host, 'ckpool_tier')
    if override is not None:
        if override in ckpool_modes.MODES:          # a mode name is accepted where a tier is expected
            return mode or override, ckpool_modes.tier(override)
        if override not in ckpool_modes.TIERS:
            raise AnsibleFilterError('fleet_summary: host %s: unknown tier %r (one of %s, or a mode: %s)'
                                     % (host, override, ', '.join(ckpool_modes.TIERS), ', '.join(ckpool_modes.MODES)))
        return mode, override
    return mode, ckpool_modes.tier(mode) if mode else 'pool'


def _host_row(host, result, stale_after, mode=None, tier='pool'):
    """Return the per-host row (without fleet-relative fields) and the pool dict to count, if any."""
    row = dict(host=host, state='unknown', reason='', healthy=None, running=None, pid=None, stale=None,
               age_seconds=None, lastupdate=None, runtime=None, diff=None, bestshare=None,
               hashrate=dict((w, None) for w in POOL_WINDOWS), sps=dict((w, None) for w in SPS_WINDOWS),
               health=None, socket_dir=None, log_dir=None, users_listed=0, counted=False,
               mode=mode, tier=tier, connections=None)
    for field in SUMMED_POOL_FIELDS:
        row[field] = None
    result = _mapping(result)
    if not result:
        row.update(state='unreachable', reason='no ckpool_info result for this host')
        return row, None
    row['socket_dir'] = result.get('socket_dir')
    row['log_dir'] = result.get('log_dir')
    if result.get('unreachable'):
        row.update(state='unreachable', reason=_short(result.get('msg') or 'host unreachable'))
        return row, None
    if result.get('skipped'):
        row.update(state='unknown', reason=_short(result.get('skip_reason') or result.get('skipped_reason')
                                                  or 'ckpool_info was skipped'))
        return row, None
    if result.get('failed'):
        row.update(state='unhealthy', healthy=False,
                   reason=_short('ckpool_info failed: %s' % (result.get('msg') or 'no message')))
        return row, None

    process = _mapping(result.get('process'))
    health = _mapping(result.get('health'))
    pool = _mapping(result.get('pool'))
    if process is not None:
        row['running'] = process.get('running')
        row['pid'] = process.get('pid')
    if health is not None:
        row['healthy'] = bool(health.get('healthy'))
        row['health'] = dict((sock, bool(_mapping(health.get(sock)).get('ok')))
                             for sock in ('listener', 'stratifier', 'connector') if _mapping(health.get(sock)) is not None)

    if pool is not None:
        age = _num(pool.get('age_seconds'))
        row['age_seconds'] = None if age is None else round(age, 1)
        if stale_after is None:
            stale = pool.get('stale')
            row['stale'] = True if stale is None and age is None else bool(stale)
        else:
            row['stale'] = age is None or age > stale_after
        row['lastupdate'] = _num(pool.get('lastupdate'))
        row['runtime'] = _num(pool.get('runtime'))
        row['diff'] = _num(pool.get('diff'))
        row['bestshare'] = _num(pool.get('bestshare'))
        for field in SUMMED_POOL_FIELDS:
            row[field] = _num(pool.get(field))
        rates = _mapping(pool.get('hashrate')) or {}
        row['hashrate'] = dict((w, _num(rates.get(w))) for w in POOL_WINDOWS)
        sps = _mapping(pool.get('sps')) or {}
        row['sps'] = dict((w, _num(sps.get(w))) for w in SPS_WINDOWS)
    elif 'pool' in result:
        # gathered, but there is no pool.status: normal for a passthrough or redirector (docs/modes.md)
        row['stale'] = not (mode is not None and not ckpool_modes.expects_pool_status(mode))
    connector = _mapping(result.get('connector'))
    if connector is not None:
        row['connections'] = _num((_mapping(connector.get('clients')) or {}).get('count'))

    if row['running'] is False:
        row.update(state='unhealthy', reason='ckpool is not running' + (
            ' (pid %s is gone)' % row['pid'] if row['pid'] else ''))
    elif row['healthy'] is False:
        row.update(state='unhealthy', reason=_short(_health_reason(health)))
    elif row['healthy'] or row['running']:
        if row['stale']:
            if pool is None:
                row.update(state='stale', reason='no pool/pool.status to read')
            elif row['age_seconds'] is None:
                row.update(state='stale', reason='pool.status has no lastupdate')
            else:
                row.update(state='stale', reason='pool.status is %d s old' % row['age_seconds'])
        else:
            row.update(state='healthy', reason='')
    else:
        row.update(state='unknown', reason='neither health nor process was gathered')
        if row['stale']:
            row['reason'] += '; pool.status is stale'

    return row, pool


def _merge_rates(acc, rates, windows):
    rates = _mapping(rates) or {}
    for window in windows:
        acc[window] = _add(acc[window], rates.get(window))


def _new_worker(name):
    return dict(workername=name, hashrate=dict((w, None) for w in USER_WINDOWS), lastshare=None,
                shares=None, bestshare=None, bestever=None, hosts=[])


def _merge_worker(acc, worker, host):
    _merge_rates(acc['hashrate'], worker.get('hashrate'), USER_WINDOWS)
    acc['lastshare'] = _max(acc['lastshare'], worker.get('lastshare'))
    acc['shares'] = _add(acc['shares'], worker.get('shares'))
    acc['bestshare'] = _max(acc['bestshare'], worker.get('bestshare'))
    acc['bestever'] = _max(acc['bestever'], worker.get('bestever'))
    if host not in acc['hosts']:
        acc['hosts'].append(host)


def _users_of(result):
    """The user shapes of one result; built from the flat worker list when only workers were gathered."""
    users = result.get('users')
    if isinstance(users, list):
        return [u for u in users if isinstance(u, Mapping)]
    workers = result.get('workers')
    if not isinstance(workers, list):
        return []
    grouped = {}
    order = []
    for worker in workers:
        if not isinstance(worker, Mapping) or not worker.get('user'):
            continue
        name = worker['user']
        if name not in grouped:
            grouped[name] = dict(name=name, hashrate=dict((w, None) for w in USER_WINDOWS), lastshare=None,
                                 workers=0, shares=None, bestshare=None, bestever=None, authorised=None, worker=[])
            order.append(name)
        user = grouped[name]
        _merge_rates(user['hashrate'], worker.get('hashrate'), USER_WINDOWS)
        user['lastshare'] = _max(user['lastshare'], worker.get('lastshare'))
        user['shares'] = _add(user['shares'], worker.get('shares'))
        user['bestshare'] = _max(user['bestshare'], worker.get('bestshare'))
        user['bestever'] = _max(user['bestever'], worker.get('bestever'))
        user['workers'] += 1
        user['worker'].append(worker)
    return [grouped[name] for name in order]


def _bar(value, largest):
    if not value or not largest:
        return 0
    return max(1, int(round(100.0 * value / largest)))


def _share(value, total):
    if value is None or not total:
        return None
    return round(float(value) / total, 6)


def _new_tier_totals():
    totals = dict(hosts=0, hosts_counted=0, hashrate=dict((w, None) for w in POOL_WINDOWS),
                  sps=dict((w, None) for w in SPS_WINDOWS), connections=None)
    for field in SUMMED_POOL_FIELDS:
        totals[field] = None
    return totals


def _agents_of(pool, users):
    """Devices per normalised user agent of one pool: its UserAgents list (ckpool-lhr), else its workers."""
    listed = pool.get('user_agents') if isinstance(pool, Mapping) else None
    found = {}
    if isinstance(listed, list):
        for entry in listed:
            if not isinstance(entry, Mapping) or not entry.get('ua'):
                continue
            found[str(entry['ua'])] = (_num(entry.get('devices')) or 0, _num(entry.get('hashrate5m')),
                                       _num(entry.get('bestshare')))
        return found
    for user in users:
        for worker in user.get('worker') or []:
            if not isinstance(worker, Mapping):
                continue
            ua = _normalise_ua(worker.get('useragent'))
            if not ua:
                continue
            devices, rate, best = found.get(ua, (0, None, None))
            found[ua] = (devices + 1, _add(rate, (_mapping(worker.get('hashrate')) or {}).get('5m')),
                         _max(best, worker.get('bestshare')))
    return found


def fleet_summary(data, hostvars=None, key=None, window='5m', stale_after=None, include_stale=False,
                  top_users=0, workers=True, tiers=None):
    """Combine ckpool_info results of many hosts; see fleet_summary.yml for the full contract."""
    if window not in USER_WINDOWS:
        raise AnsibleFilterError('fleet_summary: window must be one of %s (the windows both pool.status and the '
                                 'user files have), got %r' % (', '.join(USER_WINDOWS), window))
    if stale_after is not None:
        stale_after = _num(stale_after)
        if stale_after is None or stale_after < 0:
            raise AnsibleFilterError('fleet_summary: stale_after must be a non-negative number of seconds')
    try:
        top_users = int(top_users or 0)
    except (TypeError, ValueError):
        raise AnsibleFilterError('fleet_summary: top_users must be an integer')
    if top_users < 0:
        raise AnsibleFilterError('fleet_summary: top_users must not be negative')

    rows = []
    totals = dict(hosts=0, hosts_counted=0, hashrate=dict((w, None) for w in POOL_WINDOWS),
                  sps=dict((w, None) for w in SPS_WINDOWS), bestshare=None, diff=None, runtime=None,
                  lastupdate=None, newest_lastupdate=None, max_age_seconds=None)
    for field in SUMMED_POOL_FIELDS:
        totals[field] = None
    counts = dict((state, 0) for state in STATES)
    counts['stopped'] = 0
    merged = {}
    tier_totals = {}
    agents = {}
    if tiers is not None and not isinstance(tiers, Mapping):
        raise AnsibleFilterError('fleet_summary: tiers must be a dict of host name to tier (or mode)')

    for host, result in _entries(data, hostvars, key):
        mode, tier = _tier_of(host, result, hostvars, tiers)
        row, pool = _host_row(host, result, stale_after, mode, tier)
        counts[row['state']] += 1
        if row['running'] is False:
            counts['stopped'] += 1
        totals['hosts'] += 1
        rows.append(row)
        ttot = tier_totals.setdefault(tier, _new_tier_totals())
        ttot['hosts'] += 1
        if row['running'] is not False and row['connections'] is not None:
            ttot['connections'] = _add(ttot['connections'], row['connections'])
        if pool is None:
            continue
        if (row['stale'] or row['running'] is False) and not include_stale:
            continue
        row['counted'] = True
        ttot['hosts_counted'] += 1
        for field in SUMMED_POOL_FIELDS:
            ttot[field] = _add(ttot[field], row[field])
        _merge_rates(ttot['hashrate'], row['hashrate'], POOL_WINDOWS)
        _merge_rates(ttot['sps'], row['sps'], SPS_WINDOWS)
        if tier not in ckpool_modes.UPSTREAM_TIERS:
            # downstream of a pool: its miners' work is counted again upstream, not in the fleet totals
            continue
        totals['hosts_counted'] += 1
        for field in SUMMED_POOL_FIELDS:
            totals[field] = _add(totals[field], row[field])
        _merge_rates(totals['hashrate'], row['hashrate'], POOL_WINDOWS)
        _merge_rates(totals['sps'], row['sps'], SPS_WINDOWS)
        totals['bestshare'] = _max(totals['bestshare'], row['bestshare'])
        totals['diff'] = _max(totals['diff'], row['diff'])
        totals['runtime'] = _min(totals['runtime'], row['runtime'])
        totals['lastupdate'] = _min(totals['lastupdate'], row['lastupdate'])
        totals['newest_lastupdate'] = _max(totals['newest_lastupdate'], row['lastupdate'])
        totals['max_age_seconds'] = _max(totals['max_age_seconds'], row['age_seconds'])

        users = _users_of(result)
        row['users_listed'] = len(users)
        for ua, (devices, rate, best) in _agents_of(pool, users).items():
            acc_ua = agents.setdefault(ua, dict(ua=ua, devices=0, hashrate5m=None, bestshare=None, hosts=[]))
            acc_ua['devices'] += devices
            acc_ua['hashrate5m'] = _add(acc_ua['hashrate5m'], rate)
            acc_ua['bestshare'] = _max(acc_ua['bestshare'], best)
            if host not in acc_ua['hosts']:
                acc_ua['hosts'].append(host)
        for user in users:
            name = user.get('name')
            if not name:
                continue
            acc = merged.get(name)
            if acc is None:
                acc = merged[name] = dict(name=name, hashrate=dict((w, None) for w in USER_WINDOWS),
                                          lastshare=None, shares=None, bestshare=None, bestever=None,
                                          authorised=None, worker_entries=None, hosts=[], _workers={})
            _merge_rates(acc['hashrate'], user.get('hashrate'), USER_WINDOWS)
            acc['lastshare'] = _max(acc['lastshare'], user.get('lastshare'))
            acc['shares'] = _add(acc['shares'], user.get('shares'))
            acc['bestshare'] = _max(acc['bestshare'], user.get('bestshare'))
            acc['bestever'] = _max(acc['bestever'], user.get('bestever'))
            acc['authorised'] = _min(acc['authorised'], user.get('authorised'))
            acc['worker_entries'] = _add(acc['worker_entries'], user.get('workers'))
            if host not in acc['hosts']:
                acc['hosts'].append(host)
            for worker in user.get('worker') or []:
                if not isinstance(worker, Mapping) or not worker.get('workername'):
                    continue
                wname = worker['workername']
                wacc = acc['_workers'].get(wname)
                if wacc is None:
                    wacc = acc['_workers'][wname] = _new_worker(wname)
                _merge_worker(wacc, worker, host)

    total_rate = totals['hashrate'].get(window)
    totals['hashrate_human'] = _human(totals['hashrate'])
    totals['shares_total'] = _add(totals['accepted'], totals['rejected'])
    if totals['shares_total']:
        totals['reject_percent'] = round(100.0 * (totals['rejected'] or 0) / totals['shares_total'], 3)
    else:
        totals['reject_percent'] = None

    totals['tier'] = 'pool'
    for tier, ttot in tier_totals.items():
        ttot['hashrate_human'] = _human(ttot['hashrate'])
        ttot['counted_in_fleet_total'] = tier in ckpool_modes.UPSTREAM_TIERS
    tiers_out = dict((tier, tier_totals[tier]) for tier in ckpool_modes.TIERS if tier in tier_totals)

    largest_host = max([r['hashrate'][window] or 0 for r in rows] or [0])
    for row in rows:
        row['hashrate_human'] = _human(row['hashrate'])
        tier_rate = tier_totals[row['tier']]['hashrate'].get(window)
        row['share'] = _share(row['hashrate'][window], tier_rate) if row['counted'] else None
        row['bar_percent'] = _bar(row['hashrate'][window], largest_host)
    rows.sort(key=lambda r: r['host'])

    users = []
    for acc in merged.values():
        worker_list = list(acc.pop('_workers').values())
        entries = acc.pop('worker_entries')
        acc['workers'] = len(worker_list) if worker_list else (entries or 0)
        acc['hashrate_human'] = _human(acc['hashrate'])
        acc['share'] = _share(acc['hashrate'][window], total_rate)
        if workers:
            for wacc in worker_list:
                wacc['hashrate_human'] = _human(wacc['hashrate'])
            worker_list.sort(key=lambda w: (-(w['hashrate'][window] or 0), w['workername']))
            acc['worker'] = worker_list
        users.append(acc)
    users.sort(key=lambda u: (-(u['hashrate'][window] or 0), u['name']))
    users_total = len(users)
    truncated = bool(top_users) and users_total > top_users
    if truncated:
        users = users[:top_users]
    largest_user = users[0]['hashrate'][window] if users else None
    for user in users:
        user['bar_percent'] = _bar(user['hashrate'][window], largest_user)

    totals['distinct_users'] = users_total
    agent_list = sorted(agents.values(), key=lambda a: (-a['devices'], a['ua']))
    for agent in agent_list:
        agent['hashrate5m_human'] = None if agent['hashrate5m'] is None else format_hashrate(agent['hashrate5m'])
    return dict(window=window, totals=totals, tiers=tiers_out, counts=counts, hosts=rows, users=users,
                users_total=users_total, users_truncated=truncated, agents=agent_list,
                devices_total=sum(a['devices'] for a in agent_list))


class FilterModule(object):
    """ckpool.fleet fleet aggregation filter."""

    def filters(self):
        return {'fleet_summary': fleet_summary}
