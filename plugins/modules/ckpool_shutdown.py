#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: ckpool_shutdown
short_description: Stop a running ckpool instance through its listener
version_added: 0.1.0
description:
  - Sends C(shutdown) to the instance's listener (ckpool answers C(exiting) and is gone milliseconds later),
    then waits until the process that served O(socket_dir) has exited and the listener refuses connections.
  - Whether the instance runs is asked from the listener, not from C(main.pid) (a missing or stale pid file
    proves nothing). ckpool leaves its socket files behind after a shutdown; a socket that refuses connections
    means stopped. An instance that is already stopped is not a failure; the module reports V(changed=false).
  - The process is identified by the kernel, never by its name or the pid file - it is the process holding the
    listening socket C(SOCKET_DIR/listener) - and recorded with its start time.
  - With O(force=true), when the listener does not answer or the process outlives its share of O(wait_timeout),
    the module sends SIGTERM and then SIGKILL to that process, checking right before each signal that the pid
    is still the same process (same start time, so a recycled pid is never signalled). A process that cannot be
    proven to serve O(socket_dir) (for example another user's process that this user may not inspect) is never
    signalled.
  - Once C(shutdown) was delivered, a failure reports V(changed=true), because ckpool may have acted on it.
  - Miners connected to the instance are disconnected. Use the rolling restart or a redirect first on a
    production pool.
author:
  - ckpool.fleet contributors (@ckpool-fleet)
extends_documentation_fragment:
  - ckpool.fleet.ckpool
  - ckpool.fleet.ckpool.attributes
attributes:
  check_mode:
    support: full
    details: In check mode only C(ping) is sent; C(changed) tells whether the instance would be stopped.
  diff_mode:
    support: full
  action_group:
    support: full
options:
  wait_timeout:
    description:
      - Seconds to wait, all in all, for the process to exit and its listener to refuse connections (more than 0, at
        most 86400). With O(force), the C(shutdown) gets the first 60 % of it, SIGTERM the next 30 % and SIGKILL the
        rest.
      - The module ends within O(wait_timeout) + O(timeout) and about a second more.
    type: float
    default: 30
  force:
    description:
      - Escalate to SIGTERM, then SIGKILL, when the listener does not answer or the process does not exit in
        time. Only the process proven to serve O(socket_dir) is signalled.
    type: bool
    default: false
seealso:
  - module: ckpool.fleet.ckpool_info
'''

EXAMPLES = r'''
- name: Stop the instance whose sockets are in /run/ckpool
  ckpool.fleet.ckpool_shutdown:
    socket_dir: /run/ckpool

- name: Stop it even if its listener hangs
  ckpool.fleet.ckpool_shutdown:
    socket_dir: /run/ckpool
    force: true
    wait_timeout: 10
'''

RETURN = r'''
pid:
  description: The process that served O(socket_dir) and was (or would be) stopped, null when none was running.
  returned: always
  type: int
  sample: 4242
pid_file_pid:
  description: What C(main.pid) said, a hint only (null when missing); a disagreement with RV(pid) is warned about.
  returned: always
  type: int
  sample: 4242
was_running:
  description: Whether the instance was running (its listener accepted a connection) before the module acted.
  returned: always
  type: bool
  sample: true
stopped:
  description: Whether the process is gone and the listener refuses connections at the end (false in check mode
    when it was running).
  returned: always
  type: bool
  sample: true
method:
  description: How it was stopped, C(shutdown), C(sigterm) or C(sigkill); null when nothing was done.
  returned: always
  type: str
  sample: shutdown
elapsed:
  description: Seconds from sending C(shutdown) (or the first signal) until the process was gone.
  returned: always
  type: float
  sample: 0.05
commands:
  description:
    - Every command sent to ckpool during this run, in order. C(reply) is null when ckpool closed the connection
      without answering.
  returned: always
  type: list
  elements: dict
  sample: [{"socket": "listener", "command": "shutdown", "reply": "exiting", "ms": 0.3}]
socket_dir:
  description: The socket directory the module worked on.
  returned: always
  type: str
  sample: /run/ckpool
'''

import os
import signal
import time

from ansible_collections.ckpool.fleet.plugins.module_utils.ckpool import (
    CkpoolDeadlineExceeded,
    CkpoolError,
    CkpoolNotRunning,
)
from ansible_collections.ckpool.fleet.plugins.module_utils.module_base import CkpoolModule
from ansible_collections.ckpool.fleet.plugins.module_utils import process


def wait_gone(owner, until):
    """Wait until the proven owner is gone (or, without one, return at once); True when gone."""
    while process.same_process(owner):
        if time.monotonic() >= until:
            return False
        time.sleep(0.02)
    return True


def confirm_stopped(cm, owner, until):
    """After the owner left: ``(stopped, text)``, pinging the listener until it refuses.

    A multi-threaded process shows as a zombie while its last threads still
    close its files, so its own listener may still accept for a moment: that
    is waited out (until ``until``, at least a second); any other process
    answering means the directory is served again.
    """
    until = max(until, time.monotonic() + 1.0)
    while True:
        stopped, text = listener_state(cm)
        peer = cm.client.peers.get('listener')
        if stopped or owner is None or peer is None or peer[0] != owner['pid'] or time.monotonic() >= until:
            return stopped, text
        time.sleep(0.02)


def listener_state(cm):
    """``(stopped, text)`` from one ping of the listener."""
    client = cm.client
    client.peers.pop('listener', None)
    try:
        client.ping('listener')
    except CkpoolNotRunning:
        return True, None
    except CkpoolDeadlineExceeded as exc:
        peer = client.peers.get('listener')
        if peer is None:
            return False, 'the listener could not be checked: %s' % exc.message
        return False, 'pid %d now listens on %s but does not answer' % (peer[0], client.path('listener'))
    except CkpoolError as exc:
        peer = client.peers.get('listener')
        if peer is None:
            return True, None
        text = 'pid %d now listens on %s but does not answer (%s)' % (peer[0], client.path('listener'), exc.message)
        return False, text
    peer = client.peers.get('listener')
    return False, 'pid %s now serves %s (restarted by its service manager?)' % (
        peer[0] if peer else 'unknown', client.socket_dir)


def main():
    cm = CkpoolModule(argument_spec=dict(
        wait_timeout=dict(type='float', default=30.0),
        force=dict(type='bool', default=False),
    ), supports_check_mode=True)
    params = cm.params
    client = cm.client
    wait_timeout = params['wait_timeout']

    live = cm.liveness()
    running = live['running']
    owner = live['owner']
    result = dict(pid=live['pid'], pid_file_pid=live['pid_file_pid'], was_running=running, stopped=not running,
                  method=None, elapsed=0.0)
    if not running:
        if live['pid_file_pid'] is not None and client.pid_alive(live['pid_file_pid']):
            cm.warn('main.pid names pid %d, which is alive, but nothing listens on %s: it is not this instance '
                    '(a stale pid file) and was not touched' % (live['pid_file_pid'], client.path('listener')))
        cm.exit(changed=False, **result)
    if cm.module._diff:
        result['diff'] = dict(before='running: true\npid: %s\n' % (live['pid'] if live['pid'] else 'unknown'),
                              after='running: false\npid: null\n')
    if cm.check_mode:
        cm.exit(changed=True, **result)

    cm.extend_deadline(wait_timeout, 'timeout + wait_timeout')
    started = time.monotonic()
    waits_end = started + wait_timeout
    shutdown_until = started + (wait_timeout * 0.6 if params['force'] else wait_timeout)
    problem = None
    if live['answering']:
        try:
            client.listener_verb('shutdown')
            result['method'] = 'shutdown'
        except CkpoolError as exc:
            problem = exc
    else:
        problem = live['error']

    if client.delivered:
        # shutdown reached ckpool (answered or not): wait for the process to go and the listener to refuse
        if owner is None or wait_gone(owner, shutdown_until):
            stopped, text = confirm_stopped(cm, owner, shutdown_until)
            while not stopped and owner is None and time.monotonic() < shutdown_until:
                time.sleep(0.05)
                stopped, text = listener_state(cm)
            if stopped:
                result.update(stopped=True, elapsed=round(time.monotonic() - started, 3))
                if problem is not None:
                    cm.warn('ckpool stopped although its answer to shutdown failed: %s' % problem)
                cm.exit(changed=True, **result)
            if owner is not None:
                cm.fail('pid %d exited after shutdown, but %s' % (owner['pid'], text), **result)
            problem = 'the listener still accepts connections %.1f s after shutdown' % (shutdown_until - started)
        else:
            problem = 'pid %d still running %.1f s after shutdown%s' % (
                owner['pid'], shutdown_until - started, ' (%s)' % problem if problem is not None else '')
    if not params['force']:
        if isinstance(problem, CkpoolError):
            cm.fail_from(problem, prefix='shutdown failed (force=true would escalate to signals)', **result)
        cm.fail('%s (force=true would escalate to signals)' % problem, **result)

    if owner is None:
        cm.fail('refusing to signal: no process is proven to serve %s (%s); %s'
                % (client.socket_dir, live['owner_problem'], problem), **result)
    pid = owner['pid']
    stages = ((signal.SIGTERM, 'sigterm', started + wait_timeout * 0.9), (signal.SIGKILL, 'sigkill', waits_end))
    for sig, name, until in stages:
        # Right before the signal: is this pid still the process proven to serve the socket directory?
        if not process.same_process(owner):
            break
        try:
            os.kill(pid, sig)
        except OSError as exc:
            if process.same_process(owner):
                cm.fail('cannot send %s to pid %d: %s' % (name.upper(), pid, exc), **result)
        result['method'] = name
        if wait_gone(owner, until):
            break
    else:
        cm.fail('pid %d survived SIGKILL for %.1f s' % (pid, waits_end - started), **result)
    stopped, text = confirm_stopped(cm, owner, waits_end)
    result.update(stopped=stopped, elapsed=round(time.monotonic() - started, 3))
    if not stopped:
        cm.fail('pid %d is gone, but %s' % (pid, text), **result)
    cm.warn('ckpool pid %d needed %s: %s' % (pid, (result['method'] or 'nothing').upper(), problem))
    cm.exit(changed=True, **result)


if __name__ == '__main__':
    main()
