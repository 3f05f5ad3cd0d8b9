# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health checks of a ckpool instance: every check with its value, threshold and verdict.

:func:`evaluate` turns one *reading* of an instance (process, pings, ``pool.status``,
stratum probe; see :func:`empty_reading`) into the instance's health, the shape the
``ckpool_health`` fact has had since 0.1.0::

    {"checks": [{"name", "value", "threshold", "ok", "verdict", "reason"}],
     "healthy", "failing": [names], "not_judged": [names], "pid", "started", "mode", "tier",
     "socket_dir", "log_dir", "stratum", "stratum_ms", "hashrate_1m", "hashrate_5m",
     "hashrate": {window: H/s for every pool.status window}, "lastupdate", "users",
     "workers", "accepted", "rejected", "bestshare", "runtime", "status_age",
     "ping_ms": {"listener", "stratifier"}, "user_stats", "read_errors"}

A verdict is ``pass``, ``fail`` or ``not_judged``; ``ok`` is false only for ``fail``.

Restart awareness: after every start (and every handover) ckpool writes ``pool.status``
1 s after the start with ``Users 0, Workers 0`` and only shows the real counts at its
first 60-second update (``runtime`` restarts at 1).  Thresholds on those counts
(workers, hashrates) are therefore *not judged* on a status written by a process
younger than its first update, or by an earlier process than the running one; the
check says why (see :func:`counts_judgeable`).

The first part judges (pure functions); :func:`read` gathers a reading (sockets, files,
/proc, the stratum probe) and :func:`check_instances` does both for several instances
at once, in parallel.  Read-only: the only socket command sent is ``ping``, the stratum
probe sends ``mining.subscribe`` and never authorises.  Standard library only, Python 3.6+.
"""

import math
import os
import threading
import time

from ansible_collections.ckpool.fleet.plugins.module_utils import modes
from ansible_collections.ckpool.fleet.plugins.module_utils import process as proc_utils
from ansible_collections.ckpool.fleet.plugins.module_utils import status_files
from ansible_collections.ckpool.fleet.plugins.module_utils import stratum
from ansible_collections.ckpool.fleet.plugins.module_utils.ckpool import (
    CkpoolClient,
    CkpoolError,
    CkpoolPermissionDenied,
)
from ansible_collections.ckpool.fleet.plugins.module_utils.instance_model import InstanceError, from_explicit
from ansible_collections.ckpool.fleet.plugins.module_utils.safe_files import CkpoolFileError, CkpoolFileMissing

PASS = 'pass'
FAIL = 'fail'
NOT_JUDGED = 'not_judged'

# ckpool rewrites pool.status every 60 s (statsupdate); the first write is 1 s after start.
STATUS_INTERVAL = 60
# Clock slack when comparing a process start time (/proc, 1 s resolution) with the
# integer lastupdate/runtime of pool.status.
START_SLACK = 3.0

THRESHOLD_DEFAULTS = dict(
    timeout=2.0,
    stratum_timeout=3.0,
    stale_after=180,
    min_workers=0,
    min_hashrate_1m=0.0,
    min_hashrate_5m=0.0,
    max_reject_ratio=1.0,
    status_interval=STATUS_INTERVAL,
    previous_pid=None,
)


def threshold_argument_spec():
    """The module options of the checks (ckpool_health, and ckpool_restart's gate)."""
    return dict(
        stale_after=dict(type='int', default=180),
        min_workers=dict(type='int', default=0),
        min_hashrate_1m=dict(type='float', default=0.0),
        min_hashrate_5m=dict(type='float', default=0.0),
        max_reject_ratio=dict(type='float', default=1.0),
        stratum_timeout=dict(type='float', default=3.0),
        stratum_user_agent=dict(type='str', default='ckpool.fleet-probe'),
        status_interval=dict(type='int', default=STATUS_INTERVAL),
    )


def _finite(value):
    return _number(value) and not math.isnan(value) and not math.isinf(value)


def validate_options(params):
    """Problems with the threshold options in ``params`` (a list of messages; empty when valid)."""
    problems = []
    if not 1 <= params['stale_after'] <= 10 ** 7:
        problems.append('stale_after must be 1-10000000 seconds, got %r' % params['stale_after'])
    if params['min_workers'] < 0:
        problems.append('min_workers must not be negative, got %r' % params['min_workers'])
    for key in ('min_hashrate_1m', 'min_hashrate_5m'):
        if not _finite(params[key]) or params[key] < 0:
            problems.append('%s must be a finite number of H/s >= 0, got %r' % (key, params[key]))
    if not _finite(params['max_reject_ratio']) or not 0 <= params['max_reject_ratio'] <= 1:
        problems.append('max_reject_ratio must be 0-1, got %r' % params['max_reject_ratio'])
    if not _finite(params['stratum_timeout']) or not 0 < params['stratum_timeout'] <= 60:
        problems.append('stratum_timeout must be > 0 and <= 60 seconds, got %r' % params['stratum_timeout'])
    agent = params['stratum_user_agent'] or ''
    if len(agent) > 128 or any(ord(c) < 32 or ord(c) == 127 for c in agent):
        problems.append('stratum_user_agent must be at most 128 printable characters')
    if not 1 <= params['status_interval'] <= 3600:
        problems.append('status_interval must be 1-3600 seconds, got %r' % params['status_interval'])
    return problems


GATE_KEYS = ('instance', 'instances', 'readings', 'interval')


def _coerce(value, kind):
    """int/float/str as AnsibleModule would (templated values may arrive as strings)."""
    if kind == 'str':
        return '' if value is None else str(value)
    if isinstance(value, bool):
        raise ValueError('a number, not a boolean')
    if kind == 'int':
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return int(value)
    return float(value)


def parse_gate(gate, socket_dir):
    """Validate the ``gate`` option of ckpool_restart (the ckpool_health options of the host's instances).

    ``instances`` (every instance of the host: the gates judge them all, so a host with one bad
    instance is not touched further) or ``instance`` (only the restarted one); the restarted
    instance is the one whose ``socket_dir`` is ``socket_dir``.

    :returns: dict(instances, target (its name), options, readings, interval, problems).
    """
    problems = []
    spec = threshold_argument_spec()
    unknown = sorted(set(gate) - set(spec) - set(GATE_KEYS))
    if unknown:
        problems.append('gate: unknown key(s) %s; known: %s'
                        % (', '.join(unknown), ', '.join(sorted(set(spec) | set(GATE_KEYS)))))
    options = {}
    for key, entry in spec.items():
        value = gate.get(key)
        if value is None:
            options[key] = entry['default']
            continue
        try:
            options[key] = _coerce(value, entry['type'])
        except (TypeError, ValueError):
            kind = dict(int='an integer', float='a number').get(entry['type'], 'a string')
            problems.append('gate: %s must be %s, got %r' % (key, kind, value))
            options[key] = entry['default']
    problems.extend('gate: %s' % p for p in validate_options(options))
    try:
        readings = _coerce(gate.get('readings', 1), 'int')
        interval = _coerce(gate.get('interval', 0.0), 'float')
    except (TypeError, ValueError):
        problems.append('gate: readings must be an integer and interval a number of seconds')
        readings, interval = 1, 0.0
    if not 1 <= readings <= 100:
        problems.append('gate: readings must be 1-100, got %r' % readings)
    if not (_finite(interval) and 0 <= interval <= 3600):
        problems.append('gate: interval must be 0-3600 seconds, got %r' % interval)
    if gate.get('instances') is not None and gate.get('instance') is not None:
        problems.append('gate: give instances or instance, not both')
    raw = gate.get('instances')
    if raw is None:
        raw = [gate.get('instance') or dict(name='ckpool', socket_dir=socket_dir)]
    instances = []
    target = None
    try:
        instances = from_explicit(raw)
    except (InstanceError, ValueError) as exc:
        problems.append('gate: %s' % exc)
    else:
        for inst in instances:
            if os.path.normpath(inst['socket_dir']) == os.path.normpath(socket_dir):
                target = inst['name']
        if target is None:
            problems.append('gate: no instance has the socket_dir %s being restarted (%s)'
                            % (socket_dir, ', '.join('%s: %s' % (i['name'], i['socket_dir']) for i in instances)))
    return dict(instances=instances, target=target, options=options, readings=readings, interval=interval,
                problems=problems)


def empty_reading(name, socket_dir):
    """A reading with nothing read yet (the gatherer fills it in)."""
    return dict(
        name=name,
        mode=None,
        socket_dir=socket_dir,
        log_dir=None,
        stratum_host=None,
        stratum_port=None,
        # {pid (the proven owner of the listener), running, started, message (why not running),
        #  pid_file_pid (main.pid: a hint), note}
        process=dict(pid=None, running=False, started=None, message=None, pid_file_pid=None, note=None),
        # socket -> {ok, ms, error, message}; a socket the mode lacks is absent
        pings={},
        # does this mode write pool/pool.status (passthrough and redirector do not)
        has_pool_status=True,
        # the parsed pool.status (status_files shape) or None, and why it is None
        pool=None,
        pool_error=None,
        # the stratum probe result (stratum.probe) or None when no port is known
        stratum=None,
        user_stats=[],
        read_errors=[],
    )


def check(name, value, threshold, verdict, reason=None):
    """One check result."""
    return dict(name=name, value=value, threshold=threshold, ok=verdict != FAIL, verdict=verdict, reason=reason)


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def counts_judgeable(pool, process, status_interval=STATUS_INTERVAL, slack=START_SLACK):
    """Tell whether the counts in ``pool`` (workers, hashrates) describe the running process.

    Returns (True, None) or (False, reason).  Not judgeable:

    * the process is not running;
    * ``runtime`` is below the status interval: the status is the one ckpool writes 1 s
      after a start, before its first update (its counts read 0);
    * ``lastupdate - runtime`` (when the writer started) is more than ``slack`` seconds
      before the running process started: an earlier process wrote it (a restart that
      has not rewritten the status yet);
    * without ``runtime``, a ``lastupdate`` before the running process's first update.
    """
    if not process.get('running'):
        return False, 'the process is not running: pool.status describes a process that is gone'
    runtime = pool.get('runtime')
    lastupdate = pool.get('lastupdate')
    started = process.get('started')
    pid = process.get('pid')
    first_update = max(float(status_interval) - 1.0, 1.5)
    if _number(runtime) and runtime < first_update:
        return False, ('pool.status was written %s s after its process started, before ckpool\'s first '
                       '%s-second update (until then it reads 0 users and workers)' % (runtime, status_interval))
    if _number(started) and _number(lastupdate):
        if _number(runtime):
            writer_started = lastupdate - runtime
            if writer_started < started - slack:
                return False, ('pool.status was written by an earlier process (started %d s before pid %s): '
                               'the restarted pool has not rewritten it yet' % (started - writer_started, pid))
        elif lastupdate < started + first_update - slack:
            return False, ('pool.status was last written %d s after pid %s started, before its first %s-second '
                           'update' % (lastupdate - started, pid, status_interval))
    return True, None


def _ping_check(sock, entry, timeout):
    threshold = 'pong within %s s' % timeout
    if entry.get('ok'):
        return check('%s_ping' % sock, entry.get('ms'), threshold, PASS)
    message = entry.get('message') or entry.get('error') or 'no answer'
    return check('%s_ping' % sock, message, threshold, FAIL, reason=message)


def _pool_value(pool, key):
    return pool.get(key) if pool else None


def _hashrate(pool, window):
    if not pool:
        return None
    return (pool.get('hashrate') or {}).get(window)


def evaluate(reading, options=None):
    """Judge one reading against the thresholds in ``options`` (see THRESHOLD_DEFAULTS)."""
    opts = dict(THRESHOLD_DEFAULTS)
    opts.update(options or {})
    process = reading.get('process') or {}
    pool = reading.get('pool')
    pings = reading.get('pings') or {}
    probe = reading.get('stratum')
    has_status = reading.get('has_pool_status', True)
    checks = []

    # -- the process -------------------------------------------------------------------------
    if process.get('running'):
        checks.append(check('process', process.get('pid'), 'alive', PASS, reason=process.get('note')))
    else:
        pid = process.get('pid')
        reason = process.get('message') or ('no process serves the socket directory' if pid is None
                                            else 'pid %s is not running' % pid)
        checks.append(check('process', process.get('pid'), 'alive', FAIL, reason=reason))

    # -- control sockets ---------------------------------------------------------------------------
    for sock in ('listener', 'stratifier'):
        if sock in pings:
            checks.append(_ping_check(sock, pings[sock], opts['timeout']))

    # -- pool.status age -------------------------------------------------------------------------
    age = _pool_value(pool, 'age_seconds')
    if has_status:
        threshold = opts['stale_after']
        if pool is None:
            why = reading.get('pool_error') or 'pool.status is missing'
            checks.append(check('status_age', 'missing', threshold, FAIL, reason=why))
        elif age is None:
            checks.append(check('status_age', 'no lastupdate', threshold, FAIL,
                                reason='pool.status has no lastupdate'))
        else:
            verdict = PASS if age <= threshold else FAIL
            checks.append(check('status_age', round(age, 1), threshold, verdict,
                                reason=None if verdict == PASS else
                                'pool.status is %.0f s old (ckpool rewrites it every %s s)'
                                % (age, opts['status_interval'])))

    # -- stratum: TCP connect and a served mining.subscribe ---------------------------------------
    if probe is not None:
        where = '%s:%s' % (reading.get('stratum_host'), reading.get('stratum_port'))
        timeout = opts['stratum_timeout']
        if probe.get('connected'):
            checks.append(check('stratum_port', where, 'accepts TCP within %s s' % timeout, PASS))
        else:
            checks.append(check('stratum_port', where, 'accepts TCP within %s s' % timeout, FAIL,
                                reason=probe.get('message')))
        threshold = 'answers mining.subscribe within %s s' % timeout
        if probe.get('ok'):
            checks.append(check('stratum_subscribe', probe.get('ms'), threshold, PASS))
        else:
            checks.append(check('stratum_subscribe', probe.get('message'), threshold, FAIL,
                                reason=probe.get('message')))

    # -- thresholds on pool.status counts (restart aware) -------------------------------------------
    count_checks = []
    if opts['min_workers'] and opts['min_workers'] > 0:
        count_checks.append(('workers', _pool_value(pool, 'workers'), int(opts['min_workers'])))
    for window in ('1m', '5m'):
        minimum = opts['min_hashrate_%s' % window]
        if minimum and minimum > 0:
            count_checks.append(('hashrate_%s' % window, _hashrate(pool, window), float(minimum)))
    if count_checks and has_status:
        judgeable, why = (False, None) if pool is None else counts_judgeable(pool, process, opts['status_interval'])
        for name, value, minimum in count_checks:
            if pool is None:
                checks.append(check(name, None, minimum, FAIL,
                                    reason=reading.get('pool_error') or 'pool.status is missing'))
            elif not judgeable:
                checks.append(check(name, value, minimum, NOT_JUDGED, reason=why))
            elif not _number(value):
                checks.append(check(name, value, minimum, FAIL, reason='pool.status has no %s' % name))
            else:
                verdict = PASS if value >= minimum else FAIL
                checks.append(check(name, value, minimum, verdict,
                                    reason=None if verdict == PASS else '%s below the minimum' % name))

    # -- reject ratio (accepted/rejected survive restarts) ----------------------------------------------
    maximum = opts['max_reject_ratio']
    if maximum is not None and maximum < 1.0 and has_status:
        if pool is None:
            checks.append(check('reject_ratio', None, maximum, FAIL,
                                reason=reading.get('pool_error') or 'pool.status is missing'))
        else:
            accepted = pool.get('accepted') if _number(pool.get('accepted')) else 0
            rejected = pool.get('rejected') if _number(pool.get('rejected')) else 0
            total = accepted + rejected
            ratio = float(rejected) / total if total > 0 else 0.0
            verdict = PASS if ratio <= maximum else FAIL
            checks.append(check('reject_ratio', round(ratio, 4), maximum, verdict,
                                reason=None if verdict == PASS else
                                '%s of %s shares rejected' % (rejected, total)))

    # -- a gate after a restart: a new process ---------------------------------------------------------
    previous = opts.get('previous_pid')
    if previous is not None:
        pid = process.get('pid')
        if process.get('running') and pid is not None and pid != previous:
            checks.append(check('new_process', pid, 'not pid %s' % previous, PASS))
        else:
            checks.append(check('new_process', pid, 'not pid %s' % previous, FAIL,
                                reason='still the old pid %s' % previous if pid == previous
                                else 'no running process'))

    failing = [c['name'] for c in checks if c['verdict'] == FAIL]
    not_judged = [c['name'] for c in checks if c['verdict'] == NOT_JUDGED]
    stratum_text = None
    if reading.get('stratum_port'):
        stratum_text = '%s:%s' % (reading.get('stratum_host'), reading.get('stratum_port'))
    return dict(
        checks=checks,
        healthy=not failing,
        failing=failing,
        not_judged=not_judged,
        pid=process.get('pid'),
        started=process.get('started'),
        mode=reading.get('mode'),
        tier=reading.get('tier'),
        socket_dir=reading.get('socket_dir'),
        log_dir=reading.get('log_dir'),
        stratum=stratum_text,
        stratum_ms=probe.get('ms') if probe and probe.get('ok') else None,
        hashrate_1m=_hashrate(pool, '1m'),
        hashrate_5m=_hashrate(pool, '5m'),
        hashrate=dict((pool.get('hashrate') or {})) if pool else {},
        lastupdate=_pool_value(pool, 'lastupdate'),
        users=_pool_value(pool, 'users'),
        workers=_pool_value(pool, 'workers'),
        accepted=_pool_value(pool, 'accepted'),
        rejected=_pool_value(pool, 'rejected'),
        bestshare=_pool_value(pool, 'bestshare'),
        runtime=_pool_value(pool, 'runtime'),
        status_age=age,
        ping_ms=dict((sock, pings[sock].get('ms') if pings[sock].get('ok') else None) for sock in pings),
        user_stats=reading.get('user_stats') or [],
        read_errors=list(reading.get('read_errors') or []),
    )


def summary(instances):
    """One line per unhealthy instance: 'NAME fails CHECK (value V, threshold T: reason); ...'."""
    parts = []
    for name in sorted(instances):
        inst = instances[name]
        if inst['healthy']:
            continue
        bad = []
        for item in inst['checks']:
            if item['verdict'] != FAIL:
                continue
            text = '%s (value %s, threshold %s' % (item['name'], item['value'], item['threshold'])
            if item.get('reason') and item['reason'] != item['value']:
                text += ': %s' % item['reason']
            bad.append(text + ')')
        parts.append('instance %s fails %s' % (name, '; '.join(bad)))
    return ' | '.join(parts)


# ---------------------------------------------------------------------------------------------------
# Gathering a reading (I/O)
# ---------------------------------------------------------------------------------------------------

READ_DEFAULTS = dict(
    timeout=2.0,
    stratum_timeout=3.0,
    stratum_user_agent=stratum.DEFAULT_USER_AGENT,
    stale_after=180,
    users=False,
)


def has_pool_status(mode):
    """Whether an instance of ``mode`` writes pool/pool.status (modes.py; an unknown mode: assume it does).

    Passthrough and redirector instances run no statsupdate thread and never write it."""
    if mode not in modes.MODES:
        return True
    return modes.expects_pool_status(mode)


def _read_process(client, reading):
    """Who serves the socket directory: the process listening on ``listener``, proven from both sides.

    The listener's ``ping`` (sent first, by :func:`read`) learns the peer's pid from the connection
    itself (``SO_PEERCRED``, also from a hung process) and :func:`process.prove_owner` checks that
    this pid holds the listening socket of the directory. ``main.pid`` is only a hint: a stale or
    missing pid file (ckpool rewrites it late during a handover) decides nothing.

    Returns the proven owner's process facts, or None."""
    info = reading['process']
    try:
        info['pid_file_pid'] = client.read_pid()
    except CkpoolError:
        info['pid_file_pid'] = None
    peer = client.peers.get('listener')
    if peer is None:
        hint = info['pid_file_pid']
        info['pid'] = hint
        if hint is None:
            info['message'] = 'nothing listens on %s/listener and there is no main.pid' % client.socket_dir
        else:
            info['message'] = ('nothing listens on %s/listener (main.pid names pid %s, %s)'
                               % (client.socket_dir, hint, 'still running' if client.pid_alive(hint) else 'gone'))
        return None
    owner, problem = proc_utils.prove_owner(peer[0], client.socket_dir)
    if owner is None:
        info['pid'] = peer[0]
        info['message'] = 'the process listening on %s/listener is not proven to serve it: %s' % (
            client.socket_dir, problem)
        return None
    info.update(pid=owner['pid'], running=True, started=owner.get('start_time'))
    if info['pid_file_pid'] not in (None, owner['pid']):
        info['note'] = 'main.pid names pid %s, a stale pid file: pid %s serves the sockets' % (
            info['pid_file_pid'], owner['pid'])
    return owner


def _discover(owner, reading, instance):
    """Fill mode and log_dir from the proven owner's command line when the instance does not give them."""
    if reading['mode'] is not None and reading['log_dir'] is not None:
        return
    if owner is None:
        return
    described = proc_utils.describe_instance(owner, instance['socket_dir'])
    if reading['mode'] is None:
        reading['mode'] = described.get('mode')
    if reading['log_dir'] is None and has_pool_status(reading['mode']):
        try:
            if instance.get('config_path'):
                config = proc_utils.read_config(instance['config_path'])
                base = described.get('cwd') or os.path.dirname(instance['config_path'])
                reading['log_dir'] = proc_utils.config_logdir(config, base)
            else:
                reading['log_dir'] = proc_utils.discover_logdir(owner['pid'])
        except (CkpoolFileError, ValueError) as exc:
            reading['read_errors'].append('cannot find the log directory of pid %s: %s; set log_dir'
                                          % (owner.get('pid'), exc))


def _ping(client, sock, reading):
    entry = dict(ok=False, ms=None)
    try:
        client.ping(sock)
        entry['ok'] = True
    except CkpoolPermissionDenied as exc:
        entry.update(error=exc.kind, message=str(exc))
        reading['read_errors'].append(str(exc))
    except CkpoolError as exc:
        entry.update(error=exc.kind, message=str(exc))
    if client.audit:
        entry['ms'] = client.audit[-1]['ms']
    reading['pings'][sock] = entry


def read(instance, options=None):
    """Gather one reading of ``instance`` (an instance_model dict).

    Returns (reading, commands): the reading for :func:`evaluate` and the socket
    commands sent (each audit entry with the instance's ``socket_dir``)."""
    opts = dict(READ_DEFAULTS)
    opts.update(options or {})
    reading = empty_reading(instance['name'], instance['socket_dir'])
    reading.update(mode=instance.get('mode'), log_dir=instance.get('log_dir'),
                   stratum_host=instance.get('stratum_host'), stratum_port=instance.get('stratum_port'))
    # A read-only client: in any mode it refuses everything but the read commands.
    client = CkpoolClient(socket_dir=instance['socket_dir'], timeout=opts['timeout'], check_mode=True)
    # the listener's ping first: its connection names the process that serves the directory
    _ping(client, 'listener', reading)
    owner = _read_process(client, reading)
    _discover(owner, reading, instance)
    reading['has_pool_status'] = has_pool_status(reading['mode'])
    reading['tier'] = instance.get('tier') or (modes.tier(reading['mode']) if reading['mode'] in modes.MODES else None)
    _ping(client, 'stratifier', reading)
    if reading['stratum_port']:
        reading['stratum'] = stratum.probe(reading['stratum_host'] or '127.0.0.1', reading['stratum_port'],
                                           timeout=opts['stratum_timeout'], user_agent=opts['stratum_user_agent'])
    if reading['has_pool_status']:
        if reading['log_dir']:
            try:
                reading['pool'] = status_files.read_pool_status(reading['log_dir'], stale_after=opts['stale_after'])
            except CkpoolFileMissing as exc:
                reading['pool_error'] = str(exc)
            except CkpoolFileError as exc:
                reading['pool_error'] = str(exc)
                reading['read_errors'].append(str(exc))
            if opts['users']:
                try:
                    reading['user_stats'] = status_files.read_users(reading['log_dir'])['users']
                except CkpoolFileMissing:
                    reading['user_stats'] = []
                except (CkpoolFileError, ValueError) as exc:
                    reading['read_errors'].append('cannot read users: %s' % exc)
        else:
            reading['pool_error'] = ('the log directory is unknown (the process is not running and neither '
                                     'log_dir nor config is set)')
    commands = []
    for entry in client.audit:
        entry = dict(entry)
        entry['socket_dir'] = instance['socket_dir']
        commands.append(entry)
    return reading, commands


def check_instances(instances, options=None, readings=1, interval=0.0, previous_pids=None):
    """Read and judge every instance, ``readings`` times ``interval`` seconds apart.

    Instances are read in parallel (one thread each).  The readings stop at the first one
    with an unhealthy instance (a gate fails on one bad reading).

    :returns: ``{"instances": {name: health}, "healthy", "unhealthy": [names],
        "readings": [{"healthy", "unhealthy", "seconds"}], "commands": [...]}``; ``instances``
        is the last reading taken (the failing one, when one failed).
    """
    opts = dict(THRESHOLD_DEFAULTS)
    opts.update(READ_DEFAULTS)
    opts.update(options or {})
    previous_pids = previous_pids or {}
    commands = []
    history = []
    results = {}
    for number in range(max(int(readings), 1)):
        if number:
            time.sleep(interval)
        started = time.monotonic()
        gathered = [None] * len(instances)
        crashed = []

        def work(index, inst):
            try:
                gathered[index] = read(inst, opts)
            except Exception as exc:  # re-raised below, in the calling thread
                crashed.append(exc)

        threads = []
        for index, inst in enumerate(instances):
            if len(instances) == 1:
                work(index, inst)
                continue
            thread = threading.Thread(target=work, args=(index, inst), name='health-%s' % inst['name'])
            thread.daemon = True
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
        if crashed:
            raise crashed[0]
        results = {}
        for inst, (reading, sent) in zip(instances, gathered):
            commands.extend(sent)
            inst_opts = dict(opts)
            inst_opts['previous_pid'] = previous_pids.get(inst['name'])
            results[inst['name']] = evaluate(reading, inst_opts)
        unhealthy = sorted(name for name, res in results.items() if not res['healthy'])
        history.append(dict(healthy=not unhealthy, unhealthy=unhealthy,
                            seconds=round(time.monotonic() - started, 3)))
        if unhealthy:
            break
    unhealthy = sorted(name for name, res in results.items() if not res['healthy'])
    return dict(instances=results, healthy=not unhealthy and len(history) == max(int(readings), 1),
                unhealthy=unhealthy, readings=history, commands=commands,
                pids=dict((name, res['pid']) for name, res in results.items()))
