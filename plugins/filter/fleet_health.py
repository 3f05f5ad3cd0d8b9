# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn per-host health and restart results into fleet reports (controller side).

ckpool.fleet.health_rows, ckpool.fleet.health_table, ckpool.fleet.health_report,
ckpool.fleet.restart_result and ckpool.fleet.restart_report.  Documentation lives in the
sidecar files of the same names.
"""

import datetime

from ansible.errors import AnsibleFilterError

from ansible_collections.ckpool.fleet.plugins.module_utils.hashrate import format_hashrate


def _hostvar(hostvars, host, name, default=None):
    try:
        values = hostvars[host]
    except KeyError:
        return default
    try:
        value = values[name]
    except KeyError:
        return default
    return default if value is None else value


def _now_text():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None).isoformat() + 'Z'


def health_rows(hosts, hostvars, reached=None):
    """One row per (host, instance) from each host's ``ckpool_health`` fact.

    A host without the fact is one unhealthy row: ``unreachable`` when it is missing from
    ``reached`` (ansible_play_hosts: hosts still in the play), else ``not_checked``."""
    reached = None if reached is None else set(reached)
    rows = []
    for host in hosts:
        health = _hostvar(hostvars, host, 'ckpool_health')
        if not isinstance(health, dict):
            why = 'unreachable' if reached is not None and host not in reached else 'not_checked'
            rows.append(dict(host=host, instance='-', healthy=False, hashrate_1m=None, workers=None,
                             status_age=None, pid=None, failing=[why], not_judged=[], checks=[]))
            continue
        for name, inst in health.items():
            rows.append(dict(host=host, instance=name, healthy=bool(inst.get('healthy')),
                             hashrate_1m=inst.get('hashrate_1m'), workers=inst.get('workers'),
                             status_age=inst.get('status_age'), pid=inst.get('pid'),
                             failing=list(inst.get('failing') or []), not_judged=list(inst.get('not_judged') or []),
                             checks=list(inst.get('checks') or [])))
    return rows


def health_table(rows):
    """The summary table as a list of lines (the last one counts healthy instances)."""
    if not isinstance(rows, list):
        raise AnsibleFilterError('ckpool.fleet.health_table: expects the list of ckpool.fleet.health_rows')
    hw = max([4] + [len(str(r['host'])) for r in rows])
    iw = max([8] + [len(str(r['instance'])) for r in rows])
    fmt = '%%-%ds  %%-%ds  %%-9s  %%9s  %%7s  %%10s  %%s' % (hw, iw)
    lines = [fmt % ('HOST', 'INSTANCE', 'HEALTH', 'HASHRATE', 'WORKERS', 'STATUS AGE', 'FAILING CHECKS')]
    for row in rows:
        rate = row.get('hashrate_1m')
        age = row.get('status_age')
        failing = ', '.join(row.get('failing') or []) or '-'
        if row.get('not_judged'):
            failing += ' (not judged: %s)' % ', '.join(row['not_judged'])
        lines.append(fmt % (row['host'], row['instance'], 'healthy' if row['healthy'] else 'UNHEALTHY',
                            format_hashrate(rate) if rate is not None else '-',
                            row['workers'] if row.get('workers') is not None else '-',
                            '%.0f s' % age if age is not None else '-', failing))
    bad = []
    for row in rows:
        if not row['healthy'] and row['host'] not in bad:
            bad.append(row['host'])
    lines.append('%d of %d instance(s) healthy%s' % (len([r for r in rows if r['healthy']]), len(rows),
                                                     '; UNHEALTHY: ' + ', '.join(bad) if bad else ''))
    return lines


def health_report(rows):
    """The JSON report of a healthcheck run."""
    bad = []
    for row in rows:
        if not row['healthy'] and row['host'] not in bad:
            bad.append(row['host'])
    return dict(generated=_now_text(), healthy=not bad, unhealthy_hosts=bad, instances=rows)


def restart_result(results, strategy, old_pids=None, health=None):
    """``rolling_restart_result`` of one host: ``{INSTANCE: {old_pid, new_pid, strategy, duration}}``.

    ``results``: the registered loop of ckpool.fleet.ckpool_restart (handover), whose items
    carry the instance as ``item``; for the service strategy pass ``old_pids`` and the
    post-gate's ``instances`` as ``health`` instead (an empty ``results``)."""
    out = {}
    for res in results or []:
        if res.get('skipped'):
            continue
        item = res.get('item') or {}
        name = item.get('name') if isinstance(item, dict) else None
        if name is None:
            raise AnsibleFilterError('ckpool.fleet.restart_result: a result without its instance as item')
        out[name] = dict(old_pid=res.get('old_pid'), new_pid=res.get('new_pid'), strategy=strategy,
                         duration=res.get('duration'))
    for name, pid in (old_pids or {}).items():
        if name in out:
            continue
        inst = (health or {}).get(name) or {}
        out[name] = dict(old_pid=pid, new_pid=inst.get('pid'), strategy=strategy, duration=None)
    return out


def restart_report(hosts, hostvars, strategy, check_mode=False, failed_host=None, failed_task=None,
                   failed_message=None, failed_health=None):
    """The rolling restart's JSON report: restarted hosts with their pids, and where and why it stopped."""
    restarted = [h for h in hosts if isinstance(_hostvar(hostvars, h, 'rolling_restart_result'), dict)]
    results = dict((h, _hostvar(hostvars, h, 'rolling_restart_result')) for h in restarted)
    if failed_host:
        status = 'failed'
    elif len(restarted) == len(hosts):
        status = 'complete'
    else:
        status = 'in_progress'
    failing = {}
    if failed_host:
        for name, inst in (failed_health or {}).items():
            if not inst.get('healthy'):
                failing[name] = [c for c in inst.get('checks') or [] if not c.get('ok')]
    return dict(generated=_now_text(), status=status, strategy=strategy, check_mode=bool(check_mode),
                restarted=restarted, results=results,
                not_touched=[h for h in hosts if h not in restarted and h != failed_host],
                failed_host=failed_host or None, failed_task=failed_task if failed_host else None,
                failed_message=failed_message if failed_host else None, failing_checks=failing)


class FilterModule(object):
    """Fleet health and restart report filters."""

    def filters(self):
        """Return the filters of this plugin file."""
        return {
            'health_rows': health_rows,
            'health_table': health_table,
            'health_report': health_report,
            'restart_result': restart_result,
            'restart_report': restart_report,
        }
