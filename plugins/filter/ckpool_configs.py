# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``ckpool.fleet.ckpool_configs`` filter: instance list -> validated ckpool.conf per instance.

Documentation: ``ckpool_configs.yml`` beside this file.
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.ckpool.fleet.plugins.module_utils import ckpool_config
from ansible_collections.ckpool.fleet.plugins.module_utils import modes as ckpool_modes

# Modes a downstream instance may use as its upstream (ckpool refuses passthroughs and nodes on proxy types).
_UPSTREAM_MODES = {
    'passthrough': ('pool', 'solo'),
    'node': ('pool', 'solo'),
    'redirector': ckpool_modes.MODES,
    'proxy': ckpool_modes.MODES,
    'userproxy': ckpool_modes.MODES,
}


def _plain(value):
    """Ansible's lazy/tagged containers as plain dicts and lists (for type checks and JSON)."""
    if isinstance(value, Mapping):
        return dict((str(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def ckpool_configs(instances, defaults=None, flavour='upstream', log_root='/var/log/ckpool', allow_unknown=None):
    """Validate every instance's ckpool.conf; return {name: {"config", "mode", "highdiff_ports", "upstream"}}."""
    instances = _plain(instances)
    defaults = _plain(defaults or {})
    allow_unknown = tuple(_plain(allow_unknown or []))
    if flavour not in ckpool_config.FLAVOURS:
        raise AnsibleFilterError('ckpool_configs: flavour must be one of %s, got %r'
                                 % (', '.join(ckpool_config.FLAVOURS), flavour))
    if not isinstance(instances, list):
        raise AnsibleFilterError('ckpool_configs: instances must be a list of {name, mode, config, ...}')
    if not isinstance(defaults, dict):
        raise AnsibleFilterError('ckpool_configs: defaults must be a mapping')
    by_name = {}
    for inst in instances:
        if isinstance(inst, dict) and isinstance(inst.get('name'), str):
            by_name[inst['name']] = inst
    problems = []
    result = {}
    for index, inst in enumerate(instances):
        if not isinstance(inst, dict) or not isinstance(inst.get('name'), str):
            problems.append('instance %d: must be a mapping with a name' % index)
            continue
        name = inst['name']
        mode = inst.get('mode', 'pool')
        if mode not in ckpool_modes.MODES:
            problems.append('%s: mode must be one of %s, got %r' % (name, ', '.join(ckpool_modes.MODES), mode))
            continue
        own = inst.get('config', {})
        if not isinstance(own, dict):
            problems.append('%s: config must be a mapping' % name)
            continue
        config = dict(defaults)
        config.update(own)
        config['logdir'] = '%s/%s' % (log_root.rstrip('/'), name)
        upstream = inst.get('upstream')
        if upstream is not None:
            up = by_name.get(upstream)
            if up is None:
                problems.append('%s: upstream %r is not an instance of this host' % (name, upstream))
                continue
            if mode not in _UPSTREAM_MODES:
                problems.append('%s: a %s instance has no upstream pool' % (name, mode))
                continue
            up_mode = up.get('mode', 'pool')
            if up_mode not in _UPSTREAM_MODES[mode]:
                problems.append('%s: ckpool refuses a %s whose upstream is a %s instance (%s)'
                                % (name, mode, up_mode, upstream))
                continue
            if 'proxy' in own:
                problems.append('%s: set either upstream or config.proxy, not both' % name)
                continue
            up_conf = dict(defaults)
            up_conf.update(up.get('config') or {})
            if mode == 'node':
                ports = [int(u.rsplit(':', 1)[1]) for u in (up_conf.get('nodeserver') or [])
                         if isinstance(u, str) and u.rsplit(':', 1)[-1].isdigit()]
                if not ports:
                    problems.append('%s: a node needs its upstream %s to list a nodeserver port' % (name, upstream))
                    continue
            else:
                ports = ckpool_config.stratum_ports(up_conf)
                if not ports:
                    problems.append('%s: upstream %s has no serverurl port' % (name, upstream))
                    continue
            config['proxy'] = [{'url': '%s:%d' % (inst.get('upstream_host', '127.0.0.1'), ports[0]),
                                'auth': inst.get('upstream_auth', name), 'pass': inst.get('upstream_pass', 'x')}]
        found = ckpool_config.check_config(config, mode, flavour, allow_unknown)
        problems.extend('%s: %s' % (name, p) for p in found)
        result[name] = {'config': ckpool_config.normalise_config(config, flavour), 'mode': mode,
                        'tier': ckpool_modes.tier(mode), 'upstream': upstream,
                        'highdiff_ports': ckpool_config.highdiff_ports(config)}
    if problems:
        raise AnsibleFilterError('invalid ckpool configuration:\n- ' + '\n- '.join(problems))
    return result


class FilterModule(object):
    """ckpool.conf validation."""

    def filters(self):
        return {'ckpool_configs': ckpool_configs}
