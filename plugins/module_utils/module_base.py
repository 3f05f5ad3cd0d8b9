# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared module class of the ckpool.fleet modules.

:class:`CkpoolModule` is what every module builds on (like community.docker's
client class or community.postgresql's argument-spec factory).  It owns:

* the argument spec: :func:`ckpool_argument_spec` (``socket_dir``,
  ``timeout``) merged with the module's own, plus :func:`log_argument_spec`
  (``log_dir``, ``config``, ``instance_name``, ``log_max_bytes``) for modules
  that read the instance's files;
* validation of numbers before anything is sent: NaN, infinities, negative
  and absurd values fail with a message naming the option and the accepted
  range (``numbers=`` in the constructor, :data:`COMMON_NUMBERS` for all);
* **one deadline for all the socket work of a run** (:attr:`deadline`, a
  :class:`~ckpool.Deadline` of ``timeout`` seconds shared by every call of
  :attr:`client`), which a module extends only for waits it documents
  (:meth:`extend_deadline`, e.g. ``wait_timeout``);
* liveness from the sockets (:meth:`liveness`, :meth:`require_running`): a
  listener that answers means running, whatever ``main.pid`` says, and the
  process that serves the socket directory is proven by the kernel
  (:func:`~process.prove_owner`), never guessed from a name or a pid file;
* the one resolution of the instance's files (:meth:`instance`): log
  directory and instance name, hence the log ``LOGDIR/NAME.log``;
* ``fail()``/``exit()`` with context (the commands sent, the socket
  directory) and **honest** ``changed``: once a command that is not a known
  read was delivered, a failure reports ``changed: true`` and says the
  command may have taken effect.
"""

import math
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ckpool.fleet.plugins.module_utils.ckpool import (
    CkpoolClient,
    CkpoolDeadlineExceeded,
    CkpoolError,
    CkpoolNotRunning,
    CkpoolPermissionDenied,
    DEFAULT_SOCKET_DIR,
    DEFAULT_TIMEOUT,
    Deadline,
)

DEFAULT_LOG_MAX_BYTES = 16 * 1024 * 1024

COMMON_NUMBERS = {
    'timeout': dict(low=0, high=3600),
    'connector_timeout': dict(low=0, high=3600),
    'wait_timeout': dict(low=0, high=86400),
    'poll_interval': dict(low=0, high=60),
    'log_max_bytes': dict(low=1, high=2 ** 40, low_inclusive=True, integer=True),
}
"""Accepted ranges of the numeric options the modules share (used when a module has the option).

``low``/``high`` bound the value (``low`` exclusive unless ``low_inclusive``,
``high`` inclusive); ``integer`` asks for a whole number."""


def ckpool_argument_spec():
    """Options every ckpool module shares; each module extends a copy of it."""
    return dict(
        socket_dir=dict(type='path', default=DEFAULT_SOCKET_DIR),
        timeout=dict(type='float', default=DEFAULT_TIMEOUT),
    )


def log_argument_spec():
    """Options of the modules that read the instance's files (log, status, users)."""
    return dict(
        log_dir=dict(type='path'),
        config=dict(type='path'),
        instance_name=dict(type='str'),
        log_max_bytes=dict(type='int', default=DEFAULT_LOG_MAX_BYTES),
    )


def number_problem(value, low=None, high=None, low_inclusive=False, integer=False):
    """Return None when ``value`` is a finite number in range, else what is wrong with it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 'is not a number'
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return 'is %s, not a finite number' % value
    if integer and value != int(value):
        return 'is not a whole number'
    if low is not None and (value < low or (value == low and not low_inclusive)):
        return 'must be %s %s' % ('>=' if low_inclusive else '>', low)
    if high is not None and value > high:
        return 'must be <= %s' % high
    return None


class CkpoolModule(object):
    """AnsibleModule wrapper that owns the argument spec, validation, the client, the deadline and fail().

    :param argument_spec: the module's own options (merged over
        :func:`ckpool_argument_spec`).
    :param log_options: add :func:`log_argument_spec` (and make ``log_dir``
        and ``config`` mutually exclusive).
    :param numbers: ``{option: dict(low, high, low_inclusive, integer)}``
        ranges for the module's numeric options, checked with
        :data:`COMMON_NUMBERS` before anything is sent.
    :param client_options: extra keyword arguments for :class:`~ckpool.CkpoolClient`.
    :param kwargs: passed to ``AnsibleModule`` (``mutually_exclusive``, ``required_if``...).

    Attributes: ``module`` (the AnsibleModule), ``params``, ``check_mode``,
    ``client``, ``deadline``, ``warnings`` (collected; emitted by
    :meth:`exit`/:meth:`fail`).
    """

    def __init__(self, argument_spec=None, supports_check_mode=True, client_options=None, numbers=None,
                 log_options=False, **kwargs):
        spec = ckpool_argument_spec()
        if log_options:
            spec.update(log_argument_spec())
            exclusive = list(kwargs.pop('mutually_exclusive', []) or [])
            exclusive.append(('log_dir', 'config'))
            kwargs['mutually_exclusive'] = exclusive
        spec.update(argument_spec or {})
        self.module = AnsibleModule(argument_spec=spec, supports_check_mode=supports_check_mode, **kwargs)
        self.params = self.module.params
        self.check_mode = self.module.check_mode
        self.warnings = []
        self._liveness = None
        self._instance = None
        self.client = None
        socket_dir = self.params['socket_dir']
        if not os.path.isabs(socket_dir):
            self.module.fail_json(msg='socket_dir must be an absolute path, got %r' % socket_dir,
                                  commands=[], changed=False)
        ranges = dict(COMMON_NUMBERS)
        ranges.update(numbers or {})
        for name in sorted(ranges):
            if name in self.params and self.params[name] is not None:
                problem = number_problem(self.params[name], **ranges[name])
                if problem:
                    self.module.fail_json(msg='%s %s, got %r; nothing was sent' % (name, problem, self.params[name]),
                                          commands=[], changed=False)
        self.deadline = Deadline(self.params['timeout'], what='timeout')
        options = dict(socket_dir=socket_dir, timeout=self.params['timeout'], check_mode=self.check_mode,
                       deadline=self.deadline)
        options.update(client_options or {})
        self.client = CkpoolClient(**options)

    # -- time ---------------------------------------------------------------------------------
    def extend_deadline(self, seconds, what):
        """Allow the run ``seconds`` more of socket work (a documented wait such as ``wait_timeout``)."""
        self.deadline.extend(seconds, what)

    # -- results ----------------------------------------------------------------------------------
    def warn(self, message):
        if message not in self.warnings:
            self.warnings.append(message)

    def result_base(self):
        return dict(socket_dir=self.params['socket_dir'], commands=self.client.audit if self.client else [])

    def _emit_warnings(self):
        for message in self.warnings:
            self.module.warn(message)

    def delivered_text(self):
        """Describe the mutating commands delivered so far, or None."""
        if not self.client or not self.client.delivered:
            return None
        return ', '.join('%s to the %s' % (command, sock) for sock, command in self.client.delivered)

    def fail(self, msg, **kwargs):
        """Fail with context; ``changed`` is true whenever a mutating command was delivered."""
        result = self.result_base()
        result.update(kwargs)
        delivered = self.delivered_text()
        if delivered:
            result['changed'] = True
            msg = '%s; %s %s delivered to ckpool before this failure and may have taken effect' % (
                msg, delivered, 'was' if len(self.client.delivered) == 1 else 'were')
        else:
            result.setdefault('changed', False)
        self._emit_warnings()
        self.module.fail_json(msg=msg, **result)

    def fail_from(self, exc, prefix=None, **kwargs):
        msg = str(exc) if prefix is None else '%s: %s' % (prefix, exc)
        details = exc.to_dict() if isinstance(exc, CkpoolError) else dict(kind='error', message=str(exc))
        self.fail(msg, error=details, **kwargs)

    def exit(self, **kwargs):
        result = self.result_base()
        result.setdefault('changed', False)
        result.update(kwargs)
        self._emit_warnings()
        self.module.exit_json(**result)

    # -- is it running, and who serves this socket directory ----------------------------------------
    def liveness(self, refresh=False, prove=True):
        """Ask the listener whether ckpool runs here, and prove which process serves the directory.

        Sends one ``ping`` to the listener (a read).  The process listening on
        the socket is learned from the connection itself (``SO_PEERCRED``, so
        a hung listener reveals it too) and proven with
        :func:`~process.prove_owner`.

        :returns: ``{"running": bool (a process listens on DIR/listener),
            "answering": bool (it answered pong), "pid": proven owner or None,
            "owner": process facts of the proven owner or None,
            "owner_problem": why no owner is proven (or None), "error": the
            CkpoolError of the ping or None, "ms": how long the ping took,
            "pid_file_pid": what main.pid says (a hint) or None}``.
        With ``prove=False`` (only "does it run and answer" is needed) the
        owner is not looked up, which spares loading the /proc code; a later
        call with ``prove=True`` completes it from the same connection.

        :raises: fails the module on permission denied (nothing can be known).
        """
        if self._liveness is not None and not refresh:
            if prove and not self._liveness['proven']:
                self._prove(self._liveness)
            return self._liveness
        client = self.client
        client.peers.pop('listener', None)
        state = dict(running=False, answering=False, pid=None, owner=None, owner_problem=None, error=None,
                     pid_file_pid=None, ms=None, peer=None, proven=False)
        calls = len(client.audit)
        try:
            client.ping('listener')
            state['answering'] = True
            state['running'] = True
        except CkpoolPermissionDenied as exc:
            self.fail_from(exc)
        except CkpoolNotRunning as exc:
            state['error'] = exc
        except CkpoolError as exc:
            state['error'] = exc
        if len(client.audit) > calls:
            state['ms'] = client.audit[-1]['ms']
        state['peer'] = client.peers.get('listener')
        if state['peer'] is not None:
            state['running'] = True
        try:
            state['pid_file_pid'] = client.read_pid()
        except CkpoolError as exc:
            state['pid_file_problem'] = str(exc)
        self._liveness = state
        if prove:
            self._prove(state)
        return state

    def _prove(self, state):
        """Prove which process serves the directory from the listener's peer (see :meth:`liveness`)."""
        state['proven'] = True
        peer = state['peer']
        if peer is not None:
            from ansible_collections.ckpool.fleet.plugins.module_utils import process
            owner, problem = process.prove_owner(peer[0], self.client.socket_dir)
            if owner is not None:
                state['owner'] = owner
                state['pid'] = owner['pid']
            else:
                state['owner_problem'] = problem
        elif state['running']:
            state['owner_problem'] = 'the kernel did not name the process listening on the socket'
        if state['pid'] is not None and state['pid_file_pid'] is not None and state['pid_file_pid'] != state['pid']:
            self.warn('main.pid in %s names pid %s, but pid %s serves the sockets (a stale pid file); the pid '
                      'file is ignored' % (self.client.socket_dir, state['pid_file_pid'], state['pid']))

    def not_running_text(self, live):
        """Explain why ckpool is not considered running here."""
        error = live.get('error')
        text = 'ckpool is not running in %s' % self.client.socket_dir
        if error is not None:
            text = '%s (%s)' % (text, error.message)
        return text

    def require_running(self, what, **context):
        """Fail unless a process listens on the listener socket; return :meth:`liveness`.

        ``what`` completes the message: "cannot <what>"; ``context`` goes into
        the failure result (with ``pid_file_pid``).
        """
        live = self.liveness()
        if not live['running']:
            if context.get('pid_file_pid') is None:
                context['pid_file_pid'] = live['pid_file_pid']
            self.fail('%s: cannot %s' % (self.not_running_text(live), what), **context)
        if not live['answering'] and isinstance(live.get('error'), CkpoolDeadlineExceeded):
            self.warn('the listener of %s accepted the connection but did not answer ping within the deadline'
                      % self.client.socket_dir)
        return live

    # -- the instance's files ----------------------------------------------------------------------------
    def instance(self, log=True):
        """Resolve the instance's log directory and name once: ``LOGDIR/NAME.log`` and friends.

        With ``log=False`` (only ``pool.status``/``users/`` are needed) and
        option ``log_dir`` set, nothing is asked from the sockets.

        Sources, first match wins:

        * log directory: option ``log_dir``; ``logdir`` of option ``config``
          (relative to the running process's working directory, or to the
          config file's directory when stopped); ``logdir`` of the config the
          running process was started with (``-c``, default ``NAME.conf`` in
          its working directory; ckpool's default ``logs``);
        * name: the running process's ``-n`` (or its mode's default name:
          ``ckpool``, ``ckproxy``, ``ckpassthrough``, ``cknode``,
          ``ckredirector``; solo ``-B`` keeps ``ckpool``); option
          ``instance_name`` for a stopped instance (given for a running one,
          it must agree); ``ckpool``.

        :returns: ``{"log_dir" (None when unknown), "log_dir_source":
            "option"|"config"|"process"|None, "name", "name_source":
            "process"|"option"|"default", "mode" (None when stopped),
            "log_name" (file name of the log in the log directory), "log_file"
            (None when the log directory is unknown), "pid",
            "problem" (why the log directory is unknown, or None)}``.
        """
        if self._instance is not None and (self._instance['resolved_log'] or not log):
            return self._instance
        params = self.params
        if not log and params.get('log_dir'):
            self._instance = dict(log_dir=params['log_dir'], log_dir_source='option', name=None,
                                  name_source=None, mode=None, log_name=None, log_file=None, pid=None, problem=None,
                                  resolved_log=False)
            return self._instance
        from ansible_collections.ckpool.fleet.plugins.module_utils import process
        from ansible_collections.ckpool.fleet.plugins.module_utils.safe_files import CkpoolFileError
        live = self.liveness()
        owner = live['owner']
        described = process.describe_instance(owner, self.client.socket_dir) if owner else None
        wanted = params.get('instance_name')
        if wanted is not None and (not wanted or '/' in wanted or wanted in ('.', '..')
                                   or any(ord(c) < 32 for c in wanted)):
            self.fail('instance_name %r is not a usable instance name (it names LOGDIR/NAME.log)' % (wanted,))
        result = dict(log_dir=None, log_dir_source=None, name='ckpool', name_source='default',
                      mode=described['mode'] if described else None, log_file=None,
                      pid=live['pid'], problem=None, resolved_log=True)
        if described is not None:
            if wanted is not None and wanted != described['name']:
                self.fail('instance_name %r does not match the running instance in %s, which pid %d runs as %r '
                          '(%s)' % (wanted, self.client.socket_dir, described['pid'], described['name'],
                                    'its -n argument' if described['name_source'] == 'argument'
                                    else 'the default name of its mode'))
            result.update(name=described['name'], name_source='process')
        elif wanted is not None:
            result.update(name=wanted, name_source='option')
        if params.get('log_dir'):
            result.update(log_dir=params['log_dir'], log_dir_source='option')
        elif params.get('config'):
            try:
                config = process.read_config(params['config'])
            except CkpoolFileError as exc:
                self.fail('cannot read config %s: %s' % (params['config'], exc.reason))
            base = (described and described['cwd']) or os.path.dirname(os.path.abspath(params['config']))
            result.update(log_dir=process.config_logdir(config, base), log_dir_source='config')
        elif owner is not None:
            try:
                found = process.discover_instance(owner['pid'])
                result.update(log_dir=found['log_dir'], log_dir_source='process')
            except CkpoolFileError as exc:
                result['problem'] = ('cannot discover the log directory of pid %d: %s; set log_dir or config'
                                     % (owner['pid'], exc))
        elif live['running']:
            result['problem'] = ('cannot tell which process serves %s (%s); set log_dir or config'
                                 % (self.client.socket_dir, live['owner_problem']))
        else:
            result['problem'] = 'ckpool is not running and neither log_dir nor config is set'
        # ckpool names its log after the instance: LOGDIR/NAME.log (-n NAME)
        result['log_name'] = result['name'] + '.log'
        if result['log_dir']:
            result['log_file'] = os.path.join(result['log_dir'], result['log_name'])
        self._instance = result
        return result

    def log_opener(self):
        """A function opening the instance's log below its log directory (no link followed, non-blocking)."""
        from ansible_collections.ckpool.fleet.plugins.module_utils.safe_files import open_file_below
        found = self.instance()
        if not found['log_dir']:
            return None

        def opener():
            return open_file_below(found['log_dir'], [found['log_name']])[0]
        return opener
