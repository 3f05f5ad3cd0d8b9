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
      - Deadline in seconds for B(all) the socket work of one module run together (connect, send and receive
        of every command), not per call. A run whose sockets hang ends within O(timeout) plus about a second;
        waits a module documents (such as O(ckpool.fleet.ckpool_shutdown#module:wait_timeout)) are added to it.
      - Each ckpool socket serves one client at a time, so a slow client elsewhere can delay a call by up to
        5 seconds.
      - A finite number of seconds, more than 0 and at most 3600.
    type: float
    default: 5.0
requirements:
  - The user running the module must be able to connect to the ckpool sockets (ckpool creates them with mode
    0770 in a 0750 directory, so run as the ckpool user or a member of its group).
notes:
  - Every module returns the commands it sent to ckpool as RV(commands), an audit trail with the reply and
    the time each took.
  - Whether ckpool runs is asked from its sockets, not from C(main.pid); a listener that answers C(ping) means
    running. The process serving the socket directory is identified by the kernel (it holds the listening socket
    C(SOCKET_DIR/listener)), never by its name or the pid file.
  - Once a command that changes the pool was delivered, a later failure (no answer in time, an unexpected answer)
    reports C(changed=true) and says the command may have taken effect.
  - Numeric options that are NaN, infinite, negative or out of their documented range fail the module before
    anything is sent.
  - ckpool has no HTTP API; these modules speak its unix-socket protocol directly and need neither
    C(ckpmsg) nor a shell.
seealso:
  - name: ckpool
    description: The ckpool mining pool server.
    link: https://bitbucket.org/ckolivas/ckpool
'''

    # Options of the modules that read the instance's files (log_argument_spec in module_utils/module_base.py).
    FILES = r'''
options:
  log_dir:
    description:
      - The instance's C(logdir), holding C(pool/pool.status), C(users/) and the log C(NAME.log).
      - When neither O(log_dir) nor O(config) is given it is discovered from the process that serves O(socket_dir),
        from its C(-c) argument (default C(NAME.conf)) and working directory; ckpool's default C(logdir) V(logs) is
        relative to that directory.
      - Nothing below this directory that is a symbolic link is followed (ckpool creates none), so no file outside
        it is read through a link planted inside; every file is opened without blocking and must be a regular file.
    type: path
  config:
    description:
      - Path of the instance's C(ckpool.conf) to read C(logdir) from, when O(log_dir) is not given.
      - A relative C(logdir) in the file is taken relative to the working directory of the running process, or of
        the configuration file when the pool is stopped.
    type: path
  instance_name:
    description:
      - The instance name (ckpool's C(-n NAME)); ckpool writes its log to C(LOGDIR/NAME.log).
      - For a running instance the name comes from the arguments of the process that serves O(socket_dir) (C(-n),
        or its mode's default name C(ckpool), C(ckproxy), C(ckpassthrough), C(cknode) or C(ckredirector); solo
        mode C(-B) keeps C(ckpool)); when set for a running instance it must agree.
      - Set it for a stopped instance whose name is not C(ckpool).
    type: str
  log_max_bytes:
    description:
      - Read at most this many bytes from the end of the instance's log (from 1 byte to 1 TiB).
    type: int
    default: 16777216
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
