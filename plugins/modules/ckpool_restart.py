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
  - The module then waits until a B(new) process serves O(socket_dir) - the kernel names the process that holds
    the listening socket C(SOCKET_DIR/listener), which must differ from the one found before the restart - and
    its listener and stratifier answer C(ping). C(main.pid) is not trusted for this (ckpool writes it only after
    the old process has exited, and a stale one can name any process); it is reported as RV(pid_file_pid).
  - It fails with a message naming what was last seen (the old process still serving, no listener, a new
    process whose sockets do not answer) when this does not happen within O(wait_timeout).
  - Once C(restart) was delivered, a failure reports V(changed=true), because ckpool may have acted on it, also when its
    answer came too late.
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
      - In check mode only C(ping) is sent to ckpool (to learn whether it runs); the module reports
        V(changed=true) when the instance is running (a restart always changes the pid).
  diff_mode:
    support: full
  action_group:
    support: full
options:
  wait_timeout:
    description:
      - Seconds to wait, after C(restart) was sent, for a new process serving O(socket_dir) whose listener and
        stratifier answer C(ping) (more than 0, at most 86400). The module ends within O(wait_timeout) +
        O(timeout) and about a second more.
    type: float
    default: 30
  poll_interval:
    description: Seconds between two looks at the sockets while waiting (more than 0, at most 60).
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
  description: The process that served O(socket_dir) before the restart, null when the instance was not running.
  returned: always
  type: int
  sample: 4242
new_pid:
  description:
    - The process that serves O(socket_dir) after the handover. Null in check mode, and on failure when no new
      process was seen.
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
    - Seconds from sending C(restart) until a new process was first seen listening on C(SOCKET_DIR/listener).
      Null when it never was and in check mode.
  returned: always
  type: float
  sample: 0.55
pid_file_pid:
  description: What C(main.pid) says at the end (a hint only), null when missing.
  returned: always
  type: int
  sample: 4251
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
from ansible_collections.ckpool.fleet.plugins.module_utils import process


def look(client, old_pid, timeout):
    """One look at the sockets: ``(new_pid or None, answered, problem)``.

    ``new_pid`` is the process the kernel names as listening on the listener
    when it differs from ``old_pid``; ``answered`` when that process answered
    ``ping`` on the listener and on the stratifier.
    """
    client.peers.pop('listener', None)
    client.peers.pop('stratifier', None)
    try:
        client.ping('listener', timeout=timeout)
    except CkpoolPermissionDenied:
        raise
    except CkpoolError as exc:
        peer = client.peers.get('listener')
        if peer is None:
            return None, False, 'no process serves the listener: %s' % exc.message
        if peer[0] == old_pid:
            return None, False, 'the old process %d still serves the listener (%s)' % (old_pid, exc.message)
        return peer[0], False, 'new pid %d does not answer on the listener: %s' % (peer[0], exc.message)
    peer = client.peers.get('listener')
    if peer is None:
        return None, False, 'the kernel did not name the process listening on the listener'
    if peer[0] == old_pid:
        return None, False, 'the old process %d still serves the listener' % old_pid
    new_pid = peer[0]
    try:
        client.ping('stratifier', timeout=timeout)
    except CkpoolPermissionDenied:
        raise
    except CkpoolError as exc:
        text = 'new pid %d answers on the listener but not on the stratifier: %s' % (new_pid, exc.message)
        return new_pid, False, text
    strat = client.peers.get('stratifier')
    if strat is not None and strat[0] != new_pid:
        return new_pid, False, 'the stratifier is still served by pid %d, not the new pid %d' % (strat[0], new_pid)
    return new_pid, True, None


def wait_for_new_process(cm, old_pid, wait_timeout, poll_interval, started):
    """Wait until a new process serves the socket directory and answers; ``(new_pid, pid_seen, problem)``."""
    client = cm.client
    until = started + wait_timeout
    new_pid = None
    pid_seen = None
    problem = 'nothing was seen yet'
    while True:
        left = until - time.monotonic()
        if left <= 0:
            break
        found, answered, text = look(client, old_pid, max(0.05, min(client.timeout, left)))
        if found is not None and found != new_pid:
            new_pid = found
            pid_seen = round(time.monotonic() - started, 3)
        if answered:
            owner, why = process.prove_owner(found, client.socket_dir)
            if owner is not None:
                return new_pid, pid_seen, None
            text = 'pid %d answers but is not proven to serve %s: %s' % (found, client.socket_dir, why)
        problem = text
        if time.monotonic() + poll_interval >= until:
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

    gate = None
    if params['gate'] is not None:
        gate = health.parse_gate(params['gate'], params['socket_dir'])
        if gate['problems']:
            cm.fail('; '.join(gate['problems']))
    result = dict(old_pid=None, new_pid=None, duration=0.0, pid_seen=None, pid_file_pid=None)
    live = cm.require_running('restart it with a handover (there is nobody to hand over from); start it with its '
                              'service instead', **result)
    result['pid_file_pid'] = live['pid_file_pid']
    if live['owner'] is None:
        cm.fail('cannot tell which process serves %s (%s): without it a new process cannot be told from the old '
                'one' % (client.socket_dir, live['owner_problem']), **result)
    old_pid = live['pid']
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

    cm.extend_deadline(params['wait_timeout'], 'timeout + wait_timeout')
    started = time.monotonic()
    try:
        client.listener_verb('restart')
    except CkpoolMalformedReply as exc:
        # ckpool answered, and not "restarting": it did not take the restart
        cm.fail_from(exc, prefix='ckpool did not accept the restart', **result)
    except CkpoolError as exc:
        if not client.delivered:
            cm.fail_from(exc, prefix='ckpool did not accept the restart', **result)
        cm.warn('the answer to restart failed (%s); waiting for the handover anyway' % exc)

    new_pid, pid_seen, problem = wait_for_new_process(cm, old_pid, params['wait_timeout'], params['poll_interval'],
                                                      started)
    result.update(new_pid=new_pid, pid_seen=pid_seen, duration=round(time.monotonic() - started, 3))
    try:
        result['pid_file_pid'] = client.read_pid()
    except CkpoolError:
        result['pid_file_pid'] = None
    if 'diff' in result and new_pid:
        result['diff']['after'] = 'pid: %d\n' % new_pid
    if problem is not None:
        cm.fail('handover restart of pid %d did not complete within %.1f s: %s'
                % (old_pid, params['wait_timeout'], problem), **result)
    if gate is not None:
        reading = run_gate(cm, gate, readings=gate['readings'], interval=gate['interval'], previous_pid=old_pid)
        result['post_gate'] = reading['instances']
        result['post_gate_readings'] = reading['readings']
        if not reading['healthy']:
            cm.fail('post-gate failed after the handover of pid %d to %s: %s'
                    % (old_pid, new_pid, health.summary(reading['instances'])), **result)
    cm.exit(changed=True, **result)


if __name__ == '__main__':
    main()
