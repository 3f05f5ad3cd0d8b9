#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: ckpool_dropuser
short_description: Disconnect every miner connection of one user from a ckpool instance
version_added: 0.1.0
description:
  - ckpool has no command to drop a user. This module finds the user's connected client ids, then sends
    C(dropclient=ID) for each to the connector, which closes that miner's TCP connection at once.
  - The log is C(LOGDIR/NAME.log), named after the instance's C(-n NAME) (ckpool's default name for its mode,
    e.g. C(ckpool.log), when C(-n) is absent).
  - Client ids come from C(NAME.log) - C(Authorised client ID ADDRESS worker WORKER as user USER) lines
    minus C(Dropped client ID ...) lines - written since the current process started, read from the end of
    the log with a bound (O(log_max_bytes)). ckpool writes both lines at its default log level (notice, 5).
  - Optionally (O(use_api=true)) the stratifier's C(userclients=USER) is asked first. Upstream ckpool never
    answers it and B(creates the user record it is asked about), so it is off by default; when it answers
    nothing the log is used.
  - Miners usually reconnect on their own; drop them after changing what lets them in, or redirect them with
    a reconnect to another pool.
author:
  - ckpool.fleet contributors (@ckpool-fleet)
extends_documentation_fragment:
  - ckpool.fleet.ckpool
  - ckpool.fleet.ckpool.attributes
attributes:
  check_mode:
    support: full
    details: In check mode the client ids are resolved and reported, and only read-only commands are sent.
  diff_mode:
    support: full
    details: Shows the user's connected client ids before and after.
  action_group:
    support: full
options:
  user:
    description:
      - The user name as miners authorise with it (ckpool takes the part of the worker name before the first C(.) or C(_)).
      - Control characters, C(=), quotes, slashes, backslashes and NUL are refused, as are names over 256
        characters.
    type: str
    required: true
  log_dir:
    description:
      - The instance's C(logdir), holding C(NAME.log). When neither O(log_dir) nor O(config) is given it
        is discovered from the running process.
    type: path
  config:
    description: Path of the instance's C(ckpool.conf) to read C(logdir) from.
    type: path
  log_max_bytes:
    description: Read at most this many bytes from the end of C(NAME.log).
    type: int
    default: 16777216
  connector_timeout:
    description:
      - Deadline in seconds for each C(dropclient) on the connector. The connector of a freshly started ckpool
        handles requests only on 5-second boundaries, so keep this above 5.
    type: float
    default: 6.0
  use_api:
    description:
      - Ask the stratifier with C(userclients=USER) before reading the log. This creates the user record in
        ckpool and upstream builds never answer it. Only for builds known to implement it.
    type: bool
    default: false
seealso:
  - module: ckpool.fleet.ckpool_info
'''

EXAMPLES = r'''
- name: Disconnect every connection of a user
  ckpool.fleet.ckpool_dropuser:
    socket_dir: /run/ckpool
    log_dir: /var/log/ckpool
    user: bc1qexampleuser
  register: dropped

- name: Show what would be dropped
  ckpool.fleet.ckpool_dropuser:
    socket_dir: /run/ckpool
    config: /etc/ckpool/ckpool.conf
    user: bc1qexampleuser
  check_mode: true
'''

RETURN = r'''
user:
  description: The user.
  returned: always
  type: str
  sample: bc1qexampleuser
dropped_clients:
  description: The client connections that were dropped (in check mode, that would be dropped).
  returned: always
  type: list
  elements: dict
  sample: [{"id": 7, "address": "10.0.0.5", "worker": "bc1qexampleuser.rig1", "authorised_at": 1795500524.1}]
connections_before:
  description: The connector's open miner connections (C(clients.count)) before dropping, null if unknown.
  returned: always
  type: int
  sample: 12
connections_after:
  description: The connector's open miner connections after dropping, null if unknown or in check mode.
  returned: always
  type: int
  sample: 9
source:
  description: Where the client ids came from, C(log) or C(api).
  returned: always
  type: str
  sample: log
log_bound_hit:
  description: True when the bounded read did not reach the start of the current process's log lines.
  returned: always
  type: bool
  sample: false
commands:
  description:
    - Every command sent to ckpool during this run, in order. C(reply) is null when ckpool closed the connection
      without answering, which is the connector's answer to C(dropclient).
  returned: always
  type: list
  elements: dict
  sample: [{"socket": "connector", "command": "dropclient=7", "reply": null, "ms": 0.3}]
socket_dir:
  description: The socket directory the module worked on.
  returned: always
  type: str
  sample: /run/ckpool
'''

import json
import os

from ansible_collections.ckpool.fleet.plugins.module_utils.ckpool import CkpoolError
from ansible_collections.ckpool.fleet.plugins.module_utils.module_base import CkpoolModule
from ansible_collections.ckpool.fleet.plugins.module_utils import ckpool_log
from ansible_collections.ckpool.fleet.plugins.module_utils import process
from ansible_collections.ckpool.fleet.plugins.module_utils import safe_files

FORBIDDEN = set('=\'"/\\`')


def user_problem(user):
    if not user:
        return 'must not be empty'
    if len(user) > 256:
        return 'is longer than 256 characters'
    for char in user:
        if ord(char) < 32 or ord(char) == 127:
            return 'contains a control character'
        if char in FORBIDDEN:
            return 'contains %r' % char
    return None


def instance_name(cmdline):
    """ckpool's log is LOGDIR/NAME.log: NAME from the process's -n, else the mode's default name."""
    args = process.ckpool_args(cmdline or [])
    if args is None:
        return 'ckpool'
    parsed = process.parse_ckpool_args(args)
    return parsed['name'] or process.default_name(parsed['mode'])


def connections(client):
    try:
        return client.stats('connector').get('clients', {}).get('count')
    except CkpoolError:
        return None


def api_clients(client, user):
    reply = client.send('stratifier', 'userclients=%s' % user, allow_state_creating=True)
    if not reply:
        return None
    try:
        data = json.loads(reply)
    except ValueError:
        return None
    ids = data.get('clients') if isinstance(data, dict) else data
    if not isinstance(ids, list):
        return None
    found = []
    for item in ids:
        cid = item.get('id') if isinstance(item, dict) else item
        if isinstance(cid, int) and not isinstance(cid, bool):
            found.append(dict(id=cid, address=None, worker=None, authorised_at=None))
    return found


def main():
    cm = CkpoolModule(argument_spec=dict(
        user=dict(type='str', required=True),
        log_dir=dict(type='path'),
        config=dict(type='path'),
        log_max_bytes=dict(type='int', default=16 * 1024 * 1024),
        connector_timeout=dict(type='float', default=6.0),
        use_api=dict(type='bool', default=False),
    ), supports_check_mode=True, mutually_exclusive=[('log_dir', 'config')])
    params = cm.params
    client = cm.client
    user = params['user']
    problem = user_problem(user)
    if problem:
        cm.fail('invalid user %r: %s' % (user, problem))
    if params['log_max_bytes'] <= 0 or params['connector_timeout'] <= 0:
        cm.fail('log_max_bytes and connector_timeout must be positive')
    if params['use_api'] and cm.check_mode:
        cm.fail('use_api creates the user record in ckpool and cannot run in check mode')

    result = dict(user=user, dropped_clients=[], connections_before=None, connections_after=None,
                  source='log', log_bound_hit=False)
    try:
        pid = client.read_pid()
    except CkpoolError as exc:
        cm.fail_from(exc, **result)
    if not client.pid_alive(pid):
        cm.fail('ckpool is not running (no live pid in %s): no connections to drop' % client.pid_file, **result)
    proc = process.process_info(pid)
    if proc is None:
        cm.fail('ckpool pid %d exited while resolving its clients' % pid, **result)

    clients = None
    if params['use_api']:
        try:
            clients = api_clients(client, user)
        except CkpoolError as exc:
            cm.module.warn('userclients=%s failed (%s); using the log' % (user, exc))
        if clients is not None:
            result['source'] = 'api'
    if clients is None:
        if params['log_dir']:
            log_dir = params['log_dir']
        elif params['config']:
            try:
                config = process.read_config(params['config'])
            except safe_files.CkpoolFileError as exc:
                cm.fail('cannot read config: %s' % exc, **result)
            log_dir = process.config_logdir(config, proc.get('cwd') or os.path.dirname(params['config']))
        else:
            try:
                log_dir = process.discover_logdir(pid)
            except safe_files.CkpoolFileError as exc:
                cm.fail('cannot discover the log directory (set log_dir or config): %s' % exc, **result)
        log_path = os.path.join(log_dir, '%s.log' % instance_name(proc.get('cmdline')))
        try:
            sessions = ckpool_log.client_sessions(log_path, user, since=proc.get('start_time'),
                                                  max_bytes=params['log_max_bytes'])
        except safe_files.CkpoolFileError as exc:
            cm.fail('cannot read %s: %s' % (log_path, exc), **result)
        clients = sessions['sessions']
        result['log_bound_hit'] = not sessions['complete']
        if not sessions['complete']:
            cm.module.warn('read only the last %d bytes of %s: older connections of %s may be missed'
                           % (params['log_max_bytes'], log_path, user))

    result['dropped_clients'] = clients
    result['connections_before'] = connections(client)
    changed = bool(clients)
    if cm.module._diff:
        ids = ', '.join(str(c['id']) for c in clients)
        result['diff'] = dict(before='%s clients: [%s]\n' % (user, ids), after='%s clients: []\n' % user)
    if not changed or cm.check_mode:
        cm.exit(changed=changed, **result)

    for item in clients:
        try:
            client.dropclient(item['id'], timeout=params['connector_timeout'])
        except CkpoolError as exc:
            cm.fail_from(exc, prefix='dropping client %d of %s failed' % (item['id'], user), **result)
    result['connections_after'] = connections(client)
    cm.exit(changed=True, **result)


if __name__ == '__main__':
    main()
