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
  - Client ids come from the instance's log C(LOGDIR/NAME.log) (C(Authorised client ID ADDRESS worker WORKER as user
    USER) records, minus the ones a later C(Dropped client ...) record closed), written since the process that
    serves O(socket_dir) started, read from the end of the log with a bound (O(log_max_bytes)). ckpool writes both
    records at its default log level (notice, 5).
  - 'Every mode that authorises miners itself: a pool or solo instance, and a proxy or userproxy (its records read
    C(Authorised client ID to proxy P:S, worker WORKER as user USER)). On the pool, miners behind a passthrough or
    node are recorded as C(passthrough:P subclient:S) (C(node:), C(remote:)); their connector id is C(P << 32 | S)
    and ckpool forwards the C(dropclient) to the passthrough, which closes the miner''s connection. A passthrough or
    redirector authorises nobody and logs no such record: drop the user on the pool upstream.'
  - B(Miners can write into that log.) ckpool logs worker names verbatim, line breaks included, so a worker name
    can add lines that look like ckpool's own. The module therefore drops only connections it can attribute to the
    user beyond doubt and refuses, listing each in RV(refused_clients) with the reason, a client id claimed by the
    records of more than one user (C(claimed_by_several_users)), one whose record lies within 2 KiB of a sign of
    tampering such as a line without a valid time stamp, a cut C(Authorised)/C(Dropped) record or a stamp out of
    order with its neighbours (C(broken_record)), one whose user is not the one ckpool derives from its worker name
    (C(inconsistent_record)), and every id when the log was not read back to the start of the current process,
    because an earlier record could give the id to another user (C(log_incomplete)). The user's other connections
    are still dropped. A record that says a connection closed counts only when it is untainted and names exactly
    the connection's id, address, user and worker.
  - 'Limits: ckpool reads at most 1024 bytes per stratum message, so forged lines always sit in a record that is
    broken unless the worker name was crafted to leave no trace at all. Such a crafted name still cannot make this
    module drop a connection that authorised as another user since the process started (the ids collide), but it
    can make one of the user''s connections look closed (only if the forger knows its id, address and worker
    name) or claim for the user a connection that never authorised.'
  - Optionally (O(use_api=true)) the stratifier's C(userclients=USER) is asked first. Upstream ckpool never
    answers it and B(creates the user record it is asked about), so it is off by default; when it answers
    nothing the log is used.
  - Miners usually reconnect on their own; drop them after changing what lets them in, or redirect them with
    a reconnect to another pool.
author:
  - ckpool.fleet contributors (@ckpool-fleet)
extends_documentation_fragment:
  - ckpool.fleet.ckpool
  - ckpool.fleet.ckpool.files
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
      - The user name as miners authorise with it (ckpool takes the part of the worker name before the first C(.)
        or C(_)).
      - A user name is 1 to 127 bytes of UTF-8 text. Refused are the names C(.) and C(..); the characters C(/), the
        backslash, C(*), C(?), C([) and C(]); whitespace at the start or the end; control characters, invisible
        format characters and line or paragraph separators (Unicode categories Cc, Cf, Cs, Zl and Zp, for example
        NUL, tab, newline, DEL, U+0085, zero-width spaces, U+2028). The same rule applies to the user names of
        M(ckpool.fleet.ckpool_info).
    type: str
    required: true
  connector_timeout:
    description:
      - Deadline in seconds for the C(dropclient) commands on the connector, all of them together (they are sent at
        once and ckpool queues them). The connector of a freshly started ckpool handles requests only on 5-second
        boundaries, so keep this above 5. It is added to O(timeout) for the run's one deadline.
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

- name: Show what would be dropped, and what the module refuses to touch
  ckpool.fleet.ckpool_dropuser:
    socket_dir: /run/ckpool
    config: /etc/ckpool/ckpool.conf
    user: bc1qexampleuser
  check_mode: true
  register: plan

- name: Report connections the log cannot attribute beyond doubt
  ansible.builtin.debug:
    msg: "{{ plan.refused_clients | map(attribute='detail') | list }}"
  when: plan.refused_clients | length > 0
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
refused_clients:
  description:
    - Client ids the log gives to the user but that the module did not drop because the attribution is in doubt,
      each with C(id), C(reason) (C(claimed_by_several_users), C(broken_record), C(inconsistent_record) or
      C(log_incomplete)), a C(detail) sentence and the C(claims) (C(user), C(worker), C(address), C(authorised_at))
      the log makes for that id.
  returned: always
  type: list
  elements: dict
  sample: [{"id": 3, "reason": "claimed_by_several_users", "detail": "client id 3 is claimed by the log records of
            2 users ('alice', 'bob'): at least one is forged", "claims": [{"user": "bob", "worker": "bob.rig1",
            "address": "10.0.0.9", "authorised_at": 1795500520.0}]}]
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
log_file:
  description: The log the client ids were read from, null with O(use_api) when the stratifier answered.
  returned: always
  type: str
  sample: /var/log/ckpool/ckpool.log
log_bound_hit:
  description: True when the bounded read did not reach the start of the current process's log lines.
  returned: always
  type: bool
  sample: false
pid:
  description: The process that serves O(socket_dir) (it holds the listening socket), whose log records count.
  returned: always
  type: int
  sample: 4242
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

from ansible_collections.ckpool.fleet.plugins.module_utils.ckpool import CkpoolError
from ansible_collections.ckpool.fleet.plugins.module_utils.module_base import CkpoolModule
from ansible_collections.ckpool.fleet.plugins.module_utils import ckpool_log
from ansible_collections.ckpool.fleet.plugins.module_utils.safe_files import CkpoolFileError
from ansible_collections.ckpool.fleet.plugins.module_utils.usernames import username_problem


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
        if isinstance(cid, int) and not isinstance(cid, bool) and cid >= 0:
            found.append(dict(id=cid, address=None, worker=None, authorised_at=None))
    return found


def main():
    cm = CkpoolModule(argument_spec=dict(
        user=dict(type='str', required=True),
        connector_timeout=dict(type='float', default=6.0),
        use_api=dict(type='bool', default=False),
    ), supports_check_mode=True, log_options=True)
    params = cm.params
    client = cm.client
    user = params['user']
    problem = username_problem(user)
    if problem:
        cm.fail('invalid user %r: it %s; nothing was sent' % (user, problem))
    if params['use_api'] and cm.check_mode:
        cm.fail('use_api creates the user record in ckpool and cannot run in check mode')

    result = dict(user=user, dropped_clients=[], refused_clients=[], connections_before=None,
                  connections_after=None, source='log', log_bound_hit=False, log_file=None, pid=None)
    live = cm.require_running('drop connections', **result)
    result['pid'] = live['pid']
    if live['owner'] is None:
        cm.fail('cannot tell which process serves %s (%s): its log records cannot be tied to the running process, '
                'so nothing is dropped' % (client.socket_dir, live['owner_problem']), **result)

    clients = None
    if params['use_api']:
        try:
            clients = api_clients(client, user)
        except CkpoolError as exc:
            cm.warn('userclients=%s failed (%s); using the log' % (user, exc))
        if clients is not None:
            result['source'] = 'api'
    if clients is None:
        found = cm.instance()
        if not found['log_dir']:
            cm.fail('cannot find the log: %s' % found['problem'], **result)
        result['log_file'] = found['log_file']
        try:
            sessions = ckpool_log.client_sessions(found['log_file'], user, since=live['owner']['start_time'],
                                                  max_bytes=params['log_max_bytes'], opener=cm.log_opener())
        except CkpoolFileError as exc:
            cm.fail('cannot read %s: %s' % (exc.path, exc.reason), **result)
        clients = sessions['sessions']
        result['refused_clients'] = sessions['refused']
        result['log_bound_hit'] = not sessions['complete']
        if not sessions['complete']:
            cm.warn('read only the last %d bytes of %s without reaching the start of pid %d: raise log_max_bytes'
                    % (params['log_max_bytes'], found['log_file'], live['pid']))
        if sessions['refused']:
            cm.warn('%d connection(s) of %s not dropped because the log cannot attribute them beyond doubt: %s'
                    % (len(sessions['refused']), user,
                       '; '.join('id %d: %s' % (item['id'], item['reason']) for item in sessions['refused'])))

    result['dropped_clients'] = clients
    result['connections_before'] = connections(client)
    changed = bool(clients)
    if cm.module._diff:
        ids = ', '.join(str(c['id']) for c in clients)
        result['diff'] = dict(before='%s clients: [%s]\n' % (user, ids), after='%s clients: []\n' % user)
    if not changed or cm.check_mode:
        cm.exit(changed=changed, **result)

    cm.extend_deadline(params['connector_timeout'], 'timeout + connector_timeout')
    failures = [(cid, exc) for cid, exc in client.dropclients([c['id'] for c in clients],
                                                              timeout=params['connector_timeout'])
                if exc is not None]
    if failures:
        cm.fail_from(failures[0][1], prefix='dropping %d of the %d connections of %s failed (first: client %d)'
                     % (len(failures), len(clients), user, failures[0][0]), **result)
    result['connections_after'] = connections(client)
    cm.exit(changed=True, **result)


if __name__ == '__main__':
    main()
