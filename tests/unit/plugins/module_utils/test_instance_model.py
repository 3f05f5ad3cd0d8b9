# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The instance model: install variables and explicit lists to instance dicts (the filter: tests/unit/plugins/filter)."""

import pytest

from ansible_collections.ckpool.fleet.plugins.module_utils import instance_model as im


def test_from_install_lays_instances_out_like_the_role():
    got = im.from_install(
        [{'name': 'main', 'config': {'serverurl': ['0.0.0.0:3333', '10.0.0.5:4444']}},
         {'name': 'solo', 'mode': 'solo', 'config': {'serverurl': '192.0.2.7:3334'}, 'state': 'stopped',
          'enabled': False},
         {'name': 'v6', 'config': {'serverurl': ['[::]:3335']}},
         {'name': 'v6b', 'config': {'serverurl': ['[2001:db8::1]:3336']}}],
        config_defaults={'mindiff': 1}, run_root='pools', log_root='/srv/log/', conf_dir='/etc/ck', home='/home/ck')
    main, solo, v6, v6b = got
    assert main == {
        'name': 'main', 'mode': 'pool', 'tier': 'pool', 'socket_dir': '/run/pools/main', 'log_dir': '/srv/log/main',
        'config_path': '/etc/ck/main.conf', 'work_dir': '/home/ck/main', 'unit': 'ckpool-main.service',
        'state': 'started', 'enabled': True, 'stratum_host': '127.0.0.1', 'stratum_port': 3333,
        'stratum_urls': [{'host': '127.0.0.1', 'port': 3333}, {'host': '10.0.0.5', 'port': 4444}]}
    assert (solo['mode'], solo['state'], solo['enabled'], solo['stratum_host'], solo['stratum_port']) == (
        'solo', 'stopped', False, '192.0.2.7', 3334)
    assert (v6['stratum_host'], v6['stratum_port']) == ('127.0.0.1', 3335)
    assert (v6b['stratum_host'], v6b['stratum_port']) == ('2001:db8::1', 3336)


def test_from_install_defaults():
    (inst,) = im.from_install([{'name': 'main'}])
    assert inst['socket_dir'] == '/run/ckpool/main'
    assert inst['log_dir'] == '/var/log/ckpool/main'
    assert inst['config_path'] == '/etc/ckpool/main.conf'
    assert (inst['stratum_host'], inst['stratum_port']) == ('127.0.0.1', 3333)
    assert im.from_install(None) == [] and im.from_install([]) == []


def test_instance_config_wins_over_defaults():
    (inst,) = im.from_install([{'name': 'a', 'config': {'serverurl': ['127.0.0.1:5555']}}],
                              config_defaults={'serverurl': ['0.0.0.0:3333']})
    assert inst['stratum_port'] == 5555
    (inst,) = im.from_install([{'name': 'a'}], config_defaults={'serverurl': ['0.0.0.0:4444']})
    assert inst['stratum_port'] == 4444


def test_tier_from_the_mode_unless_set():
    (inst,) = im.from_install([{'name': 'edge', 'mode': 'passthrough', 'tier': 'pool'}])
    assert inst['tier'] == 'pool'
    assert im.from_install([{'name': 'main'}])[0]['tier'] == 'pool'
    assert im.from_install([{'name': 'p', 'mode': 'passthrough'}])[0]['tier'] == 'passthrough'
    assert im.from_install([{'name': 'n', 'mode': 'node'}])[0]['tier'] == 'node'
    assert im.from_explicit([{'name': 'x', 'socket_dir': '/x', 'mode': 'proxy'}])[0]['tier'] == 'proxy'
    assert im.from_explicit([{'name': 'x', 'socket_dir': '/x'}])[0]['tier'] is None
    with pytest.raises(im.InstanceError):
        im.from_install([{'name': 'a', 'tier': 'edge'}])


@pytest.mark.parametrize('instances, message', [
    ([{'name': 'Bad Name!'}], 'name'),
    ([{'name': 'a' * 33}], 'name'),
    ([{}], 'name'),
    (['main'], 'must be a mapping'),
    ([{'name': 'a', 'mode': 'turbo'}], 'mode must be one of'),
    ([{'name': 'a', 'state': 'running'}], 'state must be'),
    ([{'name': 'a', 'config': []}], 'config must be a mapping'),
    ([{'name': 'a', 'config': {'serverurl': '0.0.0.0'}}], 'HOST:PORT'),
    ([{'name': 'a', 'config': {'serverurl': '0.0.0.0:0'}}], 'PORT'),
    ([{'name': 'a', 'config': {'serverurl': '0.0.0.0:99999'}}], 'PORT'),
    ([{'name': 'a', 'config': {'serverurl': []}}], 'non-empty list'),
    ([{'name': 'a'}, {'name': 'a', 'config': {'serverurl': '0.0.0.0:1'}}], 'defined twice'),
    ([{'name': 'a'}, {'name': 'b'}], 'share the stratum port'),
    ([{'name': 'a', 'enabled': 'maybe'}], 'enabled must be a boolean'),
])
def test_from_install_refuses(instances, message):
    with pytest.raises(im.InstanceError) as exc:
        im.from_install(instances)
    assert message in str(exc.value)


@pytest.mark.parametrize('kwargs, message', [
    (dict(run_root='/run/x'), 'install_run_root'),
    (dict(run_root='a b'), 'install_run_root'),
    (dict(log_root='relative'), 'install_log_root'),
    (dict(config_defaults=[]), 'install_config_defaults'),
])
def test_from_install_refuses_settings(kwargs, message):
    with pytest.raises(im.InstanceError) as exc:
        im.from_install([{'name': 'a'}], **kwargs)
    assert message in str(exc.value)


def test_from_explicit_fills_defaults():
    got = im.from_explicit([
        {'name': 'main', 'socket_dir': '/run/ckpool/main/', 'log_dir': '/var/log/ckpool/main', 'stratum_port': '3333'},
        {'name': 'other', 'socket_dir': '/tmp/ckpool', 'config': '/etc/ckpool/other.conf', 'mode': 'solo',
         'stratum_host': '[::1]', 'stratum_port': 4000},
        {'name': 'bare', 'socket_dir': '/tmp/bare'},
    ])
    main, other, bare = got
    assert main == {'name': 'main', 'mode': None, 'tier': None, 'socket_dir': '/run/ckpool/main',
                    'log_dir': '/var/log/ckpool/main',
                    'config_path': None, 'work_dir': None, 'unit': 'ckpool-main.service', 'state': 'started',
                    'enabled': True, 'stratum_host': '127.0.0.1', 'stratum_port': 3333,
                    'stratum_urls': [{'host': '127.0.0.1', 'port': 3333}]}
    assert (other['mode'], other['config_path'], other['log_dir'], other['stratum_host']) == (
        'solo', '/etc/ckpool/other.conf', None, '::1')
    assert (bare['stratum_port'], bare['stratum_urls'], bare['mode']) == (None, [], None)


@pytest.mark.parametrize('instances, message', [
    ([{'socket_dir': '/tmp/a'}], 'has no name'),
    ([{'name': 'a'}], 'has no socket_dir'),
    ([{'name': 'a', 'socket_dir': 'relative'}], 'absolute path'),
    ([{'name': 'a', 'socket_dir': '/a', 'log_dir': 'logs'}], 'absolute path'),
    ([{'name': 'a', 'socket_dir': '/a', 'stratum_port': 'x'}], 'stratum_port'),
    ([{'name': 'a', 'socket_dir': '/a', 'stratum_port': True}], 'stratum_port'),
    ([{'name': 'a', 'socket_dir': '/a', 'stratum_port': 0}], 'stratum_port'),
    ([{'name': 'a', 'socket_dir': '/a', 'mode': 'x'}], 'mode must be one of'),
    ([{'name': 'a', 'socket_dir': '/a', 'sockdir': '/b'}], "unknown key(s) sockdir"),
    ([{'name': 'a', 'socket_dir': '/a'}, {'name': 'a', 'socket_dir': '/b'}], 'defined twice'),
    ('main', 'must be a list'),
])
def test_from_explicit_refuses(instances, message):
    with pytest.raises(im.InstanceError) as exc:
        im.from_explicit(instances)
    assert message in str(exc.value)


def test_the_models_output_is_a_valid_explicit_list():
    derived = im.from_install([{'name': 'main', 'config': {'serverurl': ['0.0.0.0:3333', '10.0.0.5:4444']}},
                               {'name': 'solo', 'mode': 'solo', 'tier': 'pool', 'config': {'serverurl': ':3334'}}])
    assert im.from_explicit(derived) == derived
    assert im.from_explicit(im.from_explicit(derived)) == derived


def test_resolve_prefers_a_non_empty_explicit_list():
    explicit = [{'name': 'x', 'socket_dir': '/tmp/x'}]
    assert [i['name'] for i in im.resolve(explicit, [{'name': 'main'}])] == ['x']
    assert [i['name'] for i in im.resolve([], [{'name': 'main'}])] == ['main']
    assert im.resolve(None, None) == []


def test_command_line_of_install_instances():
    main, solo, loud = im.from_install(
        [{'name': 'main', 'config': {'serverurl': ['0.0.0.0:333', '0.0.0.0:4444']}},
         {'name': 'solo', 'mode': 'solo', 'loglevel': 6, 'args': ['--sim-users', 2], 'config': {'serverurl': ':3334'}},
         {'name': 'loud', 'mode': 'userproxy', 'quiet': False, 'config': {'serverurl': ':3335'}}],
        bin_dir='/usr/local/bin', quiet=True)
    assert main['command'] == ['/usr/local/bin/ckpool', '-n', 'main', '-c', '/etc/ckpool/main.conf', '-s',
                               '/run/ckpool/main', '-q']
    assert main['privileged_port'] is True
    assert solo['command'] == ['/usr/local/bin/ckpool', '-n', 'solo', '-c', '/etc/ckpool/solo.conf', '-s',
                               '/run/ckpool/solo', '-B', '-l', '6', '--sim-users', '2', '-q']
    assert solo['privileged_port'] is False
    assert loud['command'][-1] == '-u'
    # without bin_dir (every role but install) there is no command line
    assert 'command' not in im.from_install([{'name': 'main'}])[0]


@pytest.mark.parametrize('item, message', [
    ({'name': 'a', 'loglevel': 9}, 'loglevel must be 0-7'),
    ({'name': 'a', 'loglevel': True}, 'loglevel must be 0-7'),
    ({'name': 'a', 'args': '-x'}, 'args must be a list'),
    ({'name': 'a', 'args': [{'x': 1}]}, 'args must be a list'),
    ({'name': 'a', 'quiet': 'sometimes'}, 'quiet must be a boolean'),
])
def test_command_line_refuses(item, message):
    with pytest.raises(im.InstanceError) as exc:
        im.from_install([item], bin_dir='/usr/local/bin')
    assert message in str(exc.value)
