# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Processes: /proc, ckpool's command line (getopt), its config, instance discovery.

Runs on the managed host (Python 3.6+, standard library only, no subprocess).
"""

import json
import os

from ansible_collections.ckpool.fleet.plugins.module_utils.safe_files import CkpoolFileError, CkpoolFileMissing, read_small_file

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
    data = read_small_file(path, MAX_CONFIG_BYTES)
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
        its ``" (deleted)"`` suffix.  ``start_time`` is ``btime`` from
        /proc/stat plus field 22 (start time in clock ticks after boot) of
        /proc/PID/stat, so it is accurate to about one second.  A zombie has
        an empty ``cmdline``.
    """
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        raise ValueError('pid must be a positive integer, got %r' % (pid,))
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
    }


_CKPOOL_BINARY = 'ckpool'
_SIMULATOR_SCRIPT = 'ckpool_sim.py'
_SIMULATOR_MODULE = 'ckpool_sim'
_PYTHON_OPTS_WITH_ARG = frozenset(['-W', '-X', '-Q'])


def _strip_deleted(path):
    """Remove the ``" (deleted)"`` suffix /proc adds to replaced binaries."""
    if path and path.endswith(' (deleted)'):
        return path[:-len(' (deleted)')]
    return path


def _simulator_args_start(cmdline):
    """Return the index of the first ckpool argument when ``cmdline`` runs the simulator, else None.

    Recognised: ``python [interpreter options] [path/]ckpool_sim.py ARGS`` and
    ``python [options] -m [package.]ckpool_sim ARGS``.
    """
    if not cmdline or not os.path.basename(cmdline[0]).startswith('python'):
        return None
    index = 1
    while index < len(cmdline):
        arg = cmdline[index]
        if arg == '-m':
            if index + 1 < len(cmdline) and cmdline[index + 1].split('.')[-1] == _SIMULATOR_MODULE:
                return index + 2
            return None
        if arg == '-c' or arg == '-':
            return None
        if arg in _PYTHON_OPTS_WITH_ARG:
            index += 2
            continue
        if arg.startswith('-'):
            index += 1
            continue
        if os.path.basename(arg) == _SIMULATOR_SCRIPT:
            return index + 1
        return None
    return None


def ckpool_args(cmdline):
    """Return ckpool's own arguments from a command line, or None if it is not ckpool.

    For the ``ckpool`` binary these are ``cmdline[1:]``; for the simulator,
    the arguments after ``ckpool_sim.py`` (or ``-m ...ckpool_sim``).
    """
    if not cmdline:
        return None
    if os.path.basename(cmdline[0]) == _CKPOOL_BINARY:
        return list(cmdline[1:])
    start = _simulator_args_start(cmdline)
    if start is None:
        return None
    return list(cmdline[start:])


def is_ckpool_process(pid, started_before=None):
    """Tell whether ``pid`` is a live ckpool process (or the collection's simulator).

    Rule, meant to be checked right before signalling a pid read from
    ``main.pid``:

    * the process exists and is not a zombie (state ``Z``) or dead (``X``);
    * and either the basename of its executable (``/proc/PID/exe``, a
      ``" (deleted)"`` suffix removed) is ``ckpool``, or the basename of
      ``cmdline[0]`` is ``ckpool``, or it is a Python interpreter running
      ``ckpool_sim.py`` (see :func:`ckpool_args`);
    * and, when ``started_before`` (unix time) is given, the process started
      no later than that (+1 s for the one-second precision of the start
      time).  Pass the mtime of ``main.pid``: ckpool writes the file after it
      starts, so a process that started later got a recycled pid.

    Thread names (``ckp@...``) and ``comm`` are not used: ``comm`` is
    truncated and trivially changed.  ``started_before`` errs on the safe
    side: if the wall clock was stepped forward after ckpool wrote its pid
    file (NTP at boot), the computed start time moves forward too and a
    genuine ckpool can be refused; it never accepts a younger process.  The check cannot prevent a race with
    a pid recycled between this call and ``kill()``; keep that window short.
    """
    info = process_info(pid)
    if info is None or info['state'] in ('Z', 'X', 'x'):
        return False
    if started_before is not None:
        if info['start_time'] is None or info['start_time'] > started_before + 1.0:
            return False
    exe = _strip_deleted(info['exe'])
    if exe and os.path.basename(exe) == _CKPOOL_BINARY:
        return True
    return ckpool_args(info['cmdline']) is not None


# Options of ckpool's getopt_long() that take an argument, and their long names.
_SHORT_WITH_ARG = frozenset('cdglnSs')
_SHORT_NO_ARG = frozenset('ABDHhkLNPpqRtuT')
_LONG_OPTIONS = {
    'config': 'c', 'ckdb-name': 'd', 'group': 'g', 'loglevel': 'l', 'name': 'n',
    'ckdb-sockdir': 'S', 'sockdir': 's',
    'btcsolo': 'B', 'daemonise': 'D', 'handover': 'H', 'help': 'h', 'killold': 'k',
    'log-shares': 'L', 'node': 'N', 'passthrough': 'P', 'proxy': 'p', 'quiet': 'q',
    'redirector': 'R', 'trusted': 't', 'userproxy': 'u',
}


def parse_ckpool_args(args):
    """Parse ckpool's command-line arguments the way its ``getopt_long`` does.

    Handles ``-c FILE``, ``-cFILE``, bundled flags (``-kc FILE``),
    ``--config FILE``, ``--config=FILE`` and unambiguous long-option prefixes
    (``--conf``).  Unknown options are ignored (the simulator's ``--sim-*``
    options included, with their values when given as ``--sim-x=VALUE``).

    :returns: ``{"config": str or None, "name": str or None, "sockdir": str
        or None, "mode": "pool"|"proxy"|"passthrough"|"redirector"|"node"|"userproxy"}``.
    """
    result = {'config': None, 'name': None, 'sockdir': None, 'mode': 'pool'}
    modes = {'p': 'proxy', 'P': 'passthrough', 'R': 'redirector', 'N': 'node', 'u': 'userproxy'}
    targets = {'c': 'config', 'n': 'name', 's': 'sockdir'}

    def apply(letter, value):
        if letter in targets:
            result[targets[letter]] = value
        elif letter in modes:
            result['mode'] = modes[letter]

    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == '--':
            break
        if arg.startswith('--'):
            body = arg[2:]
            name, has_value, value = body.partition('=')
            if name.startswith('sim-'):
                continue
            letter = _LONG_OPTIONS.get(name)
            if letter is None:
                candidates = [key for key in _LONG_OPTIONS if key.startswith(name)]
                if len(candidates) != 1:
                    continue
                letter = _LONG_OPTIONS[candidates[0]]
            if letter in _SHORT_WITH_ARG:
                if not has_value:
                    if index >= len(args):
                        break
                    value = args[index]
                    index += 1
                apply(letter, value)
            else:
                apply(letter, None)
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
                            return result
                        value = args[index]
                        index += 1
                    apply(letter, value)
                    break
                apply(letter, None)
            continue
        # getopt permutes: non-option arguments are skipped.
    return result


def default_name(mode):
    """Return ckpool's default instance name (and config basename) for a mode."""
    return {
        'node': 'cknode', 'redirector': 'ckredirector', 'passthrough': 'ckpassthrough',
        'proxy': 'ckproxy', 'userproxy': 'ckproxy',
    }.get(mode, 'ckpool')


def discover_instance(pid):
    """Find where a running ckpool (or simulator) keeps its config, sockets and logs.

    Uses the process's arguments (``-c/--config``, ``-n/--name``,
    ``-s/--sockdir``, mode flags) and its working directory, applying ckpool's
    defaults: config ``NAME.conf`` and logdir ``logs``, both relative to the
    process's cwd; name ``ckpool`` (``ckproxy``, ``ckpassthrough``,
    ``ckredirector``, ``cknode`` in the other modes); socket directory
    ``/tmp/NAME`` unless ``-s`` is given.

    :returns: ``{"pid", "cwd", "config": absolute path, "config_source":
        "argument"|"default", "config_found": bool, "name", "sockdir",
        "log_dir", "log_dir_source": "config"|"default"}``.  When the
        default config file does not exist, ckpool runs on defaults, and so
        does this (``config_found`` false).
    :raises CkpoolFileMissing: no such process.
    :raises CkpoolFileError: not a ckpool process, its cwd cannot be read
        (needs the same user or root), or its config is unreadable/invalid.
    """
    proc = '/proc/%d' % pid
    info = process_info(pid)
    if info is None:
        raise CkpoolFileMissing(proc, 'no such process')
    args = ckpool_args(info['cmdline'])
    exe = _strip_deleted(info['exe'])
    if args is None and exe and os.path.basename(exe) == _CKPOOL_BINARY:
        args = list(info['cmdline'][1:])
    if args is None:
        raise CkpoolFileError(proc, 'process %d is not ckpool (cmdline %r)' % (pid, info['cmdline']))
    cwd = info['cwd']
    if cwd is None:
        raise CkpoolFileError(proc + '/cwd', 'cannot read the working directory of process %d '
                                             '(run as its user or root)' % pid)
    cwd = _strip_deleted(cwd)
    parsed = parse_ckpool_args(args)
    name = parsed['name'] or default_name(parsed['mode'])
    if parsed['config']:
        config_path = os.path.normpath(os.path.join(cwd, parsed['config']))
        config_source = 'argument'
    else:
        config_path = os.path.normpath(os.path.join(cwd, name + '.conf'))
        config_source = 'default'
    config = {}
    config_found = True
    try:
        config = read_config(config_path)
    except CkpoolFileMissing:
        if config_source == 'argument':
            raise
        config_found = False
    if parsed['sockdir']:
        sockdir = os.path.normpath(os.path.join(cwd, parsed['sockdir']))
    else:
        sockdir = os.path.join('/tmp', name)
    has_logdir = isinstance(config.get('logdir'), str) and bool(config.get('logdir'))
    return {
        'pid': pid,
        'cwd': cwd,
        'config': config_path,
        'config_source': config_source,
        'config_found': config_found,
        'name': name,
        'sockdir': sockdir,
        'log_dir': config_logdir(config, cwd),
        'log_dir_source': 'config' if has_logdir else 'default',
    }


def discover_logdir(pid):
    """Return the absolute log directory of running ckpool process ``pid``.

    Shortcut for ``discover_instance(pid)["log_dir"]``; same errors.
    """
    return discover_instance(pid)['log_dir']
