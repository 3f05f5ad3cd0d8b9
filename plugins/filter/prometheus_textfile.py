# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``ckpool.fleet.prometheus_textfile`` filter: a host's health check result -> Prometheus text.

The format itself (metric list, escaping, values) lives in ``module_utils/prometheus_text.py`` so that a
module can write the same file on the managed host. Documentation: ``prometheus_textfile.yml``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.ckpool.fleet.plugins.module_utils.prometheus_text import render


def prometheus_textfile(health, per_user=False, timestamp=None):
    """Render a host's ``ckpool_health`` fact as a node_exporter textfile; see prometheus_textfile.yml."""
    try:
        return render(health, per_user=per_user, timestamp=timestamp)
    except ValueError as exc:
        raise AnsibleFilterError('prometheus_textfile: %s' % exc)


class FilterModule(object):
    """ckpool.fleet Prometheus textfile filter."""

    def filters(self):
        return {'prometheus_textfile': prometheus_textfile}
