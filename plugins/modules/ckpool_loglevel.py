#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: ckpool_loglevel
short_description: Set the log level of a running ckpool instance
version_added: 0.1.0
description:
  - Sends C(loglevel=N) to the instance's listener socket, the only socket that range-checks the level
    (the other sockets accept any number without a check).
  - The listener answers C(success), C(Invalid) (out of range) or C(Failed) (unparsable); anything but
    C(success) fails the module.
  - ckpool cannot report its current log level. The module therefore remembers the last level it set,
    keyed to the process that serves the socket directory (pid and start time, as the kernel names the process
    holding the listening socket), in O(state_file) on the managed host. When that record says the same level
    was already set on the same process, nothing is sent and C(changed) is V(false). A restart (new process)
    forgets the record. A change made outside this module (for example with C(ckpmsg)) cannot be seen; use
    O(force) to send the level regardless.
author:
  - ckpool.fleet contributors (@ckpool-fleet)
extends_documentation_fragment:
  - ckpool.fleet.ckpool
  - ckpool.fleet.ckpool.attributes
attributes:
  check_mode:
    support: full
    details: In check mode only C(ping) is sent; C(changed) is the prediction from the remembered level.
  diff_mode:
    support: full
    details: The before state is the remembered level for the current pid, or C(unknown).
  action_group:
    support: full
options:
  level:
    description:
      - The log level, as a number from V(0) to V(7) (ASCII digits) or a name.
      - Names are V(emerg) (0), V(alert) (1), V(crit) (2), V(err) or V(error) (3), V(warning) or V(warn) (4),
        V(notice) (5, ckpool's default), V(info) (6) and V(debug) (7).
      - At V(notice) ckpool logs C(Authorised client) and C(Dropped client) lines; connection-level lines need
        V(info).
    type: raw
    required: true
  force:
    description: Send the level even when the remembered level for this pid is the same.
    type: bool
    default: false
  state_file:
    description:
      - File on the managed host where the last level set per socket directory and pid is remembered.
      - The default is in the home directory of the remote user.
    type: path
    default: ~/.cache/ckpool.fleet/loglevel.json
seealso:
  - module: ckpool.fleet.ckpool_info
'''

EXAMPLES = r'''
- name: Turn on debug logging while investigating
  ckpool.fleet.ckpool_loglevel:
    socket_dir: /run/ckpool
    level: debug

- name: Back to ckpool's default
  ckpool.fleet.ckpool_loglevel:
    socket_dir: /run/ckpool
    level: notice

- name: Set it again even if this pid is remembered at level 5
  ckpool.fleet.ckpool_loglevel:
    socket_dir: /run/ckpool
    level: 5
    force: true
'''

RETURN = r'''
level:
  description: The numeric level requested.
  returned: always
  type: int
  sample: 7
level_name:
  description: The name of that level.
  returned: always
  type: str
  sample: debug
previous_level:
  description: The level this module remembered for this pid before the run, or null when unknown.
  returned: always
  type: int
  sample: 5
pid:
  description: The process that serves the socket directory (holds its listening socket); null when it cannot be proven.
  returned: always
  type: int
  sample: 4242
reply:
  description: The listener's reply, null when nothing was sent.
  returned: always
  type: str
  sample: success
commands:
  description:
    - Every command sent to ckpool during this run, in order. C(reply) is null when ckpool closed the connection
      without answering.
  returned: always
  type: list
  elements: dict
  sample: [{"socket": "listener", "command": "loglevel=7", "reply": "success", "ms": 0.2}]
socket_dir:
  description: The socket directory the module worked on.
  returned: always
  type: str
  sample: /run/ckpool
'''

import json
import os
import tempfile
import time

from ansible_collections.ckpool.fleet.plugins.module_utils.ckpool import CkpoolError
from ansible_collections.ckpool.fleet.plugins.module_utils.module_base import CkpoolModule


LEVELS = {
    'emerg': 0, 'alert': 1, 'crit': 2, 'err': 3, 'error': 3,
    'warning': 4, 'warn': 4, 'notice': 5, 'info': 6, 'debug': 7,
}
NAMES = ('emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug')


def parse_level(value):
    """Return the numeric level for an int, a string of ASCII digits or a name, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= 7 else None
    if isinstance(value, float):
        return int(value) if value in (0, 1, 2, 3, 4, 5, 6, 7) else None
    if isinstance(value, str):
        text = value.strip().lower()
        if text and len(text) <= 2 and all(c in '0123456789' for c in text):
            number = int(text)
            return number if 0 <= number <= 7 else None
        return LEVELS.get(text)
    return None


def load_state(path):
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (IOError, OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_state(path, state):
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    fd, tmp = tempfile.mkstemp(prefix='.loglevel.', dir=directory)
    try:
        with os.fdopen(fd, 'w') as handle:
            json.dump(state, handle, indent=1, sort_keys=True)
        os.rename(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main():
    cm = CkpoolModule(argument_spec=dict(
        level=dict(type='raw', required=True),
        force=dict(type='bool', default=False),
        state_file=dict(type='path', default='~/.cache/ckpool.fleet/loglevel.json'),
    ), supports_check_mode=True)
    params = cm.params
    level = parse_level(params['level'])
    if level is None:
        cm.fail('invalid level %r: use 0-7 or one of %s; nothing was sent' % (params['level'], ', '.join(sorted(LEVELS))))
    state_file = params['state_file']

    live = cm.require_running('set its log level')
    pid = live['pid']
    started = (live['owner'] or {}).get('start_ticks')

    state = load_state(state_file)
    key = cm.client.socket_dir
    remembered = state.get(key) or {}
    previous = None
    if pid is not None and remembered.get('pid') == pid and remembered.get('started') == started:
        previous = remembered.get('level')

    result = dict(level=level, level_name=NAMES[level], previous_level=previous, pid=pid, reply=None)
    changed = params['force'] or previous != level
    if cm.module._diff:
        where = '%s (pid %s)' % (key, pid if pid is not None else 'unknown')
        result['diff'] = dict(
            before='loglevel: %s\n' % (previous if previous is not None else 'unknown'),
            after='loglevel: %d\n' % level, before_header=where, after_header=where)
    if not changed or cm.check_mode:
        cm.exit(changed=changed, **result)

    try:
        result['reply'] = cm.client.set_loglevel(level)
    except CkpoolError as exc:
        cm.fail_from(exc, prefix='cannot set log level %d' % level, **result)

    if pid is not None:
        state[key] = dict(pid=pid, started=started, level=level, set_at=time.time())
        try:
            save_state(state_file, state)
        except (IOError, OSError) as exc:
            cm.warn('log level set, but it could not be remembered in %s: %s' % (state_file, exc))
    cm.exit(changed=True, **result)


if __name__ == '__main__':
    main()
