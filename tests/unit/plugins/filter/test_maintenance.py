# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the redirect_target_problem filter (the maintenance role's preflight; the role's refusals run
for real in the maintenance_playbook integration target)."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.ckpool.fleet.plugins.filter.maintenance import FilterModule, redirect_target_problem

FACTS = {'all_ipv4_addresses': ['10.0.0.5', '172.17.0.1'], 'all_ipv6_addresses': ['fe80::1%eth0', '2001:db8::5'],
         'hostname': 'pool1', 'fqdn': 'pool1.example.com', 'nodename': 'pool1'}


def problem(host, port, resolved, **kwargs):
    kwargs.setdefault('ports', [3333, 4444])
    return redirect_target_problem({'host': host, 'port': port}, resolved, FACTS, 'pool1', **kwargs)


def test_another_host_is_fine():
    assert problem('backup.example.com', 3333, ['10.0.0.9']) == ''
    assert problem('10.0.0.9', 3333, ['10.0.0.9']) == ''
    assert problem('backup6', 3333, ['2001:db8::9']) == ''


def test_a_name_that_does_not_resolve():
    assert problem('no-such-host.invalid', 3333, []) == 'no-such-host.invalid does not resolve on pool1'
    assert problem('x', 3333, None) == 'x does not resolve on pool1'
    assert problem('x', 3333, ['not an address']) == 'x does not resolve on pool1'


@pytest.mark.parametrize('host, resolved', [
    ('127.0.0.1', ['127.0.0.1']),            # loopback
    ('localhost', ['127.0.0.1', '::1']),
    ('127.0.1.1', ['127.0.1.1']),            # Debian's own-hostname address
    ('10.0.0.5', ['10.0.0.5']),              # one of the host's addresses
    ('pool1.example.com', ['203.0.113.7']),  # its name, whatever it resolves to (a NAT address)
    ('vip', ['2001:db8::5']),
    ('0.0.0.0', ['0.0.0.0']),
    ('link', ['fe80::1']),                   # the facts' zone suffix is ignored
])
def test_this_very_pool_is_refused_even_when_same_host_is_allowed(host, resolved):
    for allow in (False, True):
        assert problem(host, 4444, resolved, allow_same_host=allow) == (
            'it is this very pool (pool1 port 4444): its miners would come back to the host being stopped')


def test_another_instance_of_this_host_needs_allow_same_host():
    reason = problem('127.0.0.1', 3334, ['127.0.0.1'])
    assert reason.startswith('it is on pool1 itself (127.0.0.1), which the maintenance may take down')
    assert 'maintenance_allow_same_host=true' in reason
    assert problem('localhost', 3334, ['127.0.0.1', '::1']).startswith('it is on pool1 itself (127.0.0.1, ::1)')
    assert problem('pool1.example.com', 3334, ['203.0.113.7']).startswith('it is on pool1 itself (pool1.example.com)')
    assert problem('127.0.0.1', 3334, ['127.0.0.1'], allow_same_host=True) == ''


def test_the_connection_address_and_inventory_name_are_names_of_this_host():
    assert problem('pool1', 3334, ['198.51.100.1']).startswith('it is on pool1 itself')
    assert problem('ssh-name', 3334, ['198.51.100.1'], host_address='SSH-NAME').startswith('it is on pool1 itself')
    assert problem('ssh-name', 3334, ['198.51.100.1']) == ''


def test_bad_input_is_a_clear_error():
    with pytest.raises(AnsibleFilterError, match='expects the target'):
        redirect_target_problem('127.0.0.1:3333', [], FACTS, 'pool1')
    with pytest.raises(AnsibleFilterError, match='expects the target'):
        redirect_target_problem({'host': 'x'}, [], FACTS, 'pool1')
    with pytest.raises(AnsibleFilterError, match='list of addresses'):
        redirect_target_problem({'host': 'x', 'port': 1}, '10.0.0.9', FACTS, 'pool1')
    with pytest.raises(AnsibleFilterError, match='ansible_facts'):
        redirect_target_problem({'host': 'x', 'port': 1}, [], 'facts', 'pool1')
    with pytest.raises(AnsibleFilterError, match='port numbers'):
        redirect_target_problem({'host': 'x', 'port': 1}, [], FACTS, 'pool1', ports=['http'])


def test_registered():
    assert FilterModule().filters()['redirect_target_problem'] is redirect_target_problem
