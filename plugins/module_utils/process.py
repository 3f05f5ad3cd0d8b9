# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Processes: /proc, ckpool's command line (getopt), its config, instance discovery, ownership.

Runs on the managed host (Python 3.6+, standard library only, no subprocess).

Which process serves a socket directory is never decided by names (``comm``,
``argv[0]``, the executable) nor by ``main.pid``: a miner can start nothing,
but anybody can name a process ``ckpool`` and a stale pid file can name any
pid.  The proof used here is the kernel's: the process **holds a listening
unix socket bound to** ``<socket_dir>/listener`` (its socket inodes in
``/proc/PID/fd`` matched against ``/proc/PID/net/unix``), found through the
socket itself (``SO_PEERCRED`` of a connection to it, see
:class:`~ckpool.CkpoolClient`), and identified by pid **and** start time so
that a recycled pid is never mistaken for it (:func:`same_process`).
"""

import json
import os
import socket
import struct

from ansible_collections.ckpool.fleet.plugins.module_utils.safe_files import CkpoolFileError, CkpoolFileMissing, read_small_file

MAX_PID = 4194304
"""Linux's PID_MAX_LIMIT: no pid is larger."""

MAX_CONFIG_BYTES = 16 * 1024 * 1024
"""Upper bound for a ckpool configuration file."""


def read_config(path):
    """Read a ckpool configuration file (JSON) and return it as a dict.

    Like ckpool (jansson's ``JSON_DISABLE_EOF_CHECK``), text after the first
    JSON value is ignored, so the usual "Comments from here on are ignored."
    trailer works.  ckpool itself falls back to defaults when its config does
    not parse; here that is an error, because guessing would read the wrong
    directory.

    :raises CkpoolFileMissing: no such file.
    :raises CkpoolFileError: unreadable, not JSON (with line and column), or
        not a JSON object.
    """
    data = read_small_file(path, MAX_CONFIG_BYTES, what='a ckpool configuration file')
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise CkpoolFileError(path, 'not UTF-8: %s' % exc)
    stripped = text.lstrip()
    try:
        obj, dummy = json.JSONDecoder().raw_decode(stripped)
    except ValueError as exc:
        raise CkpoolFileError(path, 'not valid JSON: %s' % exc)
    if not isinstance(obj, dict):
        raise CkpoolFileError(path, 'not a JSON object')
    return obj


def config_logdir(config, cwd):
    """Return the absolute log directory of an instance from its parsed config.

    ``logdir`` defaults to ``logs`` (ckpool's default, also used when the key
    is not a string, as ckpool ignores such entries); a relative ``logdir`` is
    relative to the ckpool process's working directory ``cwd``.
    """
    logdir = config.get('logdir') if isinstance(config, dict) else None
    if not isinstance(logdir, str) or not logdir:
        logdir = 'logs'
    return os.path.normpath(os.path.join(cwd, logdir))


def _read_proc(path):
    """Read a /proc file as bytes; None when it cannot be read."""
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except OSError:
        return None


def _readlink(path):
    """readlink() a /proc link; None when it cannot be read."""
    try:
        return os.readlink(path)
    except OSError:
        return None


def boot_time():
    """Return the system boot time (``btime`` from /proc/stat) as an int, or None."""
    data = _read_proc('/proc/stat')
    if data is None:
        return None
    for line in data.split(b'\n'):
        if line.startswith(b'btime '):
            try:
                return int(line.split()[1])
            except (IndexError, ValueError):
                return None
    return None


def process_info(pid):
    """Describe process ``pid`` from /proc, or return None when it does not exist.

    :returns: ``{"pid", "comm", "state", "ppid", "uid", "cmdline": [args],
        "exe": path or None, "cwd": path or None, "start_time": unix time or
        None}``.  ``exe`` and ``cwd`` are ``None`` when /proc refuses them
        (another user's process without privileges); a replaced binary keeps
        its ``" (deleted)"`` suffix.  ``start_ticks`` is field 22 of
        /proc/PID/stat (clock ticks after boot, exact: use it to tell
        whether a pid still is the same process); ``start_time`` is ``btime`` from
        /proc/stat plus field 22 (start time in clock ticks after boot) of
        /proc/PID/stat, so it is accurate to about one second.  A zombie has
        an empty ``cmdline``.
    """
    if isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid <= MAX_PID:
        raise ValueError('pid must be an integer from 1 to %d, got %r' % (MAX_PID, pid))
    base = '/proc/%d' % pid
    stat_data = _read_proc(base + '/stat')
    if stat_data is None:
        return None
    text = stat_data.decode('utf-8', 'replace')
    open_paren = text.find('(')
    close_paren = text.rfind(')')
    if open_paren < 0 or close_paren < 0:
        return None
    comm = text[open_paren + 1:close_paren]
    rest = text[close_paren + 2:].split()
    # rest[0] is field 3 (state); field N is rest[N - 3].
    state = rest[0] if rest else None
    try:
        ppid = int(rest[1])
    except (IndexError, ValueError):
        ppid = None
    start_time = None
    ticks = None
    try:
        ticks = int(rest[22 - 3])
        btime = boot_time()
        if btime is not None:
            start_time = btime + ticks / float(os.sysconf('SC_CLK_TCK'))
    except (IndexError, ValueError, OSError):
        start_time = None
    raw_cmdline = _read_proc(base + '/cmdline') or b''
    cmdline = [arg.decode('utf-8', 'surrogateescape') for arg in raw_cmdline.split(b'\0')]
    if cmdline and cmdline[-1] == '':
        cmdline.pop()
    uid = None
    status = _read_proc(base + '/status')
    if status:
        for line in status.split(b'\n'):
            if line.startswith(b'Uid:'):
                try:
                    uid = int(line.split()[1])
                except (IndexError, ValueError):
                    uid = None
                break
    return {
        'pid': pid,
        'comm': comm,
        'state': state,
        'ppid': ppid,
        'uid': uid,
        'cmdline': cmdline,
        'exe': _readlink(base + '/exe'),
        'cwd': _readlink(base + '/cwd'),
        'start_time': start_time,
        'start_ticks': ticks,
    }


def _strip_deleted(path):
    """Remove the ``" (deleted)"`` suffix /proc adds to replaced binaries."""
    if path and path.endswith(' (deleted)'):
        return path[:-len(' (deleted)')]
    return path


# ckpool's getopt_long(argc, argv, "Bc:Dd:g:HhkLl:Nn:PpqRS:s:tu", long_options, ...)
_SHORT_WITH_ARG = frozenset('cdglnSs')
_SHORT_NO_ARG = frozenset('BDHhkLNPpqRtu')
_LONG_OPTIONS = {
    'config': 'c', 'ckdb-name': 'd', 'group': 'g', 'loglevel': 'l', 'name': 'n',
    'ckdb-sockdir': 'S', 'sockdir': 's',
    'btcsolo': 'B', 'daemonise': 'D', 'handover': 'H', 'help': 'h', 'killold': 'k',
    'log-shares': 'L', 'node': 'N', 'passthrough': 'P', 'proxy': 'p', 'quiet': 'q',
    'redirector': 'R', 'trusted': 't', 'userproxy': 'u',
}


def ckpool_args(cmdline):
    """ckpool's own arguments from a command line: ``cmdline[1:]`` (None for an empty command line).

    Whatever the program is called: parse them with :func:`parse_ckpool_args`
    (which skips non-options like getopt), never decide from a name whether a
    process is ckpool.
    """
    if not cmdline:
        return None
    return list(cmdline[1:])


def parse_ckpool_args(args, argv0=None):
    """Parse ckpool's command-line arguments the way its ``getopt_long`` does.

    ``args`` is ``argv[1:]``.  Handles ``-c FILE``, ``-cFILE``, bundled flags
    (``-kc FILE``), ``--config FILE``, ``--config=FILE`` and unambiguous
    long-option prefixes (``--conf``); like GNU getopt, non-option arguments
    anywhere are skipped (permutation), ``--`` ends the options, unknown or
    ambiguous options are ignored (ckpool ignores getopt's ``?``).  ckpool
    started as ``ckproxy`` (``argv0``) is in proxy mode.

    :returns: ``{"config", "name", "sockdir", "loglevel", "group" (str or
        None), "mode": "pool"|"solo"|"proxy"|"userproxy"|"passthrough"|"node"|
        "redirector", "flags": sorted option letters seen}``.  The mode
        follows ckpool's own precedence (node, redirector, passthrough,
        userproxy, proxy, solo, pool).
    """
    values = {}
    flags = set()
    if argv0 is not None and os.path.basename(argv0) == 'ckproxy':
        flags.add('p')
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == '--':
            break
        if arg.startswith('--'):
            name, has_value, value = arg[2:].partition('=')
            letter = _LONG_OPTIONS.get(name)
            if letter is None:
                candidates = [key for key in _LONG_OPTIONS if key.startswith(name)] if name else []
                if len(candidates) != 1:
                    continue
                letter = _LONG_OPTIONS[candidates[0]]
            if letter in _SHORT_WITH_ARG:
                if not has_value:
                    if index >= len(args):
                        break
                    value = args[index]
                    index += 1
                values[letter] = value
            elif not has_value:
                flags.add(letter)
            continue
        if arg.startswith('-') and len(arg) > 1:
            position = 1
            while position < len(arg):
                letter = arg[position]
                position += 1
                if letter in _SHORT_WITH_ARG:
                    value = arg[position:]
                    if not value:
                        if index >= len(args):
                            break
                        value = args[index]
                        index += 1
                    values[letter] = value
                    break
                if letter in _SHORT_NO_ARG:
                    flags.add(letter)
            continue
        # getopt permutes: non-option arguments are skipped.
    mode = 'pool'
    for letter, name in (('N', 'node'), ('R', 'redirector'), ('P', 'passthrough'), ('u', 'userproxy'),
                         ('p', 'proxy'), ('B', 'solo')):
        if letter in flags:
            mode = name
            break
    return {
        'config': values.get('c'), 'name': values.get('n'), 'sockdir': values.get('s'),
        'loglevel': values.get('l'), 'group': values.get('g'), 'mode': mode, 'flags': sorted(flags),
    }


def default_name(mode):
    """Return ckpool's default instance name (and config basename) for a mode (:mod:`modes`).

    ``-B`` solo keeps ``ckpool`` (ckpool.c ``main()``); an unknown mode gives ``ckpool``.
    """
    from ansible_collections.ckpool.fleet.plugins.module_utils import modes
    if mode not in modes.MODES:
        return 'ckpool'
    return modes.default_name(mode)


def _resolve(cwd, path):
    """``path`` relative to ``cwd`` (ckpool resolves relative paths against its working directory)."""
    return os.path.normpath(os.path.join(cwd or '/', path))


# -- proof that a process serves a socket directory ---------------------------------------------

_SO_ACCEPTCON = 0x10000


def _listening_unix_paths(pid):
    """``{inode: bound path}`` of the listening, path-bound unix sockets in ``pid``'s network namespace."""
    data = _read_proc('/proc/%d/net/unix' % pid)
    if data is None:
        return None
    found = {}
    for line in data.split(b'\n')[1:]:
        fields = line.split(None, 7)
        if len(fields) < 8:
            continue
        try:
            flags = int(fields[3], 16)
            inode = int(fields[6])
        except ValueError:
            continue
        path = fields[7]
        if not flags & _SO_ACCEPTCON or path.startswith(b'@'):
            continue
        found[inode] = path.decode('utf-8', 'surrogateescape')
    return found


def _socket_inodes(pid):
    """Socket inodes of the open descriptors of ``pid``; None when /proc/PID/fd cannot be read."""
    base = '/proc/%d/fd' % pid
    try:
        names = os.listdir(base)
    except OSError:
        return None
    inodes = set()
    for name in names:
        target = _readlink(os.path.join(base, name))
        if target and target.startswith('socket:[') and target.endswith(']'):
            try:
                inodes.add(int(target[8:-1]))
            except ValueError:
                pass
    return inodes


def _same_file_location(a, b):
    """True when two socket paths name the same place (symlinked directories resolved)."""
    if os.path.basename(a) != os.path.basename(b):
        return False
    return os.path.realpath(os.path.dirname(a)) == os.path.realpath(os.path.dirname(b))


_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST_DUMP = 0x1 | 0x300
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_UDIAG_SHOW_VFS = 0x2
_UNIX_DIAG_VFS = 1
_TCP_LISTEN = 10


def _kernel_dev_to_user(dev):
    """Convert a kernel dev_t (major << 20 | minor) to the st_dev encoding of stat()."""
    return os.makedev(dev >> 20, dev & 0xfffff)


def unix_listeners_by_file():
    """Map the socket file of every listening unix socket to its socket inode, from the kernel (sock_diag).

    Asks netlink ``SOCK_DIAG_BY_FAMILY`` for ``AF_UNIX`` sockets in the
    ``LISTEN`` state with their bound file (``UNIX_DIAG_VFS``): unlike the
    path in /proc/net/unix, the file's inode and device stay right when the
    socket file was renamed after ``bind()``.

    :returns: ``{(st_dev, st_ino) of the socket file: set of socket inodes}``,
        or None when the kernel offers no unix sock_diag (then use
        :func:`_listening_unix_paths`).
    """
    try:
        nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG)
    except (AttributeError, OSError):
        return None
    try:
        nl.settimeout(2.0)
        request = struct.pack('=BBHIII2I', socket.AF_UNIX, 0, 0, 1 << _TCP_LISTEN, 0, _UDIAG_SHOW_VFS, 0xffffffff,
                              0xffffffff)
        header = struct.pack('=IHHII', 16 + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST_DUMP, 1, 0)
        nl.sendto(header + request, (0, 0))
        found = {}
        while True:
            data = nl.recv(1 << 20)
            if not data:
                return found
            offset = 0
            while offset + 16 <= len(data):
                length, kind = struct.unpack_from('=IH', data, offset)
                if length < 16:
                    return found
                if kind == _NLMSG_DONE:
                    return found
                if kind == _NLMSG_ERROR:
                    return None
                body = offset + 16
                if length >= 16 + 16:
                    inode = struct.unpack_from('=I', data, body + 4)[0]
                    attr = body + 16
                    while attr + 4 <= offset + length:
                        attr_len, attr_type = struct.unpack_from('=HH', data, attr)
                        if attr_len < 4:
                            break
                        if attr_type == _UNIX_DIAG_VFS and attr_len >= 12:
                            vfs_ino, vfs_dev = struct.unpack_from('=II', data, attr + 4)
                            found.setdefault((_kernel_dev_to_user(vfs_dev), vfs_ino), set()).add(inode)
                        attr += (attr_len + 3) & ~3
                offset += (length + 3) & ~3
    except (OSError, struct.error):
        return None
    finally:
        nl.close()


def holds_listener(pid, socket_dir, sock='listener'):
    """Tell whether process ``pid`` holds the listening unix socket of the file ``socket_dir/sock``.

    The socket file's device and inode are matched, through the kernel's
    sock_diag, against the socket inodes among ``pid``'s descriptors; when
    the kernel offers no unix sock_diag (or ckpool runs in another network
    namespace), the bound paths in ``/proc/PID/net/unix`` are compared
    instead (a relative bound path is resolved against the process's working
    directory).

    :returns: ``(True, None)`` or ``(False, reason)``.
    """
    info = process_info(pid)
    if info is None or info['state'] in ('Z', 'X', 'x'):
        return False, 'process %d does not exist (or is a zombie)' % pid
    inodes = _socket_inodes(pid)
    if inodes is None:
        return False, ('cannot read /proc/%d/fd (run as the user of process %d or as root to let the module '
                       'verify it)' % (pid, pid))
    wanted = os.path.join(socket_dir, sock)
    try:
        st = os.stat(wanted)
    except OSError as exc:
        return False, 'cannot stat %s: %s' % (wanted, exc.strerror)
    by_file = unix_listeners_by_file()
    if by_file is not None and inodes & by_file.get((st.st_dev, st.st_ino), set()):
        return True, None
    listening = _listening_unix_paths(pid)
    if listening is None:
        return False, 'cannot read /proc/%d/net/unix' % pid
    cwd = _strip_deleted(info['cwd']) if info['cwd'] else None
    for inode in inodes:
        bound = listening.get(inode)
        if bound is None:
            continue
        if not os.path.isabs(bound):
            if cwd is None:
                continue
            bound = _resolve(cwd, bound)
        if _same_file_location(os.path.normpath(bound), os.path.normpath(wanted)):
            return True, None
    return False, 'process %d holds no listening socket for %s' % (pid, wanted)


def prove_owner(pid, socket_dir):
    """Prove that ``pid`` serves ``socket_dir`` and return its identity.

    ``pid`` comes from the socket itself (``SO_PEERCRED`` of a connection to
    ``socket_dir/listener``); this checks the kernel's view from the other
    side: the process holds a listening socket bound to that path.

    :returns: ``(owner, None)`` with ``owner`` = :func:`process_info` of the
        pid, or ``(None, reason)``.
    """
    ok, reason = holds_listener(pid, socket_dir)
    if not ok:
        return None, reason
    info = process_info(pid)
    if info is None:
        return None, 'process %d exited while being checked' % pid
    return info, None


def same_process(owner):
    """True while the process ``owner`` (from :func:`prove_owner`) still runs: same pid, same start.

    The start time in clock ticks (/proc/PID/stat field 22) changes when a pid
    is recycled, so a new process with the old pid is never taken for it.
    """
    if not owner:
        return False
    info = process_info(owner['pid'])
    if info is None or info['state'] in ('Z', 'X', 'x'):
        return False
    return info['start_ticks'] is not None and info['start_ticks'] == owner.get('start_ticks')


def describe_instance(owner, socket_dir):
    """What the owner's command line says about the instance: name, mode, config, sockdir.

    :returns: ``{"pid", "cwd", "name", "name_source": "argument"|"default",
        "mode", "config": absolute path, "config_source": "argument"|"default",
        "sockdir": absolute path as ckpool resolves it, "args": the command
        line}``; ``cwd`` is None (and relative paths stay unresolved) when
        /proc refuses it.
    """
    cmdline = owner.get('cmdline') or []
    parsed = parse_ckpool_args(cmdline[1:], argv0=cmdline[0] if cmdline else None)
    cwd = _strip_deleted(owner.get('cwd')) if owner.get('cwd') else None
    name = parsed['name'] if parsed['name'] is not None else default_name(parsed['mode'])
    config = parsed['config'] if parsed['config'] is not None else name + '.conf'
    if cwd is not None:
        config = _resolve(cwd, config)
    sockdir = parsed['sockdir'] if parsed['sockdir'] is not None else os.path.join('/tmp', name)
    if cwd is not None:
        sockdir = _resolve(cwd, sockdir)
    return {
        'pid': owner['pid'], 'cwd': cwd, 'name': name,
        'name_source': 'argument' if parsed['name'] is not None else 'default',
        'mode': parsed['mode'], 'config': config,
        'config_source': 'argument' if parsed['config'] is not None else 'default',
        'sockdir': sockdir, 'args': list(cmdline),
    }


def discover_instance(pid):
    """Find where a running ckpool keeps its config, sockets and logs, from its arguments.

    ``pid`` must already be proven to serve its socket directory
    (:func:`prove_owner`); nothing here checks what the process is called.
    Uses the process's arguments (``-c/--config``, ``-n/--name``,
    ``-s/--sockdir``, mode flags) and its working directory, applying
    ckpool's defaults: config ``NAME.conf`` and logdir ``logs``, both
    relative to the process's cwd; name ``ckpool`` (``ckproxy``,
    ``ckpassthrough``, ``ckredirector``, ``cknode`` in the other modes; solo
    ``-B`` keeps ``ckpool``); socket directory ``/tmp/NAME`` unless ``-s`` is
    given.

    :returns: ``{"pid", "cwd", "config", "config_source", "config_found",
        "name", "name_source", "mode", "sockdir", "log_dir", "log_dir_source":
        "config"|"default", "log_file": LOGDIR/NAME.log}``.  When the default
        config file does not exist, ckpool runs on defaults, and so does this
        (``config_found`` false).
    :raises CkpoolFileMissing: no such process.
    :raises CkpoolFileError: its cwd cannot be read (needs the same user or
        root), or its config is unreadable/invalid.
    """
    proc = '/proc/%d' % pid
    info = process_info(pid)
    if info is None:
        raise CkpoolFileMissing(proc, 'no such process')
    if info['cwd'] is None:
        raise CkpoolFileError(proc + '/cwd', 'cannot read the working directory of process %d '
                                             '(run as its user or root)' % pid)
    described = describe_instance(info, None)
    config = {}
    config_found = True
    try:
        config = read_config(described['config'])
    except CkpoolFileMissing:
        if described['config_source'] == 'argument':
            raise
        config_found = False
    has_logdir = isinstance(config.get('logdir'), str) and bool(config.get('logdir'))
    log_dir = config_logdir(config, described['cwd'])
    described.update(config_found=config_found, log_dir=log_dir,
                     log_dir_source='config' if has_logdir else 'default',
                     log_file=os.path.join(log_dir, described['name'] + '.log'))
    return described


def discover_logdir(pid):
    """Return the absolute log directory of running ckpool process ``pid``.

    Shortcut for ``discover_instance(pid)["log_dir"]``; same errors.
    """
    return discover_instance(pid)['log_dir']
