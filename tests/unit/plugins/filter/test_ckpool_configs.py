# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ckpool.conf validation (module_utils/ckpool_config.py) and the ckpool_configs filter (install role)."""

import json

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.ckpool.fleet.plugins.filter.ckpool_configs import ckpool_configs
from ansible_collections.ckpool.fleet.plugins.module_utils import ckpool_config

BTCD = [{'url': '127.0.0.1:8332', 'auth': 'user', 'pass': 'pass', 'notify': True}]
POOL = {'btcd': BTCD, 'btcaddress': 'bc1qexample', 'serverurl': ['0.0.0.0:3333', '0.0.0.0:4334'],
        'nodeserver': ['0.0.0.0:3335'], 'donation': 0, 'mindiff': 1, 'startdiff': 42}


def topology():
    return [
        {'name': 'main', 'mode': 'pool', 'config': dict(POOL)},
        {'name': 'solo', 'mode': 'solo',
         'config': {'btcd': BTCD, 'btcaddress': 'bc1qsolo', 'serverurl': '0.0.0.0:3340'}},
        {'name': 'edge', 'mode': 'passthrough', 'upstream': 'main', 'config': {'serverurl': ['0.0.0.0:3336']}},
        {'name': 'leaf', 'mode': 'node', 'upstream': 'main', 'config': {'btcd': BTCD, 'serverurl': ['0.0.0.0:3337']}},
        {'name': 'red', 'mode': 'redirector', 'upstream': 'main',
         'config': {'serverurl': ['0.0.0.0:3338'], 'redirecturl': ['pool.example.com:3333']}},
        {'name': 'px', 'mode': 'proxy', 'upstream': 'main', 'upstream_auth': 'me', 'upstream_pass': 'pw',
         'config': {'serverurl': ['0.0.0.0:3339']}},
        {'name': 'up', 'mode': 'userproxy',
         'config': {'serverurl': ['0.0.0.0:3341'], 'proxy': [{'url': 'pool.example.com:3333', 'auth': 'a'}]}},
    ]


def test_topology_renders_every_mode():
    out = ckpool_configs(topology(), {'update_interval': 30}, log_root='/var/log/ckpool/')
    assert sorted(out) == ['edge', 'leaf', 'main', 'px', 'red', 'solo', 'up']
    main = out['main']['config']
    assert main['logdir'] == '/var/log/ckpool/main' and main['update_interval'] == 30
    assert isinstance(main['donation'], float) and json.dumps(main['donation']) == '0.0'   # never an int
    assert out['main']['highdiff_ports'] == [4334] and out['main']['tier'] == 'pool'
    assert out['edge']['config']['proxy'] == [{'url': '127.0.0.1:3333', 'auth': 'edge', 'pass': 'x'}]
    assert out['leaf']['config']['proxy'][0]['url'] == '127.0.0.1:3335'        # a node uses the nodeserver port
    assert out['px']['config']['proxy'] == [{'url': '127.0.0.1:3333', 'auth': 'me', 'pass': 'pw'}]
    assert [out[n]['tier'] for n in ('edge', 'leaf', 'red', 'px', 'up')] == \
        ['passthrough', 'node', 'redirector', 'proxy', 'proxy']
    assert isinstance(main['mindiff'], int)                                     # upstream: integers stay integers


@pytest.mark.parametrize('change, message', [
    ({'mode': 'pool', 'config': {'btcd': BTCD}}, "pool mode needs 'btcaddress'"),
    ({'mode': 'solo', 'config': {'btcaddress': 'x'}}, "solo mode needs 'btcd'"),
    ({'mode': 'proxy', 'config': {}}, "proxy mode needs 'proxy'"),
    ({'mode': 'redirector', 'config': {'proxy': [{'url': 'a.b:1', 'auth': 'u'}]}}, "redirector mode needs 'redirecturl'"),
    ({'mode': 'node', 'config': {'proxy': [{'url': 'a.b:1', 'auth': 'u'}]}}, "node mode needs 'btcd'"),
    ({'config': dict(POOL, startDiff=5)}, "unknown key 'startDiff'"),
    ({'config': dict(POOL, useragent=['NerdMiner'])}, 'a key of the ckpool-lhr fork'),
    ({'config': dict(POOL, mindiff=0.5)}, 'upstream ckpool reads it as an integer'),
    ({'config': dict(POOL, mindiff=True)}, 'mindiff must be a whole number'),
    ({'config': dict(POOL, donation=150)}, 'donation must be a percentage'),
    ({'config': dict(POOL, donation=float('nan'))}, 'donation must be a percentage'),
    ({'config': dict(POOL, nonce2length=9)}, 'nonce2length must be from 2 to 8'),
    ({'config': dict(POOL, serverurl=['0.0.0.0'])}, 'serverurl[0] must be "HOST:PORT"'),
    ({'config': dict(POOL, serverurl='0.0.0.0:70000')}, 'port must be from 1 to 65535'),
    ({'config': dict(POOL, btcd=[{'url': 'x:1', 'auth': 'u'}])}, 'btcd[0] needs auth and pass'),
    ({'config': dict(POOL, btcd=[{'url': 'x:1', 'cookie': '/c'}])}, "btcd[0] has an unknown key 'cookie'"),
    ({'config': dict(POOL, btcsig='x' * 39)}, 'btcsig must be a string of at most 38 bytes'),
    ({'config': dict(POOL, version_mask='zz')}, 'version_mask must be a hex string'),
    ({'config': dict(POOL, zmqblock='127.0.0.1:28332')}, 'zmqblock must be "tcp://HOST:PORT"'),
    ({'config': dict(POOL, proxy=[{'url': 'x:1'}])}, 'proxy[0].auth'),
    ({'mode': 'bogus'}, 'mode must be one of'),
    ({'config': 'x'}, 'config must be a mapping'),
])
def test_invalid_configs_are_refused(change, message):
    inst = {'name': 'bad', 'mode': 'pool', 'config': dict(POOL)}
    inst.update(change)
    with pytest.raises(AnsibleFilterError) as excinfo:
        ckpool_configs([inst])
    assert message in str(excinfo.value) and 'bad:' in str(excinfo.value)


@pytest.mark.parametrize('instances, message', [
    ([{'name': 'a', 'mode': 'passthrough', 'upstream': 'nowhere'}], "upstream 'nowhere' is not an instance"),
    ([{'name': 'p', 'mode': 'proxy', 'config': {'proxy': [{'url': 'a.b:1', 'auth': 'u'}]}},
      {'name': 'a', 'mode': 'passthrough', 'upstream': 'p'}], 'ckpool refuses a passthrough whose upstream is a proxy'),
    ([{'name': 'm', 'config': {'btcd': BTCD, 'btcaddress': 'x', 'serverurl': ['0.0.0.0:3333']}},
      {'name': 'n', 'mode': 'node', 'upstream': 'm', 'config': {'btcd': BTCD}}], 'to list a nodeserver port'),
    ([{'name': 'm', 'config': dict(POOL)}, {'name': 'a', 'mode': 'pool', 'upstream': 'm'}],
     'a pool instance has no upstream pool'),
    ([{'name': 'm', 'config': dict(POOL)},
      {'name': 'a', 'mode': 'passthrough', 'upstream': 'm', 'config': {'proxy': [{'url': 'a.b:1', 'auth': 'u'}]}}],
     'either upstream or config.proxy'),
])
def test_topology_errors(instances, message):
    with pytest.raises(AnsibleFilterError, match=message):
        ckpool_configs(instances)


def test_every_problem_is_reported_at_once():
    with pytest.raises(AnsibleFilterError) as excinfo:
        ckpool_configs([{'name': 'a', 'config': {'startDiff': 1}}, {'name': 'b', 'mode': 'proxy'}])
    text = str(excinfo.value)
    assert "a: unknown key 'startDiff'" in text and "a: pool mode needs 'btcaddress'" in text
    assert "b: proxy mode needs 'proxy'" in text


def test_lhr_flavour():
    conf = dict(POOL, mindiff=0.001, startdiff=0.005, highdiff=1, useragent=['NerdMiner', 'bitaxe'],
                max_pool_useragents=50, allow_low_diff=True, dropidle=3600, donaddress='bc1qdon',
                btcd=[{'url': '127.0.0.1:8332', 'cookie': '/var/lib/bitcoind/.cookie', 'notify': True}])
    out = ckpool_configs([{'name': 'nerd', 'config': conf}], flavour='lhr')['nerd']['config']
    assert out['mindiff'] == 0.001 and isinstance(out['highdiff'], float) and out['highdiff'] == 1.0
    assert out['btcd'][0]['cookie'] == '/var/lib/bitcoind/.cookie'
    with pytest.raises(AnsibleFilterError, match='cookie must be the absolute path'):
        ckpool_configs([{'name': 'n', 'config': dict(conf, btcd=[{'url': 'x:1', 'cookie': 'rel'}])}], flavour='lhr')
    with pytest.raises(AnsibleFilterError, match='the lhr fork reads a double'):
        ckpool_configs([{'name': 'n', 'config': dict(conf, startdiff=-1)}], flavour='lhr')
    with pytest.raises(AnsibleFilterError, match='useragent must be a list'):
        ckpool_configs([{'name': 'n', 'config': dict(conf, useragent='NerdMiner')}], flavour='lhr')


def test_allow_unknown_and_bad_arguments():
    out = ckpool_configs([{'name': 'a', 'config': dict(POOL, mykey=1)}], allow_unknown=['mykey'])
    assert out['a']['config']['mykey'] == 1
    with pytest.raises(AnsibleFilterError, match='flavour must be one of'):
        ckpool_configs([], flavour='knots')
    with pytest.raises(AnsibleFilterError, match='instances must be a list'):
        ckpool_configs({'a': 1})


def test_module_utils_directly():
    assert ckpool_config.check_config(dict(POOL)) == []
    assert ckpool_config.highdiff_ports({'serverurl': '0.0.0.0:4001'}) == [4001]
    assert ckpool_config.highdiff_ports({'serverurl': '0.0.0.0:4000'}) == []
    with pytest.raises(ValueError):
        ckpool_config.check_config({}, mode='nope')
