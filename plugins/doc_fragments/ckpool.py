# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation fragments shared by the ckpool.fleet modules."""


class ModuleDocFragment:

    # Options every module takes (ckpool_argument_spec in module_utils/module_base.py).
    DOCUMENTATION = r'''
options:
  socket_dir:
    description:
      - Socket directory of the ckpool instance, holding the C(listener), C(stratifier), C(connector) and
        C(generator) unix sockets and C(main.pid).
      - ckpool uses its C(-s DIR) argument as given; without C(-s) it uses C(/tmp/NAME/) where C(NAME) is the
        C(-n) argument, C(ckpool) by default.
      - Must be an absolute path on the managed host.
    type: path
    default: /tmp/ckpool
  timeout:
    description:
      - Deadline in seconds for each socket call, covering connect, send and receive together.
      - Each ckpool socket serves one client at a time, so a slow client elsewhere can delay a call by up to
        5 seconds.
    type: float
    default: 5.0
requirements:
  - The user running the module must be able to connect to the ckpool sockets (ckpool creates them with mode
    0770 in a 0750 directory, so run as the ckpool user or a member of its group).
notes:
  - Every module returns the commands it sent to ckpool as RV(commands), an audit trail with the reply and
    the time each took.
  - ckpool has no HTTP API; these modules speak its unix-socket protocol directly and need neither
    C(ckpmsg) nor a shell.
seealso:
  - name: ckpool
    description: The ckpool mining pool server.
    link: https://bitbucket.org/ckolivas/ckpool
'''

    ATTRIBUTES = r'''
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  action_group:
    description: Use C(group/ckpool.fleet.ckpool) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - ckpool.fleet.ckpool
'''
