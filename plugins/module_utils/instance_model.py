# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one instance model of ckpool.fleet: which ckpool instances a host runs and where.

An instance is a plain dict::

    {"name", "mode", "tier", "socket_dir", "log_dir", "config_path", "unit", "state", "enabled",
     "work_dir", "stratum_host", "stratum_port", "stratum_urls": [{"host", "port"}]}

``tier`` is the inventory's, else the mode's (modes.py); None when the mode is unknown (an
explicit instance without ``mode``: the modules discover it from the running process).

It comes either from an explicit list (``healthcheck_instances``, ``fleet_report_instances``,
...: ``name`` and ``socket_dir`` required, the rest filled with defaults) or from the
variables of the ``ckpool.fleet.install`` role (``install_instances`` with
``install_config_defaults``, ``install_run_root``, ``install_log_root``,
``install_conf_dir``, ``install_home``), computed exactly the way that role lays the
instances out:

* socket directory ``/run/RUN_ROOT/NAME`` (ckpool's ``-s``, a systemd RuntimeDirectory),
* log directory ``LOG_ROOT/NAME`` (the ``logdir`` the role writes into ckpool.conf),
* configuration ``CONF_DIR/NAME.conf``, unit ``ckpool-NAME.service``,
* the stratum endpoint from the first ``serverurl`` (``0.0.0.0``, ``::`` or an empty
  host mean every address: probed on ``127.0.0.1``).

Used by the filter ``ckpool.fleet.instances`` (controller) and by modules (target):
standard library only, Python 3.6+.
"""

import posixpath
import re

from ansible_collections.ckpool.fleet.plugins.module_utils.modes import MODES, TIERS, mode_facts, tier as mode_tier

# Defaults of the ckpool.fleet.install role (its defaults/main.yml must match; a unit test checks it).
DEFAULT_RUN_ROOT = 'ckpool'
DEFAULT_LOG_ROOT = '/var/log/ckpool'
DEFAULT_CONF_DIR = '/etc/ckpool'
DEFAULT_HOME = '/var/lib/ckpool'
DEFAULT_SERVERURL = '0.0.0.0:3333'
UNIT_PREFIX = 'ckpool-'
DEFAULT_STRATUM_HOST = '127.0.0.1'

STATES = ('started', 'stopped')
NAME_RE = re.compile(r'^[a-z0-9][a-z0-9_-]{0,31}$')
RUN_ROOT_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')
WILDCARD_HOSTS = ('', '0.0.0.0', '::', '[::]', '*')

# Keys an explicit instance may carry.
# (every key of the model itself too: the model's output is a valid explicit list)
EXPLICIT_KEYS = frozenset(('name', 'socket_dir', 'log_dir', 'config', 'config_path', 'mode', 'stratum_host',
                           'stratum_port', 'stratum_urls', 'unit', 'state', 'enabled', 'tier', 'work_dir',
                           'command', 'privileged_port'))


class InstanceError(ValueError):
    """An instance definition that cannot be used; the message names the instance and the field."""


def parse_serverurl(url):
    """Split a ckpool ``serverurl`` entry into (host, port).

    ``HOST:PORT``, ``[V6]:PORT`` and ``:PORT``; the host is returned without brackets.
    A wildcard host (every address) is returned as given; see :func:`probe_host`.
    """
    if not isinstance(url, str) or ':' not in url:
        raise InstanceError('serverurl %r must be HOST:PORT' % (url,))
    host, _sep, port = url.strip().rpartition(':')
    if host.startswith('[') and host.endswith(']'):
        host = host[1:-1] if host != '[::]' else '::'
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InstanceError('serverurl %r must end in :PORT (1-65535)' % (url,))
    return host, int(port)


def probe_host(host):
    """Where to reach a server bound to ``host`` from the same machine."""
    return DEFAULT_STRATUM_HOST if host in WILDCARD_HOSTS else host


def stratum_urls(serverurl):
    """ckpool's ``serverurl`` (a string or a list) as [{host, port}] with probe hosts."""
    if serverurl is None:
        serverurl = [DEFAULT_SERVERURL]
    if isinstance(serverurl, str):
        serverurl = [serverurl]
    if not isinstance(serverurl, (list, tuple)) or not serverurl:
        raise InstanceError('serverurl must be a HOST:PORT string or a non-empty list of them, got %r'
                            % (serverurl,))
    out = []
    for url in serverurl:
        host, port = parse_serverurl(url)
        out.append(dict(host=probe_host(host), port=port))
    return out


def _absolute(value, what, name):
    if not isinstance(value, str) or not value.startswith('/'):
        raise InstanceError('instance %s: %s must be an absolute path, got %r' % (name, what, value))
    return posixpath.normpath(value)


def _port(value, name):
    if isinstance(value, bool):
        raise InstanceError('instance %s: stratum_port must be an integer 1-65535, got %r' % (name, value))
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or not 0 < value < 65536:
        raise InstanceError('instance %s: stratum_port must be an integer 1-65535, got %r' % (name, value))
    return value


def _mode(value, name, allow_none):
    if value is None and allow_none:
        return None
    if value not in MODES:
        raise InstanceError('instance %s: mode must be one of %s, got %r' % (name, ', '.join(MODES), value))
    return value


def _tier(item, mode, name):
    value = item.get('tier')
    if value is None:
        return mode_tier(mode) if mode is not None else None
    if value not in TIERS:
        raise InstanceError('instance %s: tier must be one of %s, got %r' % (name, ', '.join(TIERS), value))
    return value


def _bool(value, what, name):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ('true', 'yes', 'on', '1', 'false', 'no', 'off', '0'):
        return value.lower() in ('true', 'yes', 'on', '1')
    raise InstanceError('instance %s: %s must be a boolean, got %r' % (name, what, value))


def _unique(instances):
    seen = set()
    ports = {}
    for inst in instances:
        if inst['name'] in seen:
            raise InstanceError('instance %s is defined twice' % inst['name'])
        seen.add(inst['name'])
        for url in inst['stratum_urls']:
            key = (url['host'], url['port'])
            if key in ports:
                raise InstanceError('instances %s and %s share the stratum port %s:%d'
                                    % (ports[key], inst['name'], url['host'], url['port']))
            ports[key] = inst['name']
    return instances


def command_line(inst, item, bin_dir, quiet):
    """ckpool's command line of an install-role instance: the binary, -n, -c, -s, the mode flag,
    -l LOGLEVEL, the item's extra args, -q (the item's ``quiet``, else the role's ``quiet``)."""
    name = inst['name']
    cmd = [posixpath.join(bin_dir, 'ckpool'), '-n', name, '-c', inst['config_path'], '-s', inst['socket_dir']]
    flag = mode_facts(inst['mode'])['flag']
    if flag:
        cmd.append(flag)
    if item.get('loglevel') is not None:
        level = item['loglevel']
        if isinstance(level, bool) or str(level).strip() not in [str(n) for n in range(8)]:
            raise InstanceError('instance %s: loglevel must be 0-7, got %r' % (name, level))
        cmd += ['-l', str(level).strip()]
    args = item.get('args')
    if args is None:
        args = []
    plain = all(isinstance(a, (str, int, float)) and not isinstance(a, bool) for a in args or [])
    if not isinstance(args, (list, tuple)) or not plain:
        raise InstanceError('instance %s: args must be a list of strings, got %r' % (name, args))
    cmd += [str(a) for a in args]
    if _bool(item.get('quiet', quiet), 'quiet', name):
        cmd.append('-q')
    return cmd


def from_install(install_instances, config_defaults=None, run_root=None, log_root=None, conf_dir=None, home=None,
                 bin_dir=None, quiet=True):
    """The instances the ckpool.fleet.install role creates from its variables.

    :param install_instances: list of ``{name, mode, config, state, enabled, loglevel, args, quiet, tier}``.
    :param bin_dir: the role's ``install_bin_dir``; when given, every instance also gets its ckpool
        ``command`` line (see :func:`command_line`, ``quiet`` is ``install_quiet``) and
        ``privileged_port`` (a stratum port below 1024: the unit needs CAP_NET_BIND_SERVICE).
    :raises InstanceError: a definition the install role would refuse.
    """
    run_root = DEFAULT_RUN_ROOT if run_root is None else run_root
    log_root = DEFAULT_LOG_ROOT if log_root is None else log_root
    conf_dir = DEFAULT_CONF_DIR if conf_dir is None else conf_dir
    home = DEFAULT_HOME if home is None else home
    config_defaults = {} if config_defaults is None else config_defaults
    if not isinstance(run_root, str) or not RUN_ROOT_RE.match(run_root):
        raise InstanceError('install_run_root must be a plain directory name below /run, got %r' % (run_root,))
    log_root = _absolute(log_root, 'install_log_root', '-')
    conf_dir = _absolute(conf_dir, 'install_conf_dir', '-')
    home = _absolute(home, 'install_home', '-')
    if not isinstance(config_defaults, dict):
        raise InstanceError('install_config_defaults must be a mapping, got %r' % (config_defaults,))
    if install_instances is None:
        install_instances = []
    if not isinstance(install_instances, (list, tuple)):
        raise InstanceError('install_instances must be a list, got %r' % (install_instances,))
    out = []
    for index, item in enumerate(install_instances):
        if not isinstance(item, dict):
            raise InstanceError('install_instances[%d] must be a mapping, got %r' % (index, item))
        name = item.get('name')
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise InstanceError('install_instances[%d]: name %r must be lower case letters, digits, - and _ '
                                '(at most 32, starting with a letter or digit)' % (index, name))
        config = item.get('config')
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise InstanceError('instance %s: config must be a mapping' % name)
        merged = dict(config_defaults)
        merged.update(config)
        state = item.get('state', 'started')
        if state not in STATES:
            raise InstanceError('instance %s: state must be started or stopped, got %r' % (name, state))
        try:
            urls = stratum_urls(merged.get('serverurl'))
        except InstanceError as exc:
            raise InstanceError('instance %s: %s' % (name, exc))
        inst = dict(
            name=name,
            mode=_mode(item.get('mode', 'pool'), name, False),
            socket_dir='/run/%s/%s' % (run_root, name),
            log_dir=posixpath.join(log_root, name),
            config_path=posixpath.join(conf_dir, name + '.conf'),
            work_dir=posixpath.join(home, name),
            unit='%s%s.service' % (UNIT_PREFIX, name),
            state=state,
            enabled=_bool(item.get('enabled', True), 'enabled', name),
            stratum_host=urls[0]['host'],
            stratum_port=urls[0]['port'],
            stratum_urls=urls,
        )
        inst['tier'] = _tier(item, inst['mode'], name)
        if bin_dir is not None:
            inst['command'] = command_line(inst, item, _absolute(bin_dir, 'install_bin_dir', '-'), quiet)
            inst['privileged_port'] = any(url['port'] < 1024 for url in urls)
        out.append(inst)
    return _unique(out)


def from_explicit(instances):
    """Validate an explicit instance list and fill its defaults.

    Each entry needs ``name`` and an absolute ``socket_dir``; ``log_dir`` (or ``config``,
    ckpool.conf to read ``logdir`` from) and ``mode`` are discovered from the running
    process when absent (``None`` here); without ``stratum_port`` there is no stratum check.
    """
    if not isinstance(instances, (list, tuple)):
        raise InstanceError('the instance list must be a list, got %r' % (instances,))
    out = []
    for index, item in enumerate(instances):
        if not isinstance(item, dict):
            raise InstanceError('instance #%d must be a mapping, got %r' % (index + 1, item))
        name = item.get('name')
        if not isinstance(name, str) or not name.strip():
            raise InstanceError('instance #%d has no name' % (index + 1))
        unknown = sorted(set(item) - EXPLICIT_KEYS)
        if unknown:
            raise InstanceError('instance %s: unknown key(s) %s; known: %s'
                                % (name, ', '.join(unknown), ', '.join(sorted(EXPLICIT_KEYS))))
        if item.get('socket_dir') is None:
            raise InstanceError('instance %s has no socket_dir' % name)
        inst = dict(
            name=name,
            mode=_mode(item.get('mode'), name, True),
            socket_dir=_absolute(item['socket_dir'], 'socket_dir', name),
            log_dir=_absolute(item['log_dir'], 'log_dir', name) if item.get('log_dir') else None,
            config_path=None,
            work_dir=_absolute(item['work_dir'], 'work_dir', name) if item.get('work_dir') else None,
            unit=item.get('unit') or '%s%s.service' % (UNIT_PREFIX, name),
            state=item.get('state', 'started'),
            enabled=_bool(item.get('enabled', True), 'enabled', name),
            stratum_host=None,
            stratum_port=None,
            stratum_urls=[],
        )
        config = item.get('config_path') or item.get('config')
        if config:
            inst['config_path'] = _absolute(config, 'config', name)
        if inst['state'] not in STATES:
            raise InstanceError('instance %s: state must be started or stopped, got %r' % (name, inst['state']))
        if item.get('stratum_port') not in (None, ''):
            host = item.get('stratum_host') or DEFAULT_STRATUM_HOST
            if not isinstance(host, str):
                raise InstanceError('instance %s: stratum_host must be a string, got %r' % (name, host))
            host = probe_host(host[1:-1] if host.startswith('[') and host.endswith(']') else host)
            port = _port(item['stratum_port'], name)
            urls = [dict(host=host, port=port)]
            for extra in item.get('stratum_urls') or []:
                if not isinstance(extra, dict):
                    raise InstanceError('instance %s: stratum_urls entries must be {host, port}' % name)
                entry = dict(host=probe_host(str(extra.get('host') or DEFAULT_STRATUM_HOST)),
                             port=_port(extra.get('port'), name))
                if entry not in urls:
                    urls.append(entry)
            inst.update(stratum_host=host, stratum_port=port, stratum_urls=urls)
        inst['tier'] = _tier(item, inst['mode'], name)
        out.append(inst)
    return _unique(out)


def resolve(explicit=None, install_instances=None, config_defaults=None, run_root=None, log_root=None,
            conf_dir=None, home=None, bin_dir=None, quiet=True):
    """An explicit list when it is not empty, else the instances of the install variables."""
    if explicit:
        return from_explicit(explicit)
    return from_install(install_instances, config_defaults=config_defaults, run_root=run_root, log_root=log_root,
                        conf_dir=conf_dir, home=home, bin_dir=bin_dir, quiet=quiet)
