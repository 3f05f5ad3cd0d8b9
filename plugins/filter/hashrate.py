# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters ckpool.fleet.hashrate and ckpool.fleet.hashrate_human.

Documentation lives in the sidecar files hashrate.yml and hashrate_human.yml.
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ckpool.fleet.plugins.module_utils.hashrate import (
    format_hashrate,
    parse_hashrate,
)


def hashrate(value):
    """Convert a ckpool hashrate string such as ``"8.71M"`` to a float in H/s."""
    try:
        return parse_hashrate(value)
    except ValueError as exc:
        raise AnsibleFilterError('ckpool.fleet.hashrate: %s' % exc)


def hashrate_human(value):
    """Format a hashrate in H/s the way ckpool writes it (``8710000`` -> ``"8.71M"``)."""
    try:
        return format_hashrate(value)
    except ValueError as exc:
        raise AnsibleFilterError('ckpool.fleet.hashrate_human: %s' % exc)


class FilterModule(object):
    """ckpool hashrate filters."""

    def filters(self):
        """Return the filters of this plugin file."""
        return {
            'hashrate': hashrate,
            'hashrate_human': hashrate_human,
        }
