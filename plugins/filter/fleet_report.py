# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters ``ckpool.fleet.fleet_report_entries`` and ``ckpool.fleet.fleet_report_table`` of the fleet report.

``fleet_report_entries`` turns each host's registered ``ckpool_info`` loop (one result per instance) into
the entries ``fleet_summary`` combines - one per pool instance, labelled ``host`` or ``host/instance``,
with the instance's mode and tier; ``fleet_report_table`` is the compact table the playbook prints.
Documentation: ``fleet_report_entries.yml`` and ``fleet_report_table.yml`` beside this file.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def _hostvar(hostvars, host, key):
    try:
        values = hostvars[host]
    except (KeyError, IndexError, TypeError):
        return None
    try:
        return values[key] if key in values else None
    except (KeyError, TypeError):
        return None


def fleet_report_entries(hosts, hostvars, key):
    """One ``{host, info, mode, tier}`` per pool instance of ``hosts``; see fleet_report_entries.yml."""
    if isinstance(hosts, (str, bytes, Mapping)) or not hasattr(hosts, '__iter__'):
        raise AnsibleFilterError('fleet_report_entries expects a list of host names (ansible_play_hosts_all)')
    if not isinstance(key, str) or not key:
        raise AnsibleFilterError('fleet_report_entries needs the name of the registered variable')
    out = []
    for host in hosts:
        host = str(host)
        registered = _hostvar(hostvars, host, key)
        results = None
        if isinstance(registered, Mapping) and isinstance(registered.get('results'), list) and registered['results']:
            results = registered['results']
        if results is None:
            # not a loop result: unreachable before the loop ran, skipped, or no result at all
            results = [registered]
        host_mode = _hostvar(hostvars, host, 'ckpool_mode')
        host_tier = _hostvar(hostvars, host, 'ckpool_tier')
        for result in results:
            item = result.get('item') if isinstance(result, Mapping) else None
            item = item if isinstance(item, Mapping) else {}
            name = item.get('name')
            label = '%s/%s' % (host, name) if name and len(results) > 1 else host
            out.append({'host': label, 'info': result,
                        'mode': item.get('mode') if item.get('mode') is not None else host_mode,
                        'tier': item.get('tier') if item.get('tier') is not None else host_tier})
    return out


def _cell(value, fmt='%s'):
    return '-' if value is None else fmt % value


def fleet_report_table(summary, users=5):
    """The fleet summary as lines of a fixed-width table; see fleet_report_table.yml."""
    if not isinstance(summary, Mapping) or not isinstance(summary.get('hosts'), list):
        raise AnsibleFilterError('fleet_report_table expects a ckpool.fleet.fleet_summary result')
    window = summary.get('window', '5m')
    row = '%-24s %-11s %10s %6s %7s %8s  %s'
    lines = [row % ('HOST', 'STATE', 'HASH ' + window, 'USERS', 'WORKERS', 'AGE', 'REASON')]
    for host in summary['hosts']:
        lines.append(row % (str(host['host'])[:24], host['state'], _cell(host['hashrate_human'].get(window)),
                            _cell(host.get('users')), _cell(host.get('workers')), _cell(host.get('age_seconds'), '%ds'),
                            str(host.get('reason') or '')[:60]))
    totals, counts = summary['totals'], summary['counts']
    problems = 'stale %d, unhealthy %d, unreachable %d' % (counts['stale'], counts['unhealthy'], counts['unreachable'])
    lines.append(row % ('FLEET (%s counted)' % totals['hosts_counted'], '%s/%s ok' % (counts['healthy'], totals['hosts']),
                        _cell(totals['hashrate_human'].get(window)), _cell(totals.get('users')),
                        _cell(totals.get('workers')), _cell(totals.get('max_age_seconds'), '%ds'), problems))
    for user in summary.get('users', [])[:users]:
        rate = _cell(user['hashrate_human'].get(window))
        where = ','.join(user['hosts'])
        lines.append('  user %-40s %10s  %d worker(s) on %s' % (str(user['name'])[:40], rate, user['workers'], where))
    return lines


class FilterModule(object):
    """ckpool.fleet fleet report filters."""

    def filters(self):
        return {'fleet_report_entries': fleet_report_entries, 'fleet_report_table': fleet_report_table}
