#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: ckpool_restart
short_description: Restart a running ckpool seamlessly through its listener (handover)
version_added: 0.1.0
description:
  - Sends C(restart) to the instance's listener. ckpool answers C(restarting), forks and re-executes itself with
    C(-H); the new process takes over the stratum listening socket, so miners see no refused connection, and
    tells the old process to exit. Connected miners get C(client.reconnect) and come back to the new process.
  - The module then waits until a B(new) pid owns C(main.pid), that pid is alive, and the listener and the
    stratifier of the new process answer C(ping). ckpool writes C(main.pid) only after the old process has
    exited, so in between the file holds the old pid or is missing; the module waits through that.
  - It fails with a message naming what was last seen (old pid still in C(main.pid), no pid file, a new pid
    whose sockets do not answer) when this does not happen within O(wait_timeout).
  - A stopped instance cannot be restarted this way (there is nobody to hand over from); the module fails and
    says so. Start it with its service instead.
  - ckpool re-executes the binary by the path it was started with and re-reads its configuration, so a
    handover also picks up a new binary or configuration. It does not pick up changes to a systemd unit.
author:
  - ckpool.fleet contributors (@ckpool-fleet)
extends_documentation_fragment:
  - ckpool.fleet.ckpool
  - ckpool.fleet.ckpool.attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode nothing at all is sent to ckpool; the module reads C(main.pid) and reports V(changed=true)
        when the instance is running (a restart always changes the pid).
  diff_mode:
    support: full
  action_group:
    support: full
options:
  wait_timeout:
    description:
      - Seconds to wait, after ckpool answered C(restarting), for a new live pid in C(main.pid) whose listener and
        stratifier answer C(ping).
    type: float
    default: 30
  poll_interval:
    description: Seconds between two looks at C(main.pid) and the sockets while waiting.
    type: float
    default: 0.05
  gate:
    description:
      - Health gates around the restart, with the checks of M(ckpool.fleet.ckpool_health). Without it there are
        no gates.
      - The B(pre-gate) reads the gate's instances once before anything is sent; when a check fails the module
        fails and sends nothing (also in check mode, where it is the only thing that runs).
      - The B(post-gate) runs once the new process answers on both sockets - C(readings) readings C(interval)
        seconds apart, each of which must pass every check, the restarted instance also C(new_process) (a pid
        other than the old one). Worker and hashrate minimums are not judged on the young process (see
        M(ckpool.fleet.ckpool_health)).
      - "Keys - C(instances): every instance of the host as P(ckpool.fleet.instances#filter) returns them, so
        that the gates judge the whole host (restarting a host instance by instance, an instance whose post-gate
        failed makes the next instance's pre-gate fail); the restarted one is the one whose C(socket_dir) is
        O(socket_dir). Or C(instance): only the restarted instance (C(name), C(socket_dir), C(log_dir), C(mode),
        C(stratum_host), C(stratum_port), ...). Default one instance named V(ckpool) in O(socket_dir) without
        stratum checks. C(readings) (default V(1)) and C(interval) (seconds, default V(0)) for the post-gate.
        The thresholds of M(ckpool.fleet.ckpool_health) with the same names and defaults - C(stale_after),
        C(min_workers), C(min_hashrate_1m), C(min_hashrate_5m), C(max_reject_ratio), C(stratum_timeout),
        C(stratum_user_agent), C(status_interval). Socket calls use O(timeout)."
    type: dict
    version_added: 0.2.0
notes:
  - A real ckpool waits up to 500 ms for the old process to exit before it signals it, so a handover usually
    completes within a second.
seealso:
  - module: ckpool.fleet.ckpool_info
  - module: ckpool.fleet.ckpool_shutdown
'''

EXAMPLES = r'''
- name: Restart the instance whose sockets are in /run/ckpool/main, without refusing a miner
  ckpool.fleet.ckpool_restart:
    socket_dir: /run/ckpool/main
  register: restarted

- name: Show the handover
  ansible.builtin.debug:
    msg: "pid {{ restarted.old_pid }} -> {{ restarted.new_pid }} in {{ restarted.duration }} s"

- name: Restart behind health gates - healthy before, and twice healthy 2 s apart after
  ckpool.fleet.ckpool_restart:
    socket_dir: /run/ckpool/main
    gate:
      instance: {name: main, socket_dir: /run/ckpool/main, log_dir: /var/log/ckpool/main, stratum_port: 3333}
      readings: 2
      interval: 2
      min_workers: 1

- name: Give a loaded pool more time to hand over
  ckpool.fleet.ckpool_restart:
    socket_dir: /run/ckpool/main
    wait_timeout: 60
'''

RETURN = r'''
old_pid:
  description: The pid that owned C(main.pid) before the restart, null when the instance was not running.
  returned: always
  type: int
  sample: 4242
new_pid:
  description:
    - The pid that owns C(main.pid) after the handover. Null in check mode, and on failure when no new pid was
      seen.
  returned: always
  type: int
  sample: 4251
duration:
  description:
    - Seconds from sending C(restart) until the new process answered on both sockets. V(0.0) in check mode.
  returned: always
  type: float
  sample: 0.62
pid_seen:
  description:
    - Seconds from sending C(restart) until the new pid first appeared in C(main.pid). Null when it never did
      and in check mode.
  returned: always
  type: float
  sample: 0.55
commands:
  description:
    - Every command sent to ckpool during this run, in order. C(reply) is null when ckpool closed the connection
      without answering. While the new process starts, pings that found its sockets not yet ready appear with
      an C(error) kind.
  returned: always
  type: list
  elements: dict
  sample:
    - {"socket": "listener", "command": "restart", "reply": "restarting", "ms": 0.4}
    - {"socket": "listener", "command": "ping", "reply": "pong", "ms": 0.2}
    - {"socket": "stratifier", "command": "ping", "reply": "pong", "ms": 0.2}
pre_gate:
  description: The pre-gate reading, per instance name (RV(ckpool.fleet.ckpool_health#module:instances)).
  returned: with O(gate)
  type: dict
  sample: {"main": {"healthy": true, "failing": [], "checks": [{"name": "process", "value": 4242, "ok": true}]}}
post_gate:
  description: The last post-gate reading per instance name (the failing one when one failed).
  returned: with O(gate), once the new process answered
  type: dict
  sample: {"main": {"healthy": true, "failing": [], "pid": 4251}}
post_gate_readings:
  description: Each post-gate reading, C({healthy, unhealthy, seconds}).
  returned: with O(gate), once the new process answered
  type: list
  elements: dict
  sample: [{"healthy": true, "unhealthy": [], "seconds": 0.004}]
socket_dir:
  description: The socket directory the module worked on.
  returned: always
  type: str
  sample: /run/ckpool/main
'''

import time

from ansible_collections.ckpool.fleet.plugins.module_utils.ckpool import (
    CkpoolError,
    CkpoolMalformedReply,
    CkpoolPermissionDenied,
)
from ansible_collections.ckpool.fleet.plugins.module_utils import health
from ansible_collections.ckpool.fleet.plugins.module_utils.module_base import CkpoolModule


def read_pid_quietly(client):
    """The pid in main.pid, or None while it is missing or being rewritten."""
    try:
        return client.read_pid()
    except CkpoolMalformedReply:
        # A pid file caught while being written (empty or partial): look again.
        return None


def wait_for_new_process(client, old_pid, wait_timeout, poll_interval, started):
    """Wait until a new live pid owns main.pid and listener + stratifier answer ping.

    Returns (new_pid, pid_seen_seconds, problem); problem is None on success."""
    deadline = started + wait_timeout
    new_pid = None
    pid_seen = None
    problem = 'main.pid still holds the old pid %d' % old_pid
    while True:
        pid = read_pid_quietly(client)
        if pid is None:
            problem = 'main.pid is missing (the old process exited, the new one has not written it yet)'
        elif pid == old_pid:
            if client.pid_alive(old_pid):
                problem = 'main.pid still holds the old pid %d, which is still running' % old_pid
            else:
                problem = 'main.pid still holds the old pid %d, which has exited' % old_pid
        elif not client.pid_alive(pid):
            problem = 'main.pid holds pid %d, which is not running' % pid
        else:
            if new_pid != pid:
                new_pid = pid
                pid_seen = round(time.monotonic() - started, 3)
            left = deadline - time.monotonic()
            if left <= 0:
                break
            answered = True
            for sock in ('listener', 'stratifier'):
                try:
                    client.ping(sock, timeout=max(0.05, min(client.timeout, left)))
                except CkpoolPermissionDenied:
                    raise
                except CkpoolError as exc:
                    answered = False
                    problem = 'new pid %d is running but its %s does not answer: %s' % (pid, sock, exc)
                    break
            if answered:
                return new_pid, pid_seen, None
        if time.monotonic() + poll_interval >= deadline:
            break
        time.sleep(poll_interval)
    return new_pid, pid_seen, problem


def run_gate(cm, gate, readings, interval, previous_pid=None):
    """One gate: the ckpool_health checks of the gate's instances, ``readings`` times ``interval`` s apart."""
    options = dict(gate['options'])
    options['timeout'] = cm.params['timeout']
    previous = {gate['target']: previous_pid} if previous_pid is not None else None
    reading = health.check_instances(gate['instances'], options, readings=readings, interval=interval,
                                     previous_pids=previous)
    cm.client.audit.extend(reading['commands'])
    return reading


def main():
    cm = CkpoolModule(argument_spec=dict(
        wait_timeout=dict(type='float', default=30.0),
        poll_interval=dict(type='float', default=0.05),
        gate=dict(type='dict'),
    ), supports_check_mode=True)
    client = cm.client
    params = cm.params
    if params['wait_timeout'] <= 0 or params['wait_timeout'] > 3600:
        cm.fail('wait_timeout must be > 0 and <= 3600 seconds, got %r' % params['wait_timeout'])
    if params['poll_interval'] <= 0 or params['poll_interval'] > 10:
        cm.fail('poll_interval must be > 0 and <= 10 seconds, got %r' % params['poll_interval'])

    gate = None
    if params['gate'] is not None:
        gate = health.parse_gate(params['gate'], params['socket_dir'])
        if gate['problems']:
            cm.fail('; '.join(gate['problems']))
    result = dict(old_pid=None, new_pid=None, duration=0.0, pid_seen=None)
    try:
        old_pid = client.read_pid()
    except CkpoolError as exc:
        cm.fail_from(exc, prefix='cannot read the pid of the running ckpool', **result)
    if old_pid is None or not client.pid_alive(old_pid):
        cm.fail('ckpool is not running in %s (%s): a handover restart needs a running instance; start it with '
                'its service instead' % (client.socket_dir, 'no main.pid' if old_pid is None
                                         else 'pid %d from main.pid is not running' % old_pid), **result)
    result['old_pid'] = old_pid
    if gate is not None:
        reading = run_gate(cm, gate, readings=1, interval=0.0)
        result['pre_gate'] = reading['instances']
        if not reading['healthy']:
            cm.fail('pre-gate failed, nothing was sent: %s' % health.summary(reading['instances']), **result)
    if cm.module._diff:
        result['diff'] = dict(before='pid: %d\n' % old_pid, after='pid: (new process)\n')
    if cm.check_mode:
        cm.exit(changed=True, **result)

    started = time.monotonic()
    try:
        client.listener_verb('restart')
    except CkpoolError as exc:
        cm.fail_from(exc, prefix='ckpool did not accept the restart', **result)

    try:
        new_pid, pid_seen, problem = wait_for_new_process(client, old_pid, params['wait_timeout'],
                                                          params['poll_interval'], started)
    except CkpoolError as exc:
        cm.fail_from(exc, prefix='handover restart of pid %d' % old_pid, changed=True, **result)
    result.update(new_pid=new_pid, pid_seen=pid_seen, duration=round(time.monotonic() - started, 3))
    if 'diff' in result and new_pid:
        result['diff']['after'] = 'pid: %d\n' % new_pid
    if problem is not None:
        cm.fail('handover restart of pid %d did not complete within %.1f s: %s'
                % (old_pid, params['wait_timeout'], problem), changed=True, **result)
    if gate is not None:
        reading = run_gate(cm, gate, readings=gate['readings'], interval=gate['interval'], previous_pid=old_pid)
        result['post_gate'] = reading['instances']
        result['post_gate_readings'] = reading['readings']
        if not reading['healthy']:
            cm.fail('post-gate failed after the handover of pid %d to %s: %s'
                    % (old_pid, new_pid, health.summary(reading['instances'])), changed=True, **result)
    cm.exit(changed=True, **result)


if __name__ == '__main__':
    main()
