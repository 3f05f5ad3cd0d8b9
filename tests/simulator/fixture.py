# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test fixture around ckpool_sim.py (standard library only).

    from ansible_collections.ckpool.fleet.tests.simulator.fixture import SimPool

    with SimPool(users=2, workers_per_user=2) as pool:
        assert pool.request('listener', 'ping').reply == 'pong'
        miner = pool.miner('alice.rig1')          # subscribed + authorised StratumClient
        pool.request('connector', 'dropclient=%d' % pool.client_id('alice.rig1'))
        assert miner.wait_eof(2)
        print(pool.commands())                    # the simulator's command log

Every wait has a deadline.  The simulator runs as a separate process in its
own session (process group); ``stop()`` ends that group, which includes any
copy started by ``restart`` / ``-H`` handovers.
"""

import ctypes
import ctypes.util
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

try:
    from .miner import StratumClient, StratumEOF
except ImportError:  # imported as a plain module (scripts)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from miner import StratumClient, StratumEOF

__all__ = ['SimPool', 'SimError', 'Reply', 'StratumClient', 'StratumEOF', 'DirEvents', 'exchange', 'frame',
           'connect_as', 'pid_alive', 'pidfile_content', 'free_port', 'kill_group', 'SIM_SCRIPT', 'MINER_SCRIPT',
           'SOCKETS']

HERE = os.path.dirname(os.path.abspath(__file__))
SIM_SCRIPT = os.path.join(HERE, 'ckpool_sim.py')
MINER_SCRIPT = os.path.join(HERE, 'miner.py')
SOCKETS = ('listener', 'stratifier', 'connector', 'generator')


class Reply:
    """Outcome of one raw control-socket exchange.

    outcome: "reply" (a framed reply arrived), "eof" (closed without a reply),
    "timeout" (nothing within the deadline: a hang), "refused", "denied", "missing",
    "partial" (EOF inside a frame).
    """

    def __init__(self, outcome, reply=None, ms=0.0, raw=b''):
        self.outcome = outcome
        self.reply = reply
        self.ms = ms
        self.raw = raw

    def __repr__(self):
        return 'Reply(%r, %r, %.1f ms)' % (self.outcome, self.reply if self.reply is None else self.reply[:80], self.ms)


def frame(command):
    data = command.encode() if isinstance(command, str) else command
    return struct.pack('<I', len(data)) + data


def exchange(path, payload, timeout=2.0, shut_wr=True, max_reply=16 * 1024 * 1024):
    """Connect to a unix socket, send payload bytes at once, read one framed reply.

    Everything (connect, send, receive) is bounded by one deadline of ``timeout`` seconds.
    """
    start = time.monotonic()
    deadline = start + timeout
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except FileNotFoundError:
            return Reply('missing')
        except ConnectionRefusedError:
            return Reply('refused')
        except PermissionError:
            return Reply('denied')
        if payload:
            sock.sendall(payload)
        if shut_wr:
            sock.shutdown(socket.SHUT_WR)
        raw = b''
        want = 4
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Reply('timeout', ms=(time.monotonic() - start) * 1000, raw=raw)
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                return Reply('timeout', ms=(time.monotonic() - start) * 1000, raw=raw)
            except ConnectionResetError:
                chunk = b''
            ms = (time.monotonic() - start) * 1000
            if not chunk:
                if not raw:
                    return Reply('eof', ms=ms)
                return Reply('partial', ms=ms, raw=raw)
            raw += chunk
            if len(raw) >= 4 and want == 4:
                want = 4 + struct.unpack('<I', raw[:4])[0]
                if want - 4 > max_reply:
                    return Reply('huge', ms=ms, raw=raw[:64])
            if len(raw) >= want:
                return Reply('reply', raw[4:want].decode('utf-8', 'replace'), ms=ms, raw=raw)
    finally:
        sock.close()


def connect_as(path, user='nobody', group=None, extra_groups=None, command='ping', timeout=3.0):
    """Try a request as another user (the tests run as root, which bypasses file modes).

    Returns the outcome string of ``exchange`` seen by that user ("denied" for EACCES).
    """
    code = ('import socket,struct,sys\n'
            's=socket.socket(socket.AF_UNIX); s.settimeout(%r)\n'
            'try:\n s.connect(%r)\nexcept PermissionError: print("denied"); sys.exit(0)\n'
            'except ConnectionRefusedError: print("refused"); sys.exit(0)\n'
            'except FileNotFoundError: print("missing"); sys.exit(0)\n'
            'd=%r.encode(); s.sendall(struct.pack("<I",len(d))+d); s.shutdown(socket.SHUT_WR)\n'
            'h=s.recv(4)\nprint("reply" if len(h)==4 else "eof")\n') % (timeout, path, command)
    kwargs = {'user': user}
    if group is not None:
        kwargs['group'] = group
    if extra_groups is not None:
        kwargs['extra_groups'] = list(extra_groups)
    # the test interpreter may live where the other user cannot read (e.g. a venv under /root)
    python = next((p for p in ('/usr/bin/python3', '/usr/local/bin/python3') if os.access(p, os.X_OK)),
                  sys.executable)
    proc = subprocess.run([python, '-c', code], capture_output=True, text=True, timeout=timeout + 5,
                          cwd='/', check=False, **kwargs)
    return (proc.stdout.strip() or 'error: ' + proc.stderr.strip()[-200:])


def pid_alive(pid):
    """True while pid runs (a zombie counts as gone)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')
    except (OSError, IndexError):
        return False


def pidfile_content(path):
    """What a reader of a pid file finds: None (no file), '' (empty: a writer has truncated it and not
    yet written, as ckpool's fopen("we") + fprintf + fclose does), the pid (int), or the raw text."""
    try:
        with open(path) as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else text


class DirEvents:
    """The file events of one directory, in the order the kernel saw them (Linux inotify).

    Events queue in the kernel from the moment the watch exists, so a test can read them afterwards:
    unlike sampling a file, this cannot miss a state that lasts a few microseconds or a few
    milliseconds while the test is not scheduled (a pid file deleted and recreated, a file truncated
    and rewritten).  ``events()`` returns ``[(name, kind)]`` with kind one of ``KINDS``; a lost event
    (queue overflow) raises SimError instead of giving a partial history.

        with DirEvents(pool.sockdir) as watch:
            ...                                   # the processes do their work
        assert watch.kinds('main.pid', 'CREATE', 'DELETE') == ['DELETE', 'CREATE']
    """

    KINDS = (('MODIFY', 0x2), ('ATTRIB', 0x4), ('CLOSE_WRITE', 0x8), ('MOVED_FROM', 0x40), ('MOVED_TO', 0x80),
             ('CREATE', 0x100), ('DELETE', 0x200))
    IN_Q_OVERFLOW = 0x4000
    HEADER = struct.Struct('iIII')   # struct inotify_event: wd, mask, cookie, len; then the name

    def __init__(self, path):
        self.path = path
        self.fd = None
        self._events = []
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, 'inotify_init1: %s' % os.strerror(err))
        mask = 0
        for _kind, bit in self.KINDS:
            mask |= bit
        if libc.inotify_add_watch(fd, os.fsencode(path), ctypes.c_uint32(mask)) < 0:
            err = ctypes.get_errno()
            os.close(fd)
            raise OSError(err, 'inotify_add_watch %s: %s' % (path, os.strerror(err)))
        self.fd = fd

    def events(self):
        """Every event so far, oldest first: [(name, kind)]."""
        while self.fd is not None:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            offset = 0
            while offset < len(data):
                _wd, mask, _cookie, length = self.HEADER.unpack_from(data, offset)
                start = offset + self.HEADER.size
                name = data[start:start + length].rstrip(b'\0').decode('utf-8', 'replace')
                offset = start + length
                if mask & self.IN_Q_OVERFLOW:
                    raise SimError('inotify queue overflow on %s: events were lost' % self.path)
                self._events.extend((name, kind) for kind, bit in self.KINDS if mask & bit)
        return list(self._events)

    def kinds(self, name, *kinds):
        """The kinds of the events of file name (only those in kinds, when given), oldest first."""
        return [kind for event_name, kind in self.events() if event_name == name and (not kinds or kind in kinds)]

    def index(self, name, kind):
        """Position of the first event (name, kind) in events(), or None."""
        events = self.events()
        return events.index((name, kind)) if (name, kind) in events else None

    def close(self):
        if self.fd is not None:
            self.events()
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def group_alive(pgid):
    """True while the process group has a member that is not a zombie."""
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as handle:
                fields = handle.read().rsplit(')', 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ('Z', 'X'):
            return True
    return False


def kill_group(pgid, timeout=5.0):
    """SIGTERM the process group pgid, then SIGKILL what is left after timeout."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not group_alive(pgid):
                return
            time.sleep(0.02)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (a fixed port survives -k restarts)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]
    finally:
        sock.close()


class SimError(Exception):
    pass


def simulator_python():
    """The interpreter for the simulator: this one, unless it is older than 3.9.

    Module tests also run on Python 3.8 (the oldest target Python), but the simulator is
    controller-side test code that passes file descriptors with socket.send_fds (3.9+).
    """
    if sys.version_info >= (3, 9):
        return sys.executable
    for name in ('python3.11', 'python3.12', 'python3.10', 'python3.9', 'python3'):
        found = shutil.which(name)
        if found:
            return found
    return sys.executable


class SimPool:
    """One simulated ckpool instance (a separate process) with helpers for tests."""

    def __init__(self, base_dir=None, name='ckpool', users=0, workers_per_user=1, faults=(), slow_connector=False,
                 status_interval=60.0, loglevel=None, block_every=0, extra_args=(), config=None, group=None,
                 ready_timeout=15.0, python=None, sockdir=None, logdir=None, stratum_port=None):
        self.own_base = base_dir is None
        self.base = base_dir or tempfile.mkdtemp(prefix='ckpool-sim-')
        self.name = name
        self.sockdir = os.path.abspath(sockdir or os.path.join(self.base, 'run'))
        self.logdir = os.path.abspath(logdir or os.path.join(self.base, 'logs'))
        self.config_path = os.path.join(self.base, 'ckpool.conf')
        self.console_path = os.path.join(self.base, 'console.log')
        self.python = python or simulator_python()
        self.ready_timeout = ready_timeout
        conf = {'btcd': [{'url': '127.0.0.1:8332', 'auth': 'user', 'pass': 'pass', 'notify': True}],
                'btcaddress': '14BMjogz69qe8hk9thyzbmR5pg34mVKB1e', 'serverurl': ['127.0.0.1:0'],
                'logdir': self.logdir}
        conf.update(config or {})
        port = free_port() if stratum_port is None else stratum_port
        # ckpool's options, then the simulator's as --sim-x=VALUE (never mistaken for ckpool options)
        self.args = ['-q', '-c', self.config_path] + (['-n', name] if name else []) + [
            '-s', self.sockdir, '--sim-stratum-port=%d' % port, '--sim-status-interval=%s' % status_interval]
        if users:
            self.args += ['--sim-users=%d' % users, '--sim-workers-per-user=%d' % workers_per_user]
        for fault in faults:
            self.args += ['--sim-fault=%s' % fault]
        if slow_connector:
            self.args.append('--sim-slow-connector')
        if loglevel is not None:
            self.args += ['-l', str(loglevel)]
        if block_every:
            self.args += ['--sim-block-every=%d' % block_every]
        if group is not None:
            self.args += ['-g', str(group)]
        # a harness that dies without calling stop() must not leak simulators
        self.args += ['--sim-exit-with=%d' % os.getpid()]
        self.args += list(extra_args)
        self.conf = conf
        self.proc = None
        self.pgid = None
        self.first_pid = None
        self.extra_groups = []
        self._stopped = False

    # ---- lifecycle -------------------------------------------------------------------
    def start(self):
        os.makedirs(self.base, exist_ok=True)
        with open(self.config_path, 'w') as handle:
            json.dump(self.conf, handle, indent=1)
        console = open(self.console_path, 'ab')
        try:
            self.proc = subprocess.Popen([self.python, SIM_SCRIPT] + self.args, stdin=subprocess.DEVNULL,
                                         stdout=console, stderr=console, cwd=self.base, start_new_session=True)
        finally:
            console.close()
        self.pgid = self.proc.pid
        self.first_pid = self.proc.pid
        reaper = threading.Thread(target=self.proc.wait, daemon=True)
        reaper.start()
        self.wait_ready(self.proc.pid, self.ready_timeout)
        return self

    def wait_ready(self, pid=None, timeout=15.0):
        """Wait until main.pid names a live pid (pid, when given) that has opened its sockets."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and pid == self.proc.pid and self.proc.poll() is not None:
                raise SimError('simulator exited with %s: %s' % (self.proc.returncode, self.console_tail()))
            current = self.pid
            state = self.state()
            # .sim_state.json is written once the sockets listen; no request is sent here, so
            # fault modes (hang, garbage, ...) and the command log stay untouched.
            if current and pid_alive(current) and (pid is None or current == pid) and state.get('pid') == current:
                if all(os.path.exists(self.socket_path(n)) for n in SOCKETS):
                    return current
            time.sleep(0.02)
        raise SimError('simulator not ready within %.1f s: %s' % (timeout, self.console_tail()))

    def stop(self, timeout=5.0):
        if self._stopped:
            return
        self._stopped = True
        for pgid in [self.pgid] + self.extra_groups:
            if pgid:
                kill_group(pgid, timeout)
        if self.own_base:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- facts ---------------------------------------------------------------------
    def socket_path(self, name):
        return os.path.join(self.sockdir, name)

    @property
    def pid(self):
        """The pid in main.pid, or None."""
        try:
            with open(os.path.join(self.sockdir, 'main.pid')) as handle:
                return int(handle.read().strip())
        except (OSError, ValueError):
            return None

    def state(self):
        try:
            with open(os.path.join(self.logdir, '.sim_state.json')) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return {}

    @property
    def stratum_port(self):
        return self.state().get('stratum_port')

    @property
    def command_log(self):
        return self.state().get('command_log') or os.path.join(self.logdir, 'sim_commands.jsonl')

    def commands(self, since=0):
        """The command log entries (list of dicts); since = number of entries to skip."""
        try:
            with open(self.command_log) as handle:
                lines = handle.read().splitlines()
        except OSError:
            return []
        return [json.loads(line) for line in lines[since:] if line.strip()]

    @property
    def logfile(self):
        """LOGDIR/NAME.log: ckpool names its log after the instance (-n NAME)."""
        return self.state().get('logfile') or os.path.join(self.logdir, '%s.log' % (self.name or 'ckpool'))

    def log_lines(self):
        try:
            with open(self.logfile, encoding='utf-8', errors='replace') as handle:
                return handle.read().splitlines()
        except OSError:
            return []

    def wait_for_log(self, pattern, timeout=5.0):
        """First NAME.log line matching the regular expression, waiting up to timeout."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_lines():
                if regex.search(line):
                    return line
            if time.monotonic() >= deadline:
                raise TimeoutError('no log line matching %r within %.1f s' % (pattern, timeout))
            time.sleep(0.02)

    def client_id(self, worker, timeout=5.0):
        """The client id of the newest "Authorised client ID ADDR worker WORKER" line."""
        regex = re.compile(r'Authorised client (\d+) \S+ worker (\S+) as user')
        deadline = time.monotonic() + timeout
        while True:
            found = None
            for line in self.log_lines():
                match = regex.search(line)
                if match and match.group(2) == worker:
                    found = int(match.group(1))
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError('worker %s never authorised' % worker)
            time.sleep(0.02)

    def console_tail(self):
        try:
            with open(self.console_path, errors='replace') as handle:
                return handle.read()[-2000:]
        except OSError:
            return ''

    # ---- talking to it -----------------------------------------------------------------
    def request(self, sockname, command, timeout=2.0, shut_wr=True):
        """Send one framed command to SOCKDIR/sockname; returns a Reply."""
        return exchange(self.socket_path(sockname), frame(command), timeout=timeout, shut_wr=shut_wr)

    def raw(self, sockname, payload, timeout=2.0, shut_wr=True):
        return exchange(self.socket_path(sockname), payload, timeout=timeout, shut_wr=shut_wr)

    def json(self, sockname, command, timeout=2.0):
        reply = self.request(sockname, command, timeout)
        if reply.outcome != 'reply':
            raise SimError('%s %s: %r' % (sockname, command, reply))
        return json.loads(reply.reply)

    def miner(self, worker=None, subscribe=True, timeout=5.0, port=None):
        """A connected StratumClient; subscribed, and authorised as worker when given."""
        client = StratumClient('127.0.0.1', port or self.stratum_port, timeout=timeout)
        if subscribe:
            client.subscribe(timeout=timeout)
        if worker:
            if not client.authorize(worker, timeout=timeout):
                raise SimError('authorisation of %s refused' % worker)
        return client

    def wait_pid_change(self, old_pid, timeout=10.0):
        """Wait until main.pid holds a live pid different from old_pid; returns it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = self.pid
            if current and current != old_pid and pid_alive(current):
                return current
            time.sleep(0.01)
        raise TimeoutError('main.pid did not change from %s within %.1f s' % (old_pid, timeout))

    def spawn(self, *extra, wait=True, timeout=15.0):
        """Start a second copy with the same arguments plus extra flags (e.g. "-H", "-k").

        The copy runs in its own session; stop() ends that process group too.  Its stderr goes to
        a file whose text is available as ``proc.stderr_text()``.
        """
        err_path = os.path.join(self.base, 'spawn-%d.err' % int(time.time() * 1000))
        with open(err_path, 'wb') as err:
            proc = subprocess.Popen([self.python, SIM_SCRIPT] + self.args + list(extra), stdin=subprocess.DEVNULL,
                                    stdout=err, stderr=err, cwd=self.base, start_new_session=True)
        self.extra_groups.append(proc.pid)

        def stderr_text():
            with open(err_path, errors='replace') as handle:
                return handle.read()
        proc.stderr_text = stderr_text
        threading.Thread(target=proc.wait, daemon=True).start()
        if wait:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        return proc


def main(argv=None):
    """python fixture.py SOCKDIR SOCKET COMMAND [TIMEOUT]: one request, the outcome as JSON on stdout."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (3, 4):
        sys.stderr.write('usage: fixture.py SOCKDIR SOCKET COMMAND [TIMEOUT]\n')
        return 2
    timeout = float(argv[3]) if len(argv) == 4 else 2.0
    got = exchange(os.path.join(argv[0], argv[1]), frame(argv[2]), timeout=timeout)
    print(json.dumps({'outcome': got.outcome, 'reply': got.reply, 'ms': round(got.ms, 3)}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
