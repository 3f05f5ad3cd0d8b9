#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: ckpool_shutdown
short_description: Stop a running ckpool instance through its listener
version_added: 0.1.0
description:
  - Sends C(shutdown) to the instance's listener (ckpool answers C(exiting) and is gone milliseconds later)
    and waits until the pid from C(main.pid) has exited.
  - An instance that is already stopped is not a failure; the module reports V(changed=false). ckpool leaves
    its four socket files behind after a shutdown, so the module judges by the pid, not by the sockets.
  - With O(force=true), when the listener does not answer or the process outlives O(wait_timeout), the module
    sends SIGTERM and then SIGKILL to the pid from C(main.pid), but only after verifying that this pid is a
    ckpool process.
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
    details: In check mode nothing is sent; C(changed) tells whether the instance would be stopped.
  diff_mode:
    support: full
  action_group:
    support: full
options:
  wait_timeout:
    description: Seconds to wait for the process to exit after C(shutdown) (and after each signal with O(force)).
    type: float
    default: 30
  force:
    description:
      - Escalate to SIGTERM, then SIGKILL, when the listener does not answer or the process does not exit in
        time. The pid is signalled only if it is verified to be a ckpool process.
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
  description: The pid that was (or would be) stopped, null when none was running.
  returned: always
  type: int
  sample: 4242
was_running:
  description: Whether the instance was running before the module acted.
  returned: always
  type: bool
  sample: true
stopped:
  description: Whether the process is gone at the end (false in check mode when it was running).
  returned: always
  type: bool
  sample: true
method:
  description: How it was stopped, C(shutdown), C(sigterm) or C(sigkill); null when nothing was done.
  returned: always
  type: str
  sample: shutdown
elapsed:
  description: Seconds from sending C(shutdown) until the pid was gone.
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

from ansible_collections.ckpool.fleet.plugins.module_utils.ckpool import CkpoolError
from ansible_collections.ckpool.fleet.plugins.module_utils.module_base import CkpoolModule
from ansible_collections.ckpool.fleet.plugins.module_utils import process
from ansible_collections.ckpool.fleet.plugins.module_utils import safe_files


def wait_gone(client, pid, timeout):
    deadline = time.monotonic() + timeout
    while client.pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def main():
    cm = CkpoolModule(argument_spec=dict(
        wait_timeout=dict(type='float', default=30.0),
        force=dict(type='bool', default=False),
    ), supports_check_mode=True)
    client = cm.client
    wait_timeout = cm.params['wait_timeout']
    if wait_timeout <= 0:
        cm.fail('wait_timeout must be positive')

    try:
        pid = client.read_pid()
    except CkpoolError as exc:
        cm.fail_from(exc)
    running = client.pid_alive(pid)
    result = dict(pid=pid if running else None, was_running=running, stopped=not running, method=None,
                  elapsed=0.0)
    if cm.module._diff:
        result['diff'] = dict(before='running: %s\npid: %s\n' % (str(running).lower(), pid if running else 'null'),
                              after='running: false\npid: null\n')
    if not running or cm.check_mode:
        cm.exit(changed=running, **result)

    started = time.monotonic()
    problem = None
    try:
        client.listener_verb('shutdown')
        result['method'] = 'shutdown'
    except CkpoolError as exc:
        problem = exc
    if problem is None and wait_gone(client, pid, wait_timeout):
        result.update(stopped=True, elapsed=round(time.monotonic() - started, 3))
        cm.exit(changed=True, **result)
    if problem is None:
        problem = 'pid %d still running %.1f s after shutdown' % (pid, wait_timeout)
    if not cm.params['force']:
        if isinstance(problem, CkpoolError):
            cm.fail_from(problem, prefix='shutdown failed (force=true would escalate to signals)', **result)
        cm.fail('%s (force=true would escalate to signals)' % problem, **result)

    if not client.pid_alive(pid):
        result.update(stopped=True, elapsed=round(time.monotonic() - started, 3))
        cm.exit(changed=True, **result)
    try:
        # ckpool writes main.pid after it starts: a process younger than the file is a reused pid
        pid_written = os.stat(client.pid_file).st_mtime
    except OSError:
        pid_written = None
    try:
        is_ckpool = process.is_ckpool_process(pid, started_before=pid_written)
    except (safe_files.CkpoolFileError, ValueError) as exc:
        cm.fail('refusing to signal pid %d: cannot verify it is ckpool: %s' % (pid, exc), **result)
    if not is_ckpool:
        cm.fail('refusing to signal pid %d from %s: it is not a ckpool process (or started after the pid file '
                'was written: a reused pid)' % (pid, client.pid_file), **result)
    for sig, name in ((signal.SIGTERM, 'sigterm'), (signal.SIGKILL, 'sigkill')):
        try:
            os.kill(pid, sig)
        except OSError as exc:
            if client.pid_alive(pid):
                cm.fail('cannot send %s to pid %d: %s' % (name.upper(), pid, exc), **result)
        result['method'] = name
        if wait_gone(client, pid, wait_timeout):
            result.update(stopped=True, elapsed=round(time.monotonic() - started, 3))
            cm.module.warn('ckpool pid %d needed %s: %s' % (pid, name.upper(), problem))
            cm.exit(changed=True, **result)
    cm.fail('pid %d survived SIGKILL for %.1f s' % (pid, wait_timeout), **result)


if __name__ == '__main__':
    main()
