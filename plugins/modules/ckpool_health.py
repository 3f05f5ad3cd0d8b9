#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: ckpool_health
short_description: Check every ckpool instance of a host against thresholds, including a real stratum probe
version_added: 0.2.0
description:
  - Reads every instance of the host in one run, in parallel, and judges it. Every check is returned with its
    value, its threshold and a verdict (V(pass), V(fail) or V(not_judged)), per instance in the shape of the
    C(ckpool_health) fact of the ckpool.fleet.healthcheck role.
  - "Checks: C(process) (the pid in C(main.pid) is alive), C(listener_ping) and C(stratifier_ping) (C(pong)
    within O(timeout)), C(status_age) (C(pool/pool.status) rewritten within O(stale_after) seconds),
    C(stratum_port) (a TCP connection to the stratum port) and C(stratum_subscribe) (that connection gets a
    valid answer to C(mining.subscribe) within O(stratum_timeout)), and when their thresholds are set
    C(workers), C(hashrate_1m), C(hashrate_5m), C(reject_ratio) and C(new_process) (O(previous_pids))."
  - The stratum probe is what tells a pool that serves miners from one that only looks alive. A stopped and
    continued ckpool (SIGSTOP/SIGCONT, a paused VM, a frozen cgroup) or one left rejecting connections keeps
    answering C(ping) and the kernel still completes TCP connects into the listening backlog, but no
    C(mining.subscribe) is answered. The probe never sends C(mining.authorize), which would create a user.
  - Restart aware. After every start and handover ckpool writes C(pool.status) 1 s after the start with 0
    users and workers and shows the real counts only at its first 60-second update. Thresholds on those counts
    (O(min_workers), O(min_hashrate_1m), O(min_hashrate_5m)) are reported V(not_judged), with the reason, on a
    status written by a process younger than its first update or by an earlier process than the running one.
  - Mode aware. Passthrough and redirector instances write no C(pool.status); they get no status checks.
    The mode is taken from the instance, else from the running process's arguments.
  - Read-only towards ckpool. It sends only C(ping) to the control sockets and runs the same in check mode.
    The only thing it may change is the metrics file O(textfile).
author:
  - ckpool.fleet contributors (@ckpool-fleet)
extends_documentation_fragment:
  - ckpool.fleet.ckpool
  - ckpool.fleet.ckpool.attributes
attributes:
  check_mode:
    support: full
    details: The checks run the same way in check mode; O(textfile) is not written.
  diff_mode:
    support: none
  action_group:
    support: full
options:
  instances:
    description:
      - The instances to check, as the P(ckpool.fleet.instances#filter) filter returns them.
      - Each needs C(name) and an absolute C(socket_dir); optional are C(log_dir) (the instance's C(logdir), for
        C(pool/pool.status)), C(config) (its C(ckpool.conf), to read C(logdir) from), C(mode), C(stratum_host)
        (default V(127.0.0.1)) and C(stratum_port) (without it there are no stratum checks). Without C(log_dir)
        and C(config) the log directory is discovered from the running process.
      - When omitted, the one instance in O(socket_dir) is checked, named V(ckpool), without stratum checks.
    type: list
    elements: dict
  stale_after:
    description: C(pool.status) older than this many seconds fails C(status_age) (ckpool rewrites it every 60 s).
    type: int
    default: 180
  min_workers:
    description: Minimum connected workers (C(workers) check); V(0) disables it.
    type: int
    default: 0
  min_hashrate_1m:
    description: Minimum 1-minute pool hashrate in H/s (C(hashrate_1m) check); V(0) disables it.
    type: float
    default: 0
  min_hashrate_5m:
    description: Minimum 5-minute pool hashrate in H/s (C(hashrate_5m) check); V(0) disables it.
    type: float
    default: 0
  max_reject_ratio:
    description: Maximum rejected/(accepted+rejected) share ratio (C(reject_ratio) check); V(1.0) disables it.
    type: float
    default: 1.0
  stratum_timeout:
    description: Seconds the stratum probe has for connect, C(mining.subscribe) and its answer together.
    type: float
    default: 3.0
  stratum_user_agent:
    description:
      - User agent the probe sends in C(mining.subscribe). An empty string sends none.
      - A ckpool-lhr pool with a C(useragent) whitelist in its configuration refuses other agents; set an
        allowed one there.
    type: str
    default: ckpool.fleet-probe
  status_interval:
    description:
      - Seconds between two C(pool.status) updates of the pool (60 for ckpool). The counts of a process younger
        than this are not judged.
    type: int
    default: 60
  users:
    description: Also return the per-user statistics of every instance (C(user_stats) in RV(instances)).
    type: bool
    default: false
  readings:
    description:
      - Take this many readings, O(interval) seconds apart; the result is healthy only when every reading is.
        The readings stop at the first unhealthy one.
    type: int
    default: 1
  interval:
    description: Seconds between two readings.
    type: float
    default: 0
  textfile:
    description:
      - Also write the result as a Prometheus node_exporter textfile at this path on the host (the
        C(ckpool_) series of the P(ckpool.fleet.prometheus_textfile#filter) filter), in the same run.
      - Written atomically - a hidden temporary file whose name does not end in C(.prom), then a rename in the
        same directory - so node_exporter never reads a partial file. The directory is created (mode 0755) when
        it is missing. The name must end in C(.prom).
      - Not written in check mode (RV(textfile.written) is V(false) there).
    type: path
  textfile_per_user:
    description: Include the per-user series in O(textfile) (they can be many); implies O(users).
    type: bool
    default: false
  previous_pids:
    description:
      - Instance name to the pid it ran before a restart. Adds the C(new_process) check (a running pid other
        than that one) to those instances.
    type: dict
    default: {}
notes:
  - The stratum probe opens one TCP connection per instance and check; ckpool counts it in its connection
    statistics and, at log level 6 and above, logs it. It closes the connection after the answer.
seealso:
  - module: ckpool.fleet.ckpool_info
  - module: ckpool.fleet.ckpool_restart
  - plugin: ckpool.fleet.instances
    plugin_type: filter
'''

EXAMPLES = r'''
- name: Check every instance the install role created on this host
  ckpool.fleet.ckpool_health:
    instances: "{{ [] | ckpool.fleet.instances(install_instances) }}"
    min_workers: 1
  register: health

- name: Fail for an unhealthy instance
  ansible.builtin.assert:
    that: health.healthy
    fail_msg: "{{ health.summary }}"

- name: Two instances given by hand, three readings 2 s apart
  ckpool.fleet.ckpool_health:
    instances:
      - {name: main, socket_dir: /run/ckpool/main, log_dir: /var/log/ckpool/main, stratum_port: 3333}
      - {name: solo, socket_dir: /run/ckpool/solo, log_dir: /var/log/ckpool/solo, stratum_port: 3334, mode: solo}
    readings: 3
    interval: 2

- name: After a restart through the service manager, wait for a new healthy process
  ckpool.fleet.ckpool_health:
    instances: "{{ my_instances }}"
    previous_pids: {main: 4242}
  register: after
  until: after.healthy
  retries: 30
  delay: 1
'''

RETURN = r'''
healthy:
  description: Whether every instance passed every check in every reading.
  returned: always
  type: bool
  sample: true
unhealthy:
  description: Names of the unhealthy instances.
  returned: always
  type: list
  elements: str
  sample: []
summary:
  description: One line naming every failing check of every unhealthy instance, with value, threshold and reason.
  returned: always
  type: str
  sample: "instance main fails stratum_subscribe (value no answer to mining.subscribe within 3.0 s, threshold answers
    mining.subscribe within 3.0 s)"
instances:
  description: Per instance name, its health (the C(ckpool_health) fact of ckpool.fleet.healthcheck).
  returned: always
  type: dict
  contains:
    checks:
      description:
        - Every check, C({name, value, threshold, ok, verdict, reason}). C(verdict) is V(pass), V(fail) or
          V(not_judged); C(ok) is false only for V(fail); C(reason) says why a check failed or was not judged.
      type: list
      elements: dict
    healthy:
      description: No check failed.
      type: bool
    failing:
      description: Names of the failing checks.
      type: list
      elements: str
    not_judged:
      description: Names of the checks that were not judged (counts of a process younger than its first update).
      type: list
      elements: str
    pid:
      description: The pid in C(main.pid).
      type: int
    started:
      description: When the process started (unix time, 1 s resolution).
      type: float
    mode:
      description: The instance's mode (given or discovered), null when unknown.
      type: str
    tier:
      description: The instance's fleet tier (given, else its mode's), null when the mode is unknown.
      type: str
    socket_dir:
      description: The socket directory.
      type: str
    log_dir:
      description: The log directory read (given or discovered).
      type: str
    stratum:
      description: The probed C(HOST:PORT), null without a stratum port.
      type: str
    stratum_ms:
      description: Milliseconds until C(mining.subscribe) was answered; null when it was not.
      type: float
    hashrate_1m:
      description: 1-minute pool hashrate in H/s from C(pool.status).
      type: float
    hashrate_5m:
      description: 5-minute pool hashrate in H/s.
      type: float
    hashrate:
      description: Every hashrate window of C(pool.status) (C(1m) ... C(7d)) in H/s.
      type: dict
    lastupdate:
      description: C(lastupdate) of C(pool.status) (unix time).
      type: int
    users:
      description: C(Users) of C(pool.status).
      type: int
    workers:
      description: C(Workers) of C(pool.status).
      type: int
    accepted:
      description: Accepted shares (difficulty) from C(pool.status).
      type: float
    rejected:
      description: Rejected shares (difficulty) from C(pool.status).
      type: float
    bestshare:
      description: Best share from C(pool.status).
      type: float
    runtime:
      description: Seconds the process that wrote C(pool.status) had run.
      type: int
    status_age:
      description: Age of C(pool.status) in seconds.
      type: float
    ping_ms:
      description: Round trip of the C(ping) per socket in milliseconds; null when it failed.
      type: dict
    user_stats:
      description: Per-user statistics (as M(ckpool.fleet.ckpool_info) returns them) with O(users).
      type: list
      elements: dict
    read_errors:
      description: Files or sockets that could not be read (permissions, corrupt files).
      type: list
      elements: str
  sample:
    main:
      checks:
        - {name: process, value: 4242, threshold: alive, ok: true, verdict: pass, reason: null}
        - {name: stratum_subscribe, value: 1.2, threshold: answers mining.subscribe within 3.0 s, ok: true,
           verdict: pass, reason: null}
      healthy: true
      failing: []
      not_judged: []
      pid: 4242
msg:
  description: RV(summary) when an instance is unhealthy, else how many instances are healthy.
  returned: always
  type: str
  sample: 2 instance(s) healthy
textfile:
  description: The metrics file written with O(textfile).
  returned: with O(textfile)
  type: dict
  contains:
    path:
      description: Its path.
      type: str
    written:
      description: Whether the file was (re)written; V(false) in check mode and when its content was the same.
      type: bool
    series:
      description: Number of samples in it.
      type: int
  sample: {"path": "/var/lib/node_exporter/textfile/ckpool.prom", "written": true, "series": 42}
pids:
  description: Instance name to the pid in its C(main.pid) (null when there is none), as O(previous_pids) takes it.
  returned: always
  type: dict
  sample: {"main": 4242}
readings:
  description: Each reading taken, C({healthy, unhealthy, seconds}).
  returned: always
  type: list
  elements: dict
  sample: [{"healthy": true, "unhealthy": [], "seconds": 0.004}]
commands:
  description: Every command sent to a control socket, with the instance's C(socket_dir).
  returned: always
  type: list
  elements: dict
  sample: [{"socket": "listener", "command": "ping", "reply": "pong", "ms": 0.2, "socket_dir": "/run/ckpool/main"}]
socket_dir:
  description: The O(socket_dir) option (used only when O(instances) is omitted).
  returned: always
  type: str
  sample: /tmp/ckpool
'''

import math
import os
import time

from ansible_collections.ckpool.fleet.plugins.module_utils import health
from ansible_collections.ckpool.fleet.plugins.module_utils import prometheus_text
from ansible_collections.ckpool.fleet.plugins.module_utils.instance_model import InstanceError, from_explicit
from ansible_collections.ckpool.fleet.plugins.module_utils.module_base import CkpoolModule


def main():
    spec = health.threshold_argument_spec()
    spec.update(
        instances=dict(type='list', elements='dict'),
        users=dict(type='bool', default=False),
        readings=dict(type='int', default=1),
        interval=dict(type='float', default=0.0),
        previous_pids=dict(type='dict', default={}),
        textfile=dict(type='path'),
        textfile_per_user=dict(type='bool', default=False),
    )
    cm = CkpoolModule(argument_spec=spec, supports_check_mode=True)
    params = cm.params
    problems = health.validate_options(params)
    if not 1 <= params['readings'] <= 100:
        problems.append('readings must be 1-100, got %r' % params['readings'])
    if not (math.isfinite(params['interval']) and 0 <= params['interval'] <= 3600):
        problems.append('interval must be 0-3600 seconds, got %r' % params['interval'])
    previous = {}
    for name, pid in params['previous_pids'].items():
        try:
            previous[name] = int(pid)
        except (TypeError, ValueError):
            problems.append('previous_pids: %s must map to a pid, got %r' % (name, pid))
    textfile = params['textfile']
    if textfile is not None and (not os.path.isabs(textfile) or not textfile.endswith('.prom')
                                 or os.path.basename(textfile) == '.prom'):
        problems.append('textfile must be an absolute path ending in .prom (node_exporter reads *.prom), got %r'
                        % textfile)
    if problems:
        cm.fail('; '.join(problems))
    raw = params['instances']
    if raw is None:
        raw = [dict(name='ckpool', socket_dir=params['socket_dir'])]
    try:
        instances = from_explicit(raw)
    except InstanceError as exc:
        cm.fail('invalid instances: %s' % exc)
    if not instances:
        cm.fail('no instance to check: instances is empty')
    unknown = sorted(set(previous) - set(i['name'] for i in instances))
    if unknown:
        cm.fail('previous_pids names unknown instance(s): %s' % ', '.join(unknown))

    options = dict((key, params[key]) for key in health.threshold_argument_spec())
    options.update(timeout=params['timeout'], users=params['users'] or params['textfile_per_user'])
    result = health.check_instances(instances, options, readings=params['readings'], interval=params['interval'],
                                    previous_pids=previous)
    cm.client.audit.extend(result['commands'])
    text = health.summary(result['instances'])
    extra = {}
    changed = False
    if textfile is not None:
        metrics = prometheus_text.render(result['instances'], per_user=params['textfile_per_user'],
                                         timestamp=time.time())
        written = False
        if not cm.check_mode:
            try:
                directory = os.path.dirname(textfile)
                if not os.path.isdir(directory):
                    os.makedirs(directory, 0o755)
                written = prometheus_text.write_textfile(textfile, metrics)
            except (IOError, OSError) as exc:
                cm.fail('cannot write the textfile %s: %s' % (textfile, exc), instances=result['instances'])
        changed = written
        extra['textfile'] = dict(path=textfile, written=written,
                                 series=sum(1 for line in metrics.splitlines() if line and not line.startswith('#')))
    cm.exit(changed=changed, healthy=result['healthy'], unhealthy=result['unhealthy'], summary=text,
            msg=text or '%d instance(s) healthy' % len(instances), instances=result['instances'],
            pids=result['pids'], readings=result['readings'], **extra)


if __name__ == '__main__':
    main()
