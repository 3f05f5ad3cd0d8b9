# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate and normalise a ckpool.conf before it is written.

ckpool reads its JSON config with jansson and is unforgiving in quiet ways: a
key of the wrong JSON type is ignored with a log line (``"donation": 0`` is
refused, it must be a double; upstream ckpool reads ``mindiff`` as an integer,
so ``0.5`` is silently dropped), a typo'd key is ignored, a mode without the
entries it needs exits at start.  :func:`check_config` names every problem at
once; :func:`normalise_config` writes ``donation`` (and, for the ckpool-lhr
fork, the difficulties) as doubles.

Key names and types are those of ``parse_config()`` in ckpool.c: upstream
(ckolivas/ckpool; the copy read is skaisser/ckpool, an upstream 60768aeb tree)
and the ckpool-lhr fork (Z3r0XG/ckpool-lhr).  Standard library only, Python 3.6+.
"""

import math
import re

from ansible_collections.ckpool.fleet.plugins.module_utils import modes as ckpool_modes

FLAVOURS = ('upstream', 'lhr')

_HOSTPORT_RE = re.compile(r'^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})$')
_HEX_RE = re.compile(r'^(?:0[xX])?[0-9A-Fa-f]{1,8}$')
_ZMQ_RE = re.compile(r'^tcp://(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):[0-9]{1,5}$')

# key -> kind; kinds are checked by _check_value
_COMMON_KEYS = {
    'btcd': 'btcd', 'btcaddress': 'address', 'btcsig': 'btcsig', 'blockpoll': 'posint',
    'nonce1length': 'noncelen', 'nonce2length': 'noncelen', 'update_interval': 'posint',
    'version_mask': 'hex', 'serverurl': 'serverurl', 'nodeserver': 'hostports', 'trusted': 'hostports',
    'upstream': 'hostport', 'mindiff': 'diff', 'startdiff': 'diff', 'highdiff': 'diff', 'maxdiff': 'diff',
    'logdir': 'path', 'maxclients': 'count', 'donation': 'donation', 'proxy': 'proxy',
    'redirecturl': 'hostports', 'zmqblock': 'zmq',
}
_LHR_KEYS = {
    'donaddress': 'address', 'dropidle': 'count', 'max_pool_useragents': 'count', 'useragent': 'strings',
    'allow_low_diff': 'bool',
}
KNOWN_KEYS = {
    'upstream': dict(_COMMON_KEYS),
    'lhr': dict(_COMMON_KEYS, **_LHR_KEYS),
}

HIGHDIFF_PORT = 4000
"""Stratum ports above this are "highdiff" ports: miners there start at ``highdiff``
(1 000 000 by default) instead of ``startdiff`` (observed on ckpool)."""


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and (
        not isinstance(value, float) or math.isfinite(value))


def _hostport_problem(value):
    if not isinstance(value, str):
        return 'must be a "HOST:PORT" string, got %s' % type(value).__name__
    match = _HOSTPORT_RE.match(value)
    if not match:
        return 'must be "HOST:PORT", got %r' % (value,)
    port = int(match.group(1))
    if not 1 <= port <= 65535:
        return 'port must be from 1 to 65535, got %d' % port
    return None


def _check_value(key, kind, value, flavour):
    """Return a list of problems of one key."""
    if kind == 'btcd':
        if not isinstance(value, list) or not value:
            return ['btcd must be a non-empty list of {url, auth, pass, notify}']
        problems = []
        for index, entry in enumerate(value):
            where = 'btcd[%d]' % index
            if not isinstance(entry, dict):
                problems.append('%s must be a mapping' % where)
                continue
            allowed = {'url', 'auth', 'pass', 'notify'} | ({'cookie'} if flavour == 'lhr' else set())
            for extra in sorted(set(entry) - allowed):
                problems.append('%s has an unknown key %r (ckpool reads %s)' % (where, extra, ', '.join(sorted(allowed))))
            problem = _hostport_problem(entry.get('url'))
            if problem:
                problems.append('%s.url %s' % (where, problem))
            if flavour == 'lhr' and entry.get('cookie') is not None:
                if not isinstance(entry['cookie'], str) or not entry['cookie'].startswith('/'):
                    problems.append('%s.cookie must be the absolute path of bitcoind\'s .cookie file' % where)
            elif not isinstance(entry.get('auth'), str) or not isinstance(entry.get('pass'), str):
                problems.append('%s needs auth and pass strings%s' % (
                    where, ' (or cookie, the path of bitcoind\'s .cookie file)' if flavour == 'lhr' else ''))
            if 'notify' in entry and not isinstance(entry['notify'], bool):
                problems.append('%s.notify must be a boolean' % where)
        return problems
    if kind == 'proxy':
        if not isinstance(value, list) or not value:
            return ['proxy must be a non-empty list of {url, auth, pass}']
        problems = []
        for index, entry in enumerate(value):
            where = 'proxy[%d]' % index
            if not isinstance(entry, dict):
                problems.append('%s must be a mapping' % where)
                continue
            for extra in sorted(set(entry) - {'url', 'auth', 'pass'}):
                problems.append('%s has an unknown key %r (ckpool reads url, auth, pass)' % (where, extra))
            problem = _hostport_problem(entry.get('url'))
            if problem:
                problems.append('%s.url %s' % (where, problem))
            if not isinstance(entry.get('auth'), str) or not entry.get('auth'):
                problems.append('%s.auth (the user name on the upstream pool) must be a non-empty string' % where)
            if 'pass' in entry and not isinstance(entry['pass'], str):
                problems.append('%s.pass must be a string' % where)
        return problems
    if kind == 'serverurl':
        entries = [value] if isinstance(value, str) else value
        if not isinstance(entries, list) or not entries:
            return ['serverurl must be "HOST:PORT" or a non-empty list of them']
        return ['serverurl[%d] %s' % (i, p) for i, p in ((i, _hostport_problem(v)) for i, v in enumerate(entries)) if p]
    if kind == 'hostports':
        if not isinstance(value, list) or not value:
            return ['%s must be a non-empty list of "HOST:PORT"' % key]
        return ['%s[%d] %s' % (key, i, p) for i, p in ((i, _hostport_problem(v)) for i, v in enumerate(value)) if p]
    if kind == 'hostport':
        problem = _hostport_problem(value)
        return ['%s %s' % (key, problem)] if problem else []
    if kind in ('address', 'path'):
        if not isinstance(value, str) or not value or any(ord(c) < 32 for c in value):
            return ['%s must be a non-empty string without control characters' % key]
        if kind == 'path' and not value.startswith('/'):
            return ['%s must be an absolute path' % key]
        return []
    if kind == 'btcsig':
        if not isinstance(value, str) or len(value.encode('utf-8')) > 38:
            return ['btcsig must be a string of at most 38 bytes (ckpool truncates longer ones)']
        return []
    if kind in ('posint', 'count', 'noncelen'):
        if isinstance(value, bool) or not isinstance(value, int):
            return ['%s must be an integer, got %r' % (key, value)]
        if kind == 'posint' and value < 1:
            return ['%s must be at least 1, got %d' % (key, value)]
        if kind == 'count' and value < 0:
            return ['%s must not be negative, got %d' % (key, value)]
        if kind == 'noncelen' and not 2 <= value <= 8:
            return ['%s must be from 2 to 8 (ckpool refuses to start otherwise), got %d' % (key, value)]
        return []
    if kind == 'diff':
        if flavour == 'lhr':
            if not _is_number(value) or value < 0:
                return ['%s must be a number >= 0 (the lhr fork reads a double), got %r' % (key, value)]
            return []
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return ['%s must be a whole number >= 0: upstream ckpool reads it as an integer and ignores %r '
                    '(fractional difficulties need install_flavour: lhr)' % (key, value)]
        return []
    if kind == 'donation':
        if not _is_number(value) or not 0 <= value <= 99.9:
            return ['donation must be a percentage from 0 to 99.9, got %r' % (value,)]
        return []
    if kind == 'hex':
        if not isinstance(value, str) or not _HEX_RE.match(value):
            return ['version_mask must be a hex string such as "1fffe000", got %r' % (value,)]
        return []
    if kind == 'zmq':
        if not isinstance(value, str) or not _ZMQ_RE.match(value):
            return ['zmqblock must be "tcp://HOST:PORT", got %r' % (value,)]
        return []
    if kind == 'strings':
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            return ['%s must be a list of non-empty strings' % key]
        return []
    if kind == 'bool':
        if not isinstance(value, bool):
            return ['%s must be a boolean' % key]
        return []
    raise ValueError('unknown kind %r' % kind)  # pragma: no cover - table error


def check_config(config, mode='pool', flavour='upstream', allow_unknown=()):
    """Return the list of problems of ``config`` for an instance in ``mode`` (empty when valid).

    Checks key names (a typo is a problem: ckpool would ignore the key), JSON types
    as ckpool reads them for the ``flavour`` (``upstream`` or ``lhr``), ranges ckpool
    refuses at start (nonce lengths), and the entries each mode cannot start without
    (``btcaddress`` and ``btcd`` for pool/solo/node ... ``proxy`` for every proxy type,
    ``redirecturl`` for a redirector).  ``allow_unknown``: extra key names accepted as
    they are (keys of a build this module does not know).
    """
    ckpool_modes.check_mode(mode)
    if flavour not in FLAVOURS:
        raise ValueError('flavour must be one of %s, got %r' % (', '.join(FLAVOURS), flavour))
    if not isinstance(config, dict):
        return ['the config must be a mapping, got %s' % type(config).__name__]
    known = KNOWN_KEYS[flavour]
    problems = []
    for key in sorted(config):
        if key in allow_unknown:
            continue
        kind = known.get(key)
        if kind is None:
            other = ' (a key of the ckpool-lhr fork: set install_flavour: lhr)' if key in _LHR_KEYS else ''
            problems.append('unknown key %r%s: ckpool would ignore it' % (key, other))
            continue
        problems.extend(_check_value(key, kind, config[key], flavour))
    facts = ckpool_modes.mode_facts(mode)
    needs = set(facts['needs_config'])
    if mode in ('pool', 'solo', 'node'):
        needs.add('btcd')
    if mode == 'node':
        needs.discard('btcaddress')
    for key in sorted(needs):
        if key not in config:
            problems.append('%s mode needs %r' % (mode, key))
    return problems


def normalise_config(config, flavour='upstream'):
    """A copy of ``config`` with the JSON types ckpool needs: ``donation`` always a double
    (``0`` is refused as "not a double"), and for the lhr fork the difficulties doubles too."""
    result = dict(config)
    if 'donation' in result and _is_number(result['donation']):
        result['donation'] = float(result['donation'])
    if flavour == 'lhr':
        for key in ('mindiff', 'startdiff', 'highdiff', 'maxdiff'):
            if key in result and _is_number(result[key]):
                result[key] = float(result[key])
    return result


def stratum_ports(config):
    """The ports of ``serverurl`` (a string or a list); [] when absent."""
    urls = config.get('serverurl')
    urls = [urls] if isinstance(urls, str) else (urls or [])
    ports = []
    for url in urls:
        match = _HOSTPORT_RE.match(url) if isinstance(url, str) else None
        if match:
            ports.append(int(match.group(1)))
    return ports


def highdiff_ports(config):
    """Stratum ports above 4000: miners there start at ``highdiff`` (observed)."""
    return [port for port in stratum_ports(config) if port > HIGHDIFF_PORT]
