# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the fleet_summary filter.

The per-host inputs are built by the collection's real file parsers from files
in ckpool's own format (the pool.status and users/<name> layouts of
PROTOCOL.md), so the filter sees exactly the shapes ckpool_info returns.
"""


import json

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.ckpool.fleet.plugins.filter.fleet_summary import fleet_summary, FilterModule
from ansible_collections.ckpool.fleet.plugins.module_utils import status_files

NOW = 1795502500


def status_bytes(runtime=300, lastupdate=NOW - 20, users=1, workers=2, idle=0, disconnected=0,
                 rates=None, diff=100.0, accepted=10, rejected=1, bestshare=5, sps=None):
    rates = rates or {}
    sps = sps or {}
    line1 = {"runtime": runtime, "lastupdate": lastupdate, "Users": users, "Workers": workers,
             "Idle": idle, "Disconnected": disconnected}
    line2 = dict(("hashrate" + w, rates.get(w, "0")) for w in ("1m", "5m", "15m", "1hr", "6hr", "1d", "7d"))
    line3 = {"diff": diff, "accepted": accepted, "rejected": rejected, "bestshare": bestshare}
    for w in ("1m", "5m", "15m", "1h"):
        line3["SPS" + w] = sps.get(w, 0.0)
    return ("\n".join(json.dumps(x) for x in (line1, line2, line3)) + "\n").encode()


def pool(**kwargs):
    stale_after = kwargs.pop('stale_after', 180)
    return status_files.parse_pool_status(status_bytes(**kwargs), path='/logs/pool/pool.status', now=NOW,
                                          stale_after=stale_after)


def user(name, rates, workers, lastshare=NOW - 5, shares=3, bestshare=1.0, bestever=1, authorised=NOW - 1000):
    """A users/<name> file as ckpool writes it, parsed; workers = [(workername, rates, shares, bestshare)]."""
    doc = dict(("hashrate" + w, rates.get(w, "0")) for w in ("1m", "5m", "1hr", "1d", "7d"))
    doc.update(lastshare=lastshare, workers=len(workers), shares=shares, bestshare=bestshare,
               bestever=bestever, authorised=authorised, worker=[])
    for wname, wrates, wshares, wbest in workers:
        w = dict(workername=wname, lastshare=lastshare, shares=wshares, bestshare=wbest, bestever=bestever)
        w.update(("hashrate" + k, wrates.get(k, "0")) for k in ("1m", "5m", "1hr", "1d", "7d"))
        doc['worker'].append(w)
    return status_files.parse_user(json.dumps(doc, indent=1).encode(), name)


def result(pool_shape, users=None, running=True, healthy=True, pid=1234):
    res = dict(changed=False, gathered=['process', 'health', 'pool', 'users'], socket_dir='/run/ckpool',
               log_dir='/logs', process=dict(pid=pid, running=running, pid_file='/run/ckpool/main.pid'),
               health=dict(healthy=healthy, listener=dict(ok=healthy, ms=0.2), stratifier=dict(ok=True, ms=0.3)),
               pool=pool_shape, commands=[])
    if not healthy:
        res['health']['listener'].update(error='deadline', message='no reply within 5 s')
    if users is not None:
        res['users'] = users
        res['users_truncated'] = False
        res['file_errors'] = []
    return res


def two_pools():
    a = result(pool(runtime=600, lastupdate=NOW - 30, users=2, workers=3, idle=1, disconnected=0,
                    rates={"1m": "114", "5m": "1.74M", "15m": "4.65M", "1hr": "2.69M", "6hr": "568K",
                           "1d": "147K", "7d": "21.3K"},
                    accepted=100, rejected=4, bestshare=7, diff=100.0,
                    sps={"1m": 0.5, "5m": 0.25, "15m": 0.125, "1h": 1.0}),
               users=[user('alice', {"5m": "1M", "1m": "2M"},
                           [('alice.rig1', {"5m": "600K"}, 2, 1.5), ('alice.rig2', {"5m": "400K"}, 1, 0.5)],
                           lastshare=NOW - 50, shares=3, bestshare=1.5, bestever=2, authorised=NOW - 500),
                      user('bob', {"5m": "740K"}, [('bob.x', {"5m": "740K"}, 9, 3.0)])])
    b = result(pool(runtime=120, lastupdate=NOW - 10, users=1, workers=1, idle=0, disconnected=2,
                    rates={"1m": "886", "5m": "8.26M", "15m": "350K", "1hr": "310K", "6hr": "32K",
                           "1d": "3K", "7d": "700"},
                    accepted=50, rejected=0, bestshare=12, diff=42.0,
                    sps={"1m": 0.25, "5m": 0.5, "15m": 0.375, "1h": 2.0}),
               users=[user('alice', {"5m": "8.26M", "1m": "1M"},
                           [('alice.rig1', {"5m": "8.26M"}, 4, 9.0)],
                           lastshare=NOW - 5, shares=4, bestshare=9.0, bestever=1, authorised=NOW - 9000)])
    return {'pool-a': a, 'pool-b': b}


def test_totals_combine_like_ckpoolstats():
    s = fleet_summary(two_pools())
    t = s['totals']
    assert t['hosts'] == 2 and t['hosts_counted'] == 2
    assert t['hashrate']['1m'] == pytest.approx(114 + 886)
    assert t['hashrate']['5m'] == pytest.approx(1.74e6 + 8.26e6)
    assert t['hashrate']['15m'] == pytest.approx(4.65e6 + 350e3)
    assert t['hashrate']['7d'] == pytest.approx(21300 + 700)
    assert t['hashrate_human']['5m'] == '10M'
    assert t['hashrate_human']['1m'] == '1K'
    assert t['hashrate_human']['15m'] == '5M'
    assert (t['users'], t['workers'], t['idle'], t['disconnected']) == (3, 4, 1, 2)
    assert (t['accepted'], t['rejected'], t['shares_total']) == (150, 4, 154)
    assert t['reject_percent'] == pytest.approx(100.0 * 4 / 154, abs=1e-3)
    assert t['sps'] == {'1m': 0.75, '5m': 0.75, '15m': 0.5, '1h': 3.0}
    assert t['bestshare'] == 12  # max
    assert t['diff'] == 100.0  # max, as ckpoolstats
    assert t['runtime'] == 120  # min ("pessimised")
    assert t['lastupdate'] == NOW - 30  # oldest
    assert t['newest_lastupdate'] == NOW - 10
    assert t['max_age_seconds'] == 30
    assert s['counts'] == dict(healthy=2, stale=0, unhealthy=0, unreachable=0, unknown=0, stopped=0)


def test_users_merged_across_pools_and_workers_by_name():
    s = fleet_summary(two_pools())
    assert s['users_total'] == 2 and not s['users_truncated']
    names = [u['name'] for u in s['users']]
    assert names == ['alice', 'bob']  # one row per user, highest 5m first
    alice = s['users'][0]
    assert alice['hosts'] == ['pool-a', 'pool-b']
    assert alice['hashrate']['5m'] == pytest.approx(1e6 + 8.26e6)
    assert alice['hashrate']['1m'] == pytest.approx(3e6)
    assert alice['hashrate_human']['5m'] == '9.26M'
    assert alice['shares'] == 7
    assert alice['lastshare'] == NOW - 5  # max
    assert alice['bestshare'] == 9.0 and alice['bestever'] == 2  # max
    assert alice['authorised'] == NOW - 9000  # earliest
    assert alice['workers'] == 2  # rig1 on both pools is one worker
    rigs = dict((w['workername'], w) for w in alice['worker'])
    assert set(rigs) == {'alice.rig1', 'alice.rig2'}
    assert rigs['alice.rig1']['hashrate']['5m'] == pytest.approx(600e3 + 8.26e6)
    assert rigs['alice.rig1']['shares'] == 6
    assert rigs['alice.rig1']['bestshare'] == 9.0
    assert rigs['alice.rig1']['hosts'] == ['pool-a', 'pool-b']
    assert rigs['alice.rig2']['hosts'] == ['pool-a']
    assert alice['worker'][0]['workername'] == 'alice.rig1'  # sorted by hashrate
    assert alice['share'] == pytest.approx(9.26e6 / 10e6, abs=1e-6)
    assert alice['bar_percent'] == 100
    assert s['users'][1]['bar_percent'] == int(round(100 * 740e3 / 9.26e6))
    assert s['totals']['distinct_users'] == 2


def test_host_rows_health_share_and_bars():
    s = fleet_summary(two_pools())
    rows = dict((r['host'], r) for r in s['hosts'])
    assert [r['host'] for r in s['hosts']] == ['pool-a', 'pool-b']
    b = rows['pool-b']
    assert b['state'] == 'healthy' and b['reason'] == '' and b['healthy'] is True and b['running'] is True
    assert b['stale'] is False and b['age_seconds'] == 10 and b['counted'] is True
    assert b['hashrate_human']['5m'] == '8.26M'
    assert b['bar_percent'] == 100
    assert rows['pool-a']['bar_percent'] == int(round(100 * 1.74 / 8.26))
    assert b['share'] == pytest.approx(8.26 / 10.0)
    assert b['health'] == {'listener': True, 'stratifier': True}
    assert rows['pool-a']['users_listed'] == 2


def test_stopped_pool_is_unhealthy_and_not_counted_unless_asked():
    data = two_pools()
    data['pool-b']['process']['running'] = False
    data['pool-b']['health'] = dict(healthy=False, listener=dict(ok=False, error='not_running'),
                                    stratifier=dict(ok=False, error='not_running'))
    s = fleet_summary(data)
    row = [r for r in s['hosts'] if r['host'] == 'pool-b'][0]
    assert row['state'] == 'unhealthy' and 'not running' in row['reason'] and '1234' in row['reason']
    assert row['counted'] is False and row['share'] is None
    assert s['counts']['unhealthy'] == 1 and s['counts']['stopped'] == 1 and s['counts']['healthy'] == 1
    assert s['totals']['hosts_counted'] == 1
    assert s['totals']['hashrate']['5m'] == pytest.approx(1.74e6)
    alice = [u for u in s['users'] if u['name'] == 'alice'][0]
    assert alice['hosts'] == ['pool-a']  # the stopped pool's user files are not merged
    everything = fleet_summary(data, include_stale=True)
    assert everything['totals']['hosts_counted'] == 2
    assert everything['totals']['hashrate']['5m'] == pytest.approx(10e6)


def test_unreachable_failed_missing_and_skipped_hosts():
    data = two_pools()
    data['down'] = {'unreachable': True, 'msg': 'Failed to connect to the host via ssh: timeout', 'changed': False}
    data['broken'] = {'failed': True, 'msg': 'Task failed: Module failed: permission denied on /run/ckpool/listener: '
                                             'add ansible to group ckpool'}
    data['down']['msg'] = 'Task failed: ' + data['down']['msg']
    data['nothing'] = None
    data['skipped'] = {'skipped': True, 'skip_reason': 'Conditional result was False', 'changed': False}
    s = fleet_summary(data)
    rows = dict((r['host'], r) for r in s['hosts'])
    assert rows['down']['state'] == 'unreachable'
    assert rows['down']['reason'] == 'Failed to connect to the host via ssh: timeout'
    assert rows['nothing']['state'] == 'unreachable'
    assert rows['broken']['state'] == 'unhealthy' and rows['broken']['reason'].startswith('ckpool_info failed: permission denied')
    assert rows['skipped']['state'] == 'unknown' and 'Conditional' in rows['skipped']['reason']
    assert s['counts'] == dict(healthy=2, stale=0, unhealthy=1, unreachable=2, unknown=1, stopped=0)
    assert s['totals']['hosts'] == 6 and s['totals']['hosts_counted'] == 2
    assert rows['down']['hashrate_human']['5m'] is None and rows['down']['bar_percent'] == 0


def test_stale_status_and_override():
    data = two_pools()
    data['old'] = result(pool(lastupdate=NOW - 400, rates={"5m": "5M"}), users=[])
    s = fleet_summary(data)
    row = [r for r in s['hosts'] if r['host'] == 'old'][0]
    assert row['state'] == 'stale' and row['stale'] is True and row['reason'] == 'pool.status is 400 s old'
    assert row['counted'] is False and s['counts']['stale'] == 1
    assert s['totals']['hashrate']['5m'] == pytest.approx(10e6)
    # A looser limit in the filter overrides the module's flag, a stricter one too.
    loose = fleet_summary(data, stale_after=600)
    assert loose['counts']['stale'] == 0 and loose['totals']['hashrate']['5m'] == pytest.approx(15e6)
    strict = fleet_summary(data, stale_after=15)
    assert strict['counts']['stale'] == 2 and strict['totals']['hosts_counted'] == 1  # only pool-b (10 s)


def test_missing_pool_status_on_running_pool_is_stale():
    data = {'fresh-start': result(None, users=[])}
    s = fleet_summary(data)
    row = s['hosts'][0]
    assert row['state'] == 'stale' and row['reason'] == 'no pool/pool.status to read'
    assert s['totals']['hosts_counted'] == 0 and s['totals']['hashrate']['5m'] is None
    assert s['totals']['hashrate_human']['5m'] is None and s['totals']['reject_percent'] is None


def test_failing_socket_is_unhealthy_but_fresh_data_still_counts():
    data = two_pools()
    data['pool-a'] = result(data['pool-a']['pool'], users=data['pool-a']['users'], healthy=False)
    s = fleet_summary(data)
    row = s['hosts'][0]
    assert row['state'] == 'unhealthy' and row['reason'] == 'listener: deadline'
    assert row['counted'] is True and s['totals']['hosts_counted'] == 2


def test_partial_subsets():
    p = pool(rates={"5m": "2M"})
    only_pool = dict(gathered=['pool'], pool=p, socket_dir='/tmp/ckpool', log_dir='/logs', commands=[])
    only_process = dict(gathered=['process'], process=dict(pid=7, running=True), commands=[])
    s = fleet_summary({'a': only_pool, 'b': only_process})
    rows = dict((r['host'], r) for r in s['hosts'])
    assert rows['a']['state'] == 'unknown' and rows['a']['counted'] is True
    assert rows['b']['state'] == 'healthy' and rows['b']['counted'] is False and rows['b']['stale'] is None
    assert s['totals']['hashrate']['5m'] == pytest.approx(2e6) and s['users'] == []


def test_users_built_from_workers_when_only_workers_gathered():
    u = user('carol', {"5m": "3M"}, [('carol.a', {"5m": "1M"}, 1, 1.0), ('carol.b', {"5m": "2M"}, 2, 4.0)])
    res = result(pool(rates={"5m": "3M"}))
    res['workers'] = status_files.flatten_workers([u])
    s = fleet_summary({'h': res})
    carol = s['users'][0]
    assert carol['name'] == 'carol' and carol['workers'] == 2 and carol['shares'] == 3
    assert carol['hashrate']['5m'] == pytest.approx(3e6) and carol['bestshare'] == 4.0


def test_input_forms():
    data = two_pools()
    expected = fleet_summary(data)
    as_list = [dict(inventory_hostname=h, **r) for h, r in data.items()]
    assert fleet_summary(as_list)['totals'] == expected['totals']
    wrapped = [dict(host=h, info=r) for h, r in data.items()]
    assert fleet_summary(wrapped, key='info')['users'] == expected['users']
    hostvars = dict((h, {'ckinfo': r, 'ansible_host': '127.0.0.1'}) for h, r in data.items())
    hostvars['ghost'] = {'ansible_host': '10.0.0.9'}  # never registered (e.g. removed by a failure)
    s = fleet_summary(['pool-a', 'pool-b', 'ghost', 'not-in-inventory'], hostvars, 'ckinfo')
    assert s['totals']['hashrate'] == expected['totals']['hashrate']
    assert s['counts']['unreachable'] == 2
    with pytest.raises(AnsibleFilterError, match='no hostvars'):
        fleet_summary(['pool-a'])
    with pytest.raises(AnsibleFilterError, match='registered variable'):
        fleet_summary(['pool-a'], hostvars)
    with pytest.raises(AnsibleFilterError, match='expects a list'):
        fleet_summary('pool-a')
    with pytest.raises(AnsibleFilterError, match='item 0'):
        fleet_summary([42])


def test_top_users_window_and_workers_option():
    data = two_pools()
    s = fleet_summary(data, top_users=1, window='1m', workers=False)
    assert s['users_total'] == 2 and s['users_truncated'] is True and len(s['users']) == 1
    assert s['users'][0]['name'] == 'alice' and 'worker' not in s['users'][0]
    assert s['window'] == '1m'
    assert s['hosts'][1]['bar_percent'] == 100  # pool-b is fastest at 1m as well
    with pytest.raises(AnsibleFilterError, match='window'):
        fleet_summary(data, window='15m')  # user files have no 15m average
    with pytest.raises(AnsibleFilterError, match='top_users'):
        fleet_summary(data, top_users=-1)
    with pytest.raises(AnsibleFilterError, match='stale_after'):
        fleet_summary(data, stale_after='soon')


def test_empty_fleet():
    s = fleet_summary([])
    assert s['totals']['hosts'] == 0 and s['users'] == [] and s['hosts'] == []
    assert s['counts']['healthy'] == 0


def test_does_not_modify_input():
    data = two_pools()
    before = json.dumps(data, sort_keys=True)
    fleet_summary(data)
    assert json.dumps(data, sort_keys=True) == before


def test_many_users_merge_scales():
    # 2 pools x 5000 users, half shared: the merge is one pass, one row per distinct name.
    users_a = [user('u%05d' % i, {"5m": "1K"}, [('u%05d.w' % i, {"5m": "1K"}, 1, 1.0)]) for i in range(5000)]
    users_b = [user('u%05d' % i, {"5m": "2K"}, [('u%05d.w' % i, {"5m": "2K"}, 1, 1.0)]) for i in range(2500, 7500)]
    s = fleet_summary({'a': result(pool(), users=users_a), 'b': result(pool(), users=users_b)}, top_users=10)
    assert s['users_total'] == 7500
    assert s['users'][0]['hashrate']['5m'] == pytest.approx(3000) and s['users'][0]['name'] == 'u02500'
    assert s['users'][0]['workers'] == 1


def test_registered_as_filter_and_usable_from_a_template():
    assert FilterModule().filters()['fleet_summary'] is fleet_summary
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template
    templar = Templar(loader=DataLoader(), variables={'fleet_results': two_pools()})
    out = templar.template(trust_as_template(
        "{{ (fleet_results | ckpool.fleet.fleet_summary).totals.hashrate_human['5m'] }}"))
    assert out == '10M'
