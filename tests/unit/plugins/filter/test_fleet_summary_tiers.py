# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""fleet_summary with multi-tier fleets (issue #9): a tier per host, totals per tier, the pool tier as the
fleet total (miners behind a proxy, node or passthrough are not counted twice), devices per user agent.

Inputs are built with the collection's real parsers from files in ckpool's formats (upstream and ckpool-lhr)."""

import json
import os

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.ckpool.fleet.plugins.filter.fleet_summary import fleet_summary
from ansible_collections.ckpool.fleet.plugins.module_utils import status_files

NOW = 1795502500
LHR = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'module_utils', 'fixtures', 'lhr')


def pool_bytes(users, workers, rate5m, agents=None, lastupdate=NOW - 20):
    line1 = {"runtime": 300, "lastupdate": lastupdate, "Users": users, "Workers": workers, "Idle": 0,
             "Disconnected": 0}
    if agents is not None:
        line1['UserAgents'] = agents
    line2 = dict(("hashrate" + w, rate5m) for w in ("1m", "5m", "15m", "1hr", "6hr", "1d", "7d"))
    line3 = {"diff": 1.0, "accepted": 10, "rejected": 0, "bestshare": 5, "SPS1m": 0.1, "SPS5m": 0.1,
             "SPS15m": 0.1, "SPS1h": 0.1}
    return ("\n".join(json.dumps(x) for x in (line1, line2, line3)) + "\n").encode()


def user(name, rate5m, agents=()):
    doc = dict(("hashrate" + w, rate5m) for w in ("1m", "5m", "1hr", "1d", "7d"))
    doc.update(lastshare=NOW - 5, workers=len(agents) or 1, shares=3, bestshare=1.5, bestever=1, authorised=NOW,
               worker=[])
    for index, agent in enumerate(agents or [None]):
        worker = dict(workername='%s.w%d' % (name, index), lastshare=NOW - 5, shares=1, bestshare=1.5, bestever=1)
        worker.update(("hashrate" + w, rate5m) for w in ("1m", "5m", "1hr", "1d", "7d"))
        if agent is not None:
            worker.update(started=NOW - 60, useragent=agent)
        doc['worker'].append(worker)
    return status_files.parse_user(json.dumps(doc, indent=1).encode(), name)


def result(mode, pool=None, users=(), connections=None, healthy=True):
    res = dict(changed=False, mode=mode, process=dict(pid=1, running=True),
               health=dict(healthy=healthy, listener=dict(ok=healthy), stratifier=dict(ok=True)),
               pool=None if pool is None else status_files.parse_pool_status(pool, now=NOW),
               users=list(users))
    if connections is not None:
        res['connector'] = dict(clients=dict(count=connections))
    return res


def fleet():
    """main (pool) counts alice direct and bob behind the passthrough; the proxy counts carol, whom main
    counts again as the proxy's own user; the passthrough has no pool.status."""
    return {
        'main': result('pool', pool_bytes(3, 3, '30M'), [user('alice', '10M'), user('bob', '10M'),
                                                         user('proxyuser', '10M')], connections=3),
        'edge': result('passthrough', None, connections=1),
        'mid': result('proxy', pool_bytes(1, 1, '10M'), [user('carol', '10M')], connections=1),
        'solo': result('solo', pool_bytes(1, 1, '5M'), [user('bc1qsolo', '5M')], connections=1),
    }


def test_tiers_total_once():
    summary = fleet_summary(fleet())
    totals, tiers = summary['totals'], summary['tiers']
    assert totals['tier'] == 'pool'
    assert totals['hashrate']['5m'] == 35e6                      # main + solo, not the proxy's 10M again
    assert totals['users'] == 4 and totals['workers'] == 4 and totals['hosts_counted'] == 2
    assert list(tiers) == ['pool', 'proxy', 'passthrough']
    assert tiers['proxy']['hashrate']['5m'] == 10e6 and tiers['proxy']['counted_in_fleet_total'] is False
    assert tiers['pool']['hashrate']['5m'] == 35e6 and tiers['pool']['counted_in_fleet_total'] is True
    assert tiers['passthrough']['hosts'] == 1 and tiers['passthrough']['connections'] == 1
    assert tiers['passthrough']['hashrate']['5m'] is None
    assert sorted(u['name'] for u in summary['users']) == ['alice', 'bc1qsolo', 'bob', 'proxyuser']  # not carol
    rows = dict((r['host'], r) for r in summary['hosts'])
    assert rows['edge']['state'] == 'healthy' and rows['edge']['stale'] is False     # no pool.status: expected
    assert rows['edge']['tier'] == 'passthrough' and rows['mid']['tier'] == 'proxy'
    assert rows['mid']['share'] == 1.0 and rows['main']['share'] == round(30 / 35.0, 6)


def test_without_modes_every_host_is_pool_tier():
    """Results without a mode (older ckpool_info, hand-built) keep the 0.1.0 totals."""
    data = fleet()
    for res in data.values():
        res.pop('mode')
    data.pop('edge')
    summary = fleet_summary(data)
    assert summary['totals']['hashrate']['5m'] == 45e6 and list(summary['tiers']) == ['pool']


def test_passthrough_without_pool_status_is_stale_only_for_pool_modes():
    data = {'a': result('pool', None), 'b': result('redirector', None)}
    for res in data.values():
        res['pool'] = None
    rows = dict((r['host'], r) for r in fleet_summary(data)['hosts'])
    assert rows['a']['state'] == 'stale' and rows['b']['state'] == 'healthy'


@pytest.mark.parametrize('override, tier', [('passthrough', 'passthrough'), ('node', 'node'), ('pool', 'pool'),
                                            ('userproxy', 'proxy')])
def test_tier_override(override, tier):
    data = fleet()
    summary = fleet_summary(data, tiers={'mid': override})
    row = [r for r in summary['hosts'] if r['host'] == 'mid'][0]
    assert row['tier'] == tier
    expected = 45e6 if tier == 'pool' else 35e6
    assert summary['totals']['hashrate']['5m'] == expected


def test_tier_from_hostvars():
    data = fleet()
    hostvars = dict((host, {'reg': res, 'ckpool_tier': 'node' if host == 'mid' else None}) for host, res in data.items())
    for host in hostvars:
        if hostvars[host]['ckpool_tier'] is None:
            del hostvars[host]['ckpool_tier']
    summary = fleet_summary(list(data), hostvars, 'reg')
    assert [r['tier'] for r in summary['hosts'] if r['host'] == 'mid'] == ['node']


@pytest.mark.parametrize('bad', ['solo-ish', 'POOL', 3])
def test_unknown_tier_refused(bad):
    with pytest.raises(AnsibleFilterError, match='unknown tier'):
        fleet_summary(fleet(), tiers={'mid': bad})
    with pytest.raises(AnsibleFilterError, match='tiers must be a dict'):
        fleet_summary(fleet(), tiers=['mid'])


def test_devices_per_user_agent_from_lhr_pools():
    with open(os.path.join(LHR, 'pool.status'), 'rb') as handle:
        lhr_status = handle.read()
    data = {
        'lhr1': result('pool', lhr_status),   # UserAgents: NerdMiner x1, 961K
        'lhr2': result('solo', pool_bytes(2, 3, '2M', agents=[
            {"ua": "NerdMiner", "devices": 2, "hashrate5m": "500K", "bestshare": 0.5},
            {"ua": "bitaxe", "devices": 1, "hashrate5m": "1M", "bestshare": 3.0}])),
        # an upstream pool: no UserAgents; its workers' agents (if any) are counted instead
        'up': result('pool', pool_bytes(1, 2, '2M'), [user('eve', '2M', agents=['cgminer/4.12 (x)', 'NerdMiner/1.1'])]),
        # downstream instances are not counted (their miners appear upstream)
        'mid': result('proxy', pool_bytes(1, 1, '1M', agents=[{"ua": "bitaxe", "devices": 9, "hashrate5m": "9M"}])),
    }
    summary = fleet_summary(data)
    agents = dict((a['ua'], a) for a in summary['agents'])
    assert [a['ua'] for a in summary['agents']] == ['NerdMiner', 'bitaxe', 'cgminer']
    assert agents['NerdMiner']['devices'] == 4 and agents['NerdMiner']['hosts'] == ['lhr1', 'lhr2', 'up']
    assert agents['NerdMiner']['hashrate5m'] == 961000 + 500000 + 2e6
    assert agents['bitaxe']['devices'] == 1 and agents['bitaxe']['bestshare'] == 3.0
    assert agents['cgminer']['devices'] == 1
    assert summary['devices_total'] == 6
    assert agents['NerdMiner']['hashrate5m_human'] == '3.46M'


def test_no_agents_upstream_only():
    summary = fleet_summary({'a': result('pool', pool_bytes(1, 1, '1M'), [user('u', '1M')])})
    assert summary['agents'] == [] and summary['devices_total'] == 0


def test_mode_and_tier_beside_the_result():
    """The fleet report passes [{host, info: result, mode, tier}] with key='info'."""
    data = fleet()
    entries = []
    for host, res in data.items():
        mode = res.pop('mode')
        entries.append({'host': host, 'info': res, 'mode': mode, 'tier': 'pool' if host == 'mid' else None})
    summary = fleet_summary(entries, key='info')
    rows = dict((r['host'], r) for r in summary['hosts'])
    assert rows['edge']['tier'] == 'passthrough' and rows['edge']['mode'] == 'passthrough'
    assert rows['mid']['tier'] == 'pool'                  # the explicit tier beside the result wins
    assert summary['totals']['hashrate']['5m'] == 45e6
