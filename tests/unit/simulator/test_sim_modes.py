# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every mode the simulator has (docs/modes.md): what each has and lacks, and the tiers talking to each
other over real TCP (a passthrough's miners authorised, counted and dropped on the pool upstream)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from ansible_collections.ckpool.fleet.tests.simulator.fixture import SIM_SCRIPT, StratumClient, StratumEOF

REGTEST_ADDR = 'bcrt1qlk935ze2fsu86zjp395uvtegztrkaezawxx0wf'


def upstream_of(pool, auth='proxyuser', port=None):
    return {'proxy': [{'url': '127.0.0.1:%d' % (port or pool.stratum_port), 'auth': auth, 'pass': 'x'}]}


def wait(predicate, timeout=10.0, what='condition'):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError('%s not met within %.1f s' % (what, timeout))


def status_lines(sim):
    try:
        with open(os.path.join(sim.logdir, 'pool', 'pool.status')) as handle:
            return [json.loads(line) for line in handle.read().splitlines()]
    except (OSError, ValueError):
        return None


# ---- solo -------------------------------------------------------------------------------------

def test_solo_userwbs_and_address_users(make_sim):
    sim = make_sim(extra_args=['-B'], status_interval=0.5)
    stats = sim.json('listener', 'stratifierstats')
    keys = list(stats)
    assert keys[:4] == ['workbases', 'remote_workbases', 'userwbs', 'users']     # stratifier_stats() order
    assert list(stats['userwbs']) == ['count', 'memory', 'generated']
    bad = sim.miner()
    assert not bad.authorize('alice.rig1')                 # not an address: refused in solo mode
    sim.wait_for_log(r'Client \d+ 127\.0\.0\.1 worker alice\.rig1 failed to authorise as user alice$')
    good = StratumClient('127.0.0.1', sim.stratum_port)
    good.subscribe()
    assert good.job is None                                # solo: work comes after the authorisation
    assert good.authorize(REGTEST_ADDR + '.rig1')
    assert good.submit()['result'] is True                 # the notify arrived after the authorisation
    sim.wait_for_log(r'Added new user %s as address based registration$' % REGTEST_ADDR)
    sim.wait_for_log(r'Authorised client \d+ 127\.0\.0\.1 worker %s\.rig1 as user %s$' % (REGTEST_ADDR, REGTEST_ADDR))
    after = sim.json('listener', 'stratifierstats')['userwbs']
    assert after['count'] >= 1 and after['generated'] >= 1
    wait(lambda: os.path.exists(os.path.join(sim.logdir, 'users', REGTEST_ADDR)), what='users/ADDRESS')


# ---- proxy ------------------------------------------------------------------------------------

def test_proxy_needs_proxy_entries(tmp_path):
    conf = tmp_path / 'p.conf'
    conf.write_text('{"serverurl": ["127.0.0.1:0"], "logdir": "%s"}' % (tmp_path / 'logs'))
    proc = subprocess.run([sys.executable, SIM_SCRIPT, '-p', '-c', str(conf), '-s', str(tmp_path / 'run'), '-q'],
                          capture_output=True, text=True, timeout=20, check=False)
    assert proc.returncode == 0                          # ckpool's quit(0, ...)
    assert proc.stderr.strip().splitlines()[-1] == 'No proxy entries found in config file %s' % conf


def test_proxy_against_a_real_upstream(make_sim):
    pool = make_sim(name='main', status_interval=0.5)
    proxy = make_sim(name=None, extra_args=['-p'], status_interval=0.5, config=upstream_of(pool))
    assert proxy.logfile.endswith('/ckproxy.log')
    # the proxy authorises on the pool upstream with its proxy entry's auth
    pool.wait_for_log(r'Authorised client \d+ 127\.0\.0\.1 worker proxyuser as user proxyuser$')
    proxy.wait_for_log(r'Successfully connected to pool 0 127\.0\.0\.1:\d+ as proxy$')
    assert proxy.request('generator', 'ping').reply == 'pong'
    assert list(proxy.json('generator', 'stats'))[:3] == ['proxies', 'dead_proxies', 'subproxies']
    assert proxy.request('generator', 'getbase').outcome == 'eof'       # unrecognised in proxy_loop
    miner = proxy.miner('carol.rig1')
    proxy.wait_for_log(r'Authorised client \d+ to proxy 0:0, worker carol\.rig1 as user carol$')
    assert miner.submit()['result'] is True
    # observed on 60768aeb: forwarding fails, the miner is dropped, one more upstream connection opens
    proxy.wait_for_log(r'Proxy 0:127\.0\.0\.1:\d+ failed to find matching jobid in proxysend$')
    assert miner.wait_eof(3)
    assert {'id': None, 'method': 'client.reconnect', 'params': []} in miner.reconnects()
    wait(lambda: len(re.findall(r'worker proxyuser as user proxyuser', '\n'.join(pool.log_lines()))) >= 2,
         what='a second upstream connection')
    proxy.wait_for_log(r'^\[[^]]+\] Proxy:\{"current": 0, "active": 1, "total": 1\}$')
    assert wait(lambda: status_lines(proxy), what='proxy pool.status')


def test_proxy_generator_silent_until_upstream(make_sim):
    proxy = make_sim(extra_args=['-p'], config={'proxy': [{'url': '127.0.0.1:9', 'auth': 'u', 'pass': 'x'}]})
    assert proxy.request('listener', 'ping').reply == 'pong'
    assert proxy.request('stratifier', 'ping').reply == 'pong'
    assert proxy.request('generator', 'ping', timeout=1.0).outcome == 'timeout'   # held, no upstream
    assert 'generator ready' not in '\n'.join(proxy.log_lines())


# ---- passthrough ------------------------------------------------------------------------------

def test_passthrough_tier(make_sim):
    pool = make_sim(name='main', status_interval=0.5)
    pt = make_sim(name='edge', extra_args=['-P'], status_interval=0.5, config=upstream_of(pool))
    pool.wait_for_log(r'Adding passthrough client 1 127\.0\.0\.1$')
    pt.wait_for_log(r'Successfully connected to pool 0 127\.0\.0\.1:\d+ as proxy in passthrough mode$')
    assert pt.request('generator', 'ping').reply == 'pong'
    miner = pt.miner('dave.rig1')
    assert miner.submit()['result'] is True
    line = pool.wait_for_log(r'Authorised client passthrough:1 subclient:(\d+) 127\.0\.0\.1 worker dave\.rig1 as user '
                             r'dave$')
    sub = int(re.search(r'subclient:(\d+)', line).group(1))
    # the passthrough authorises nobody and writes no status files; it logs its connector stats
    assert 'Authorised client' not in '\n'.join(pt.log_lines())
    pt.wait_for_log(r'Passthrough:\{"runtime": \d+, "clients": \{"count": 1, ')
    assert status_lines(pt) is None and os.listdir(os.path.join(pt.logdir, 'users')) == []
    assert pt.json('connector', 'stats')['clients']['count'] == 1
    # the pool upstream counts the miner
    wait(lambda: (status_lines(pool) or [{}])[0].get('Workers') == 1, what='upstream Workers == 1')
    wait(lambda: os.path.exists(os.path.join(pool.logdir, 'users', 'dave')), what='upstream users/dave')
    assert pool.json('connector', 'stats')['clients']['count'] == 1           # one TCP connection: the passthrough
    # dropclient=(P << 32 | S) on the pool's connector reaches the miner through the passthrough
    assert pool.request('connector', 'dropclient=%d' % ((1 << 32) | sub)).outcome == 'eof'
    assert miner.wait_eof(3)
    pool.wait_for_log(r'Dropped client passthrough:1 subclient:%d 127\.0\.0\.1 user dave worker dave\.rig1 $' % sub)
    wait(lambda: pt.json('connector', 'stats')['clients']['count'] == 0, what='miner gone from the passthrough')


def test_pool_with_a_passthrough_restarts(make_sim):
    """A miner behind a passthrough has no fd of its own on the pool: a restart must still hand over
    (the simulator once passed its -1 to the fork, which refused it, and the restart never happened)."""
    pool = make_sim(name='main', status_interval=0.5)
    pt = make_sim(name='edge', extra_args=['-P'], status_interval=0.5, config=upstream_of(pool))
    pool.wait_for_log(r'Adding passthrough client 1 127\.0\.0\.1$')
    miner = pt.miner('dave.rig1')
    assert miner.submit()['result'] is True
    pool.wait_for_log(r'Authorised client passthrough:1 subclient:\d+ 127\.0\.0\.1 worker dave\.rig1 as user dave$')
    old = pool.pid
    assert pool.request('listener', 'restart').reply == 'restarting'
    new = pool.wait_pid_change(old, 10)
    pool.wait_ready(new, 10)
    assert 'Failed to restart' not in '\n'.join(pool.log_lines())


def test_passthrough_refused_by_a_proxy(make_sim):
    pool = make_sim(name='main')
    proxy = make_sim(name='mid', extra_args=['-p'], config=upstream_of(pool))
    proxy.wait_for_log('generator ready')
    pt = make_sim(name='edge', extra_args=['-P'], config=upstream_of(proxy))
    proxy.wait_for_log(r'Dropping client \d+ 127\.0\.0\.1 trying to connect as passthrough on unsupported server 0$')
    pt.wait_for_log(r'Failed to receive line in passthrough_stratum$')   # dropped without a reply


# ---- redirector -------------------------------------------------------------------------------

def test_redirector_sends_accepted_miners_on(make_sim):
    pool = make_sim(name='main')
    conf = upstream_of(pool)
    conf['redirecturl'] = ['pool.example.com:3334']
    red = make_sim(name=None, extra_args=['-R'], config=conf, status_interval=0.5)
    assert red.logfile.endswith('/ckredirector.log')
    red.wait_for_log('generator ready')
    miner = red.miner('erin.rig1')
    assert miner.submit()['result'] is True
    msg = miner.wait_for(lambda m: isinstance(m, dict) and m.get('method') == 'client.reconnect', 5)
    assert msg == {'id': None, 'method': 'client.reconnect', 'params': ['pool.example.com', '3334', 0]}
    red.wait_for_log(r'Redirecting client 1 from new IP 127\.0\.0\.1 to redirecturl 0$')
    assert status_lines(red) is None


def test_redirector_needs_redirecturl(tmp_path):
    conf = tmp_path / 'r.conf'
    conf.write_text(json.dumps({'logdir': str(tmp_path / 'logs'), 'proxy': [{'url': '127.0.0.1:9', 'auth': 'a'}]}))
    proc = subprocess.run([sys.executable, SIM_SCRIPT, '-R', '-c', str(conf), '-s', str(tmp_path / 'run'), '-q'],
                          capture_output=True, text=True, timeout=20, check=False)
    assert proc.returncode == 0
    assert proc.stderr.strip().splitlines()[-1] == 'No redirect entries found in config file %s' % conf


# ---- node -------------------------------------------------------------------------------------

def test_node_needs_a_nodeserver_and_keeps_local_stats(make_sim):
    pool = make_sim(name='main', config={'nodeserver': ['127.0.0.1:0']}, status_interval=0.5)
    node_port = pool.state()['stratum_ports'][1]
    refused = make_sim(name='n0', extra_args=['-N'], config=upstream_of(pool))      # the plain serverurl
    pool.wait_for_log(r'trying to authorise as node on non node server 0$')
    refused.wait_for_log(r'Failed initial node setup to 127\.0\.0\.1:\d+ !$')
    node = make_sim(name=None, extra_args=['-N'], status_interval=0.5, config=upstream_of(pool, port=node_port))
    assert node.logfile.endswith('/cknode.log')
    pool.wait_for_log(r'Added client \d+ 127\.0\.0\.1 as mining node on server 1:127\.0\.0\.1:0$')
    miner = node.miner('frank.rig1')
    assert miner.submit()['result'] is True
    pool.wait_for_log(r'Authorised client node:\d+ subclient:\d+ 127\.0\.0\.1 worker frank\.rig1 as user frank$')
    wait(lambda: (status_lines(node) or [{}])[0].get('Workers') == 1, what='node pool.status Workers == 1')
    wait(lambda: os.path.exists(os.path.join(node.logdir, 'users', 'frank')), what='node users/frank')
    with pytest.raises((TimeoutError, StratumEOF)):
        miner.wait_for(lambda m: False, 0.2)
