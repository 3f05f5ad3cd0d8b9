# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ``ckpool.fleet.redirect_target_problem`` of the maintenance role's preflight.

Decides whether the pool a host's miners are about to be redirected to is usable: it must resolve on the
host, must not be the very pool being stopped, and must not be on the host itself unless allowed.
Documentation: ``redirect_target_problem.yml`` beside this file.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# Addresses that always mean "this host", whatever the facts list.
_ALWAYS_OWN = ('0.0.0.0', '::')


def _address(text):
    try:
        return ipaddress.ip_address(str(text).split('%', 1)[0])
    except ValueError:
        return None


def _addresses(values, what):
    if values is None:
        return []
    if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, '__iter__'):
        raise AnsibleFilterError('redirect_target_problem: %s must be a list of addresses' % what)
    found = []
    for value in values:
        address = _address(value)
        if address is not None and address not in found:
            found.append(address)
    return found


def redirect_target_problem(target, resolved, facts, host, ports=None, allow_same_host=False, host_address=None):
    """Why the redirect target cannot be used (a sentence), or an empty string; see redirect_target_problem.yml."""
    if not isinstance(target, Mapping) or not target.get('host') or target.get('port') is None:
        raise AnsibleFilterError('redirect_target_problem expects the target as {host, port} '
                                 '(ckpool_control\'s result "target"), got %r' % (target,))
    if facts is not None and not isinstance(facts, Mapping):
        raise AnsibleFilterError('redirect_target_problem: facts must be the host\'s ansible_facts')
    facts = facts or {}
    name = str(target['host'])
    try:
        port = int(target['port'])
        own_ports = [int(p) for p in (ports or [])]
    except (TypeError, ValueError):
        raise AnsibleFilterError('redirect_target_problem: ports must be port numbers')
    target_ips = _addresses(resolved, 'resolved')
    if not target_ips:
        return '%s does not resolve on %s' % (name, host)
    own_ips = _addresses(list(facts.get('all_ipv4_addresses') or []) + list(facts.get('all_ipv6_addresses') or [])
                         + list(_ALWAYS_OWN), 'the facts\' addresses')
    own_names = set(str(n).lower() for n in (host, host_address, facts.get('hostname'), facts.get('fqdn'),
                                             facts.get('nodename'), 'localhost') if n)
    shared = [ip for ip in target_ips if ip in own_ips or ip.is_loopback]
    if name.lower() not in own_names and not shared:
        return ''
    if port in own_ports:
        return 'it is this very pool (%s port %d): its miners would come back to the host being stopped' % (host, port)
    if allow_same_host:
        return ''
    return ('it is on %s itself (%s), which the maintenance may take down; set maintenance_allow_same_host=true for '
            'another instance on this host' % (host, ', '.join(str(ip) for ip in shared) or name))


class FilterModule(object):
    """ckpool.fleet maintenance filters."""

    def filters(self):
        return {'redirect_target_problem': redirect_target_problem}
