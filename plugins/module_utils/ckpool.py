# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one client that speaks ckpool's unix-socket control protocol.

Everything about the wire protocol, its deadlines and its failure modes lives
here; modules stay thin.  The facts encoded below come from observations of a
real ckpool (see the collection's ``docs/ckpool-protocol.md``):

* four unix stream sockets in the socket directory: ``listener``,
  ``stratifier``, ``connector``, ``generator``;
* a request is a 4-byte little-endian length followed by the message (no NUL),
  sent in one piece; the reply uses the same framing;
* many commands answer nothing at all (the server closes the connection: EOF),
  which is the protocol's success answer for them, not an error;
* JSON sent to the listener is never answered and the connection is held open
  forever: this client refuses to send it;
* ``getuser=``/``userclients=`` (and friends) create state in the pool: this
  client refuses them unless the caller explicitly allows state-creating
  commands;
* each socket serves one client at a time, so every call is bounded by one
  deadline covering connect, send and receive.

Runs on the managed host: Python 3.6+, standard library only.
"""

import errno
import json
import math
import os
import socket
import stat
import struct
import time

try:
    import grp
    import pwd
except ImportError:  # pragma: no cover - non-POSIX
    grp = None
    pwd = None


SOCKETS = ('listener', 'stratifier', 'connector', 'generator')
DEFAULT_SOCKET_DIR = '/tmp/ckpool'
DEFAULT_TIMEOUT = 5.0
# The connector of a freshly started ckpool answers only on 5-second
# boundaries (observed 2.6-5.0 s): give it its own, longer deadline.
DEFAULT_CONNECTOR_TIMEOUT = 6.0
# A mainnet work template (getbase) carries every transaction: megabytes.
DEFAULT_MAX_REPLY = 16 * 1024 * 1024
PID_FILE = 'main.pid'
MAX_PID = 4194304
"""Linux's PID_MAX_LIMIT: no pid is larger."""

# Commands that only read.  Only these may be sent in check mode.  ckpool
# matches commands by case-insensitive prefix, so classification does too
# (on the exact word: "stats" is a read, "statsfoo" is treated as unknown).
READ_COMMANDS = frozenset((
    'ping', 'stats', 'stratifierstats', 'connectorstats',
    'getbase', 'getbest', 'getlast',
))

# Commands that create records in the pool although they look like queries
# (upstream's stratifier API is stubbed, yet getuser/userclients still create
# the user).  Matched by case-insensitive prefix, as ckpool matches them.
STATE_CREATING_PREFIXES = (
    'getuser', 'userclients', 'ucinfo', 'wcinfo', 'getclient',
)

# Listener replies that are the only successful answers to a verb.
LISTENER_VERB_REPLIES = {
    'accept': 'accepting',
    'reject': 'rejecting',
    'reconnect': 'reconnecting',
    'resetshares': 'resetting',
    'restart': 'restarting',
    'shutdown': 'exiting',
}


class CkpoolError(Exception):
    """Base class: every failure names the socket path and the command."""

    kind = 'error'

    def __init__(self, message, path=None, command=None, **details):
        super(CkpoolError, self).__init__(message)
        self.message = message
        self.path = path
        self.command = command
        self.details = details
        # True once the whole request frame was written: ckpool may have acted on it.
        self.sent = False

    def __str__(self):
        where = []
        if self.command is not None:
            where.append('command %r' % (self.command,))
        if self.path is not None:
            where.append('socket %s' % (self.path,))
        if where:
            return '%s (%s)' % (self.message, ', '.join(where))
        return self.message

    def to_dict(self):
        result = dict(kind=self.kind, message=self.message, path=self.path,
                      command=self.command, sent=self.sent)
        result.update(self.details)
        return result


class CkpoolNotRunning(CkpoolError):
    """No socket, a stale socket (ECONNREFUSED) or a dead pid."""
    kind = 'not_running'


class CkpoolPermissionDenied(CkpoolError):
    """The socket exists but this user may not connect to it."""
    kind = 'permission_denied'


class CkpoolDeadlineExceeded(CkpoolError):
    """Connect, send or receive did not finish within the deadline."""
    kind = 'deadline_exceeded'


class CkpoolNoReply(CkpoolError):
    """ckpool closed the connection although the command requires a reply."""
    kind = 'no_reply'


class CkpoolMalformedReply(CkpoolError):
    """Truncated frame, oversized frame, undecodable text or unexpected reply."""
    kind = 'malformed_reply'


class CkpoolRefused(CkpoolError):
    """This client refused to send the command (unsafe, mutating in check mode, bad input)."""
    kind = 'refused'


class CkpoolNotASocket(CkpoolError):
    """Something that is not a unix stream socket sits where a ckpool socket should be."""
    kind = 'not_a_socket'


class Deadline(object):
    """One deadline for all the socket work of a module run.

    Created with a budget in seconds that starts at once; :meth:`extend` adds
    seconds for work a module legitimately waits for (``wait_timeout``).
    Every socket call of a client holding it is bounded by
    ``min(its own timeout, remaining())``, so a run whose sockets hang ends
    within the budget however many calls it makes.
    """

    def __init__(self, seconds, what='timeout'):
        self.started = time.monotonic()
        self.budget = float(seconds)
        self.what = what

    @property
    def end(self):
        return self.started + self.budget

    def extend(self, seconds, what=None):
        """Add ``seconds`` to the budget (``what`` names it in messages, e.g. ``timeout + wait_timeout``)."""
        self.budget += float(seconds)
        if what:
            self.what = what

    def remaining(self):
        return self.end - time.monotonic()

    def expired(self):
        return self.remaining() <= 0


def command_word(command):
    """Return the lower-cased verb of a command (text before ``=`` or ``:``)."""
    word = command.strip().lower()
    for sep in ('=', ':'):
        word = word.split(sep, 1)[0]
    return word


def is_json(command):
    return command.lstrip().startswith(('{', '['))


def is_state_creating(command):
    low = command.lstrip().lower()
    return any(low.startswith(prefix) for prefix in STATE_CREATING_PREFIXES)


def is_read_only(command):
    """True only for commands known not to change the pool."""
    return (not is_state_creating(command)
            and command.strip().lower() in READ_COMMANDS)


def encode_frame(message):
    """Frame a request: 4-byte little-endian length, then the bytes, no NUL."""
    if isinstance(message, str):
        message = message.encode('utf-8')
    return struct.pack('<I', len(message)) + message


def _identity():
    uid = os.geteuid()
    name = str(uid)
    if pwd is not None:
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            pass
    return name


def _owner_text(path):
    try:
        st = os.stat(path)
    except OSError:
        return None, None, None
    user = str(st.st_uid)
    group = str(st.st_gid)
    if pwd is not None:
        try:
            user = pwd.getpwuid(st.st_uid).pw_name
        except KeyError:
            pass
    if grp is not None:
        try:
            group = grp.getgrgid(st.st_gid).gr_name
        except KeyError:
            pass
    return user, group, stat.S_IMODE(st.st_mode)


def parse_pid(text, where):
    """Parse a pid written as ASCII decimal digits; raise ValueError naming ``where`` otherwise."""
    text = text.strip()
    if not text or len(text) > 7 or any(c not in '0123456789' for c in text):
        raise ValueError('%s does not hold a pid: %r' % (where, text[:40]))
    pid = int(text)
    if not 0 < pid <= MAX_PID:
        raise ValueError('%s holds %d, which is not a possible pid (1-%d)' % (where, pid, MAX_PID))
    return pid


def _peer_credentials(sock):
    """Return ``(pid, uid, gid)`` of the process that listens on a connected unix socket, or None.

    Linux records the credentials of the process that called ``listen()`` on
    the server socket and hands them to every client that connects
    (``SO_PEERCRED``): no reply is needed, so it works on a hung server too.
    """
    option = getattr(socket, 'SO_PEERCRED', None)
    if option is None:  # pragma: no cover - not Linux
        return None
    try:
        data = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize('3i'))
    except (IOError, OSError):
        return None
    pid, uid, gid = struct.unpack('3i', data)
    if pid <= 0:
        return None
    return pid, uid, gid


class CkpoolClient:
    """Talk to one ckpool instance through its socket directory.

    Every call appends an audit entry ``{socket, command, reply, ms}`` to
    :attr:`audit` (``reply`` is ``None`` for EOF); failed calls carry an
    ``error`` key as well.

    :param deadline: a :class:`Deadline` shared by every call (one deadline
        for a whole module run); ``None`` bounds each call by its own timeout
        only.
    :ivar peers: ``{socket name: (pid, uid, gid)}`` of the process found
        listening on each socket by the last connection to it (``SO_PEERCRED``).
    :ivar delivered: ``[(socket, command)]`` of every command that is not a
        known read and whose whole frame was written: ckpool may have acted on
        it, whatever happened next.
    """

    def __init__(self, socket_dir=DEFAULT_SOCKET_DIR, timeout=DEFAULT_TIMEOUT,
                 connector_timeout=DEFAULT_CONNECTOR_TIMEOUT,
                 max_reply=DEFAULT_MAX_REPLY, check_mode=False,
                 allow_state_creating=False, deadline=None):
        if (timeout is None or isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                or math.isnan(timeout) or not 0 < timeout <= 86400):
            raise CkpoolRefused('timeout must be a finite number of seconds > 0, got %r' % (timeout,))
        self.socket_dir = socket_dir
        self.timeout = float(timeout)
        self.connector_timeout = float(connector_timeout or timeout)
        self.max_reply = int(max_reply)
        self.check_mode = check_mode
        self.allow_state_creating = allow_state_creating
        self.deadline = deadline
        self.audit = []
        self.peers = {}
        self.delivered = []

    # -- locating the instance ------------------------------------------------
    def path(self, sock):
        if sock not in SOCKETS:
            raise CkpoolRefused('unknown ckpool socket %r: expected one of %s' % (sock, ', '.join(SOCKETS)))
        return os.path.join(self.socket_dir, sock)

    @property
    def pid_file(self):
        return os.path.join(self.socket_dir, PID_FILE)

    def read_pid(self):
        """Return the pid in ``main.pid`` (written without newline), or None if absent.

        The file is opened non-blocking and must be a regular file of a few
        bytes holding ASCII digits of a possible pid (1-4194304).  It is only
        a hint: ckpool rewrites it late in a handover, and a stale one can name
        any process.  Proof of which process serves a socket directory comes
        from the sockets (:attr:`peers`).
        """
        flags = os.O_RDONLY | getattr(os, 'O_CLOEXEC', 0) | getattr(os, 'O_NONBLOCK', 0) | getattr(os, 'O_NOFOLLOW', 0)
        try:
            fd = os.open(self.pid_file, flags)
        except (IOError, OSError) as exc:
            if exc.errno == errno.ENOENT:
                return None
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise CkpoolPermissionDenied(
                    'cannot read pid file %s as user %s' % (self.pid_file, _identity()), path=self.pid_file)
            if exc.errno == errno.ELOOP:
                raise CkpoolMalformedReply('pid file %s is a symbolic link; ckpool writes a regular file'
                                           % self.pid_file, path=self.pid_file)
            raise CkpoolError('cannot read pid file %s: %s' % (self.pid_file, exc), path=self.pid_file)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise CkpoolMalformedReply('pid file %s is not a regular file' % self.pid_file, path=self.pid_file)
            data = os.read(fd, 64)
        except (IOError, OSError) as exc:
            raise CkpoolError('cannot read pid file %s: %s' % (self.pid_file, exc), path=self.pid_file)
        finally:
            os.close(fd)
        try:
            return parse_pid(data.decode('ascii', 'replace'), 'pid file %s' % self.pid_file)
        except ValueError as exc:
            raise CkpoolMalformedReply(str(exc), path=self.pid_file)

    @staticmethod
    def pid_alive(pid):
        if not pid or isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid <= MAX_PID:
            return False
        try:
            os.kill(pid, 0)
        except OSError as exc:
            if exc.errno == errno.ESRCH:
                return False
            if exc.errno == errno.EPERM:
                return True
            raise
        # A zombie still answers kill(0): treat it as gone.
        try:
            with open('/proc/%d/stat' % pid, 'rb') as handle:
                fields = handle.read().rsplit(b')', 1)[-1].split()
            if fields and fields[0] in (b'Z', b'X'):
                return False
        except (IOError, OSError):
            pass
        return True

    def process(self):
        """Facts from the pid file: ``{pid, running, pid_file, sockets}`` (a hint, see :meth:`read_pid`)."""
        pid = self.read_pid()
        sockets = dict((name, os.path.exists(os.path.join(self.socket_dir, name))) for name in SOCKETS)
        return dict(pid=pid, running=self.pid_alive(pid), pid_file=self.pid_file, sockets=sockets)

    # -- the wire ---------------------------------------------------------------
    def _call_timeout(self, sock, timeout, path, command):
        """The deadline of one call: its own timeout, cut to what the run's deadline leaves."""
        if timeout is None:
            timeout = max(self.timeout, self.connector_timeout) if sock == 'connector' else self.timeout
        timeout = float(timeout)
        if self.deadline is None:
            return timeout, False
        left = self.deadline.remaining()
        if left <= 0:
            raise CkpoolDeadlineExceeded(
                'not sent: the deadline for all socket work of this run (%s = %.1f s) is used up'
                % (self.deadline.what, self.deadline.budget), path=path, command=command, timeout=self.deadline.budget)
        if left < timeout:
            return left, True
        return timeout, False

    def check_command(self, sock, command, allow_state_creating=None):
        """Raise CkpoolRefused when this command must not be sent."""
        path = self.path(sock)
        if not isinstance(command, str) or not command.strip():
            raise CkpoolRefused('refusing to send an empty command', path=path, command=command)
        if any(ord(c) < 32 or ord(c) == 127 for c in command):
            raise CkpoolRefused('refusing to send a command with control characters', path=path, command=command)
        if is_json(command) and sock == 'listener':
            raise CkpoolRefused('refusing to send JSON to the listener: ckpool never answers it and '
                                'holds the connection open forever', path=path, command=command)
        allow = self.allow_state_creating if allow_state_creating is None else allow_state_creating
        if is_state_creating(command) and not allow:
            raise CkpoolRefused('refusing to send a command that creates records in the pool '
                                '(ckpool creates the user/client entry it is asked about)',
                                path=path, command=command)
        if self.check_mode and not is_read_only(command):
            raise CkpoolRefused('refusing to send a mutating command in check mode', path=path, command=command)

    def send(self, sock, command, expect_reply=False, timeout=None, allow_state_creating=None):
        """Send one command and return the reply text, or None when ckpool closed without one.

        ``expect_reply``: when True, EOF is an error (:class:`CkpoolNoReply`);
        when False, EOF is the protocol's normal answer.  The call is bounded
        by ``timeout`` (default: the client's) and by the run's
        :class:`Deadline`, whichever ends first.
        """
        return self.send_many(sock, [command], expect_reply=expect_reply, timeout=timeout,
                              allow_state_creating=allow_state_creating, raise_first=True)[0]

    def send_many(self, sock, commands, expect_reply=False, timeout=None, allow_state_creating=None,
                  raise_first=False, batch=64):
        """Send several commands to one socket at once, then collect every answer.

        ckpool queues each message as soon as it has read it and works through
        the queue in order, so writing all frames before waiting makes N slow
        answers (a fresh connector answers on 5-second boundaries) cost one
        wait instead of N.  At most ``batch`` connections are open at a time.
        All of it is bounded by one deadline (``timeout``, cut to the run's).

        :returns: a list with, per command, the reply text (None for EOF) or
            the :class:`CkpoolError` it failed with (``raise_first`` raises
            the first error instead).
        """
        commands = list(commands)
        for command in commands:
            self.check_command(sock, command, allow_state_creating)
        path = self.path(sock)
        call_timeout, capped = self._call_timeout(sock, timeout, path, commands[0] if commands else None)
        started = time.monotonic()
        end = started + call_timeout
        results = []
        for first in range(0, len(commands), batch):
            chunk = commands[first:first + batch]
            opened = []
            for command in chunk:
                entry = dict(socket=sock, command=command, reply=None, ms=0.0)
                self.audit.append(entry)
                try:
                    conn = self._connect_and_send(path, command, end, call_timeout, capped)
                except CkpoolError as exc:
                    entry['error'] = exc.kind
                    entry['ms'] = round((time.monotonic() - started) * 1000.0, 3)
                    opened.append((entry, None, exc))
                    continue
                if not is_read_only(command):
                    self.delivered.append((sock, command))
                opened.append((entry, conn, None))
            for entry, conn, error in opened:
                if conn is not None:
                    try:
                        reply = self._receive(conn, path, entry['command'], end, call_timeout, capped)
                        if reply is None and expect_reply:
                            raise CkpoolNoReply('ckpool closed the connection without a reply where one is '
                                                'required', path=path, command=entry['command'])
                        entry['reply'] = reply
                        error = None
                    except CkpoolError as exc:
                        exc.sent = True
                        entry['error'] = exc.kind
                        error = exc
                    finally:
                        conn.close()
                        entry['ms'] = round((time.monotonic() - started) * 1000.0, 3)
                if error is not None:
                    if raise_first:
                        for dummy, other, dummy2 in opened:
                            if other is not None:
                                other.close()
                        raise error
                    results.append(error)
                else:
                    results.append(entry['reply'])
        return results

    def _deadline_error(self, message, path, command, call_timeout, capped, sent):
        if capped:
            message = '%s (the deadline for all socket work of this run, %s = %.1f s, ended)' % (
                message, self.deadline.what, self.deadline.budget)
        exc = CkpoolDeadlineExceeded(message, path=path, command=command, timeout=call_timeout)
        exc.sent = sent
        return exc

    def _check_path(self, path, command):
        """Explain a path that is not a socket before trying to connect to it."""
        try:
            st = os.stat(path)
        except OSError:
            return  # connect() reports ENOENT/EACCES with context
        if not stat.S_ISSOCK(st.st_mode):
            from_kind = 'a regular file' if stat.S_ISREG(st.st_mode) else (
                'a directory' if stat.S_ISDIR(st.st_mode) else (
                    'a FIFO' if stat.S_ISFIFO(st.st_mode) else 'not a socket'))
            raise CkpoolNotASocket('%s is %s, not a unix socket: ckpool never leaves one there (is socket_dir '
                                   'right?)' % (path, from_kind), path=path, command=command)

    def _connect_and_send(self, path, command, end, call_timeout, capped):
        """Connect, record the listening process (SO_PEERCRED), write the frame, shut down writing."""
        self._check_path(path, command)
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            left = end - time.monotonic()
            if left <= 0:
                raise self._deadline_error('could not connect within %.1f s' % call_timeout, path, command,
                                           call_timeout, capped, False)
            try:
                conn.settimeout(left)
                conn.connect(path)
            except socket.timeout:
                raise self._deadline_error('could not connect within %.1f s (the socket serves one client at a '
                                           'time; another client may hold it)' % call_timeout,
                                           path, command, call_timeout, capped, False)
            except (IOError, OSError) as exc:
                raise self._connect_error(path, command, exc)
            peer = _peer_credentials(conn)
            if peer is not None:
                self.peers[os.path.basename(path)] = peer
            try:
                conn.settimeout(max(0.001, end - time.monotonic()))
                conn.sendall(encode_frame(command))
            except socket.timeout:
                raise self._deadline_error('could not write the command within %.1f s' % call_timeout, path,
                                           command, call_timeout, capped, False)
            except (IOError, OSError) as exc:
                raise CkpoolError('socket error while writing: %s' % exc, path=path, command=command)
            try:
                conn.shutdown(socket.SHUT_WR)
            except (IOError, OSError):
                pass
            return conn
        except Exception:
            conn.close()
            raise

    def _receive(self, conn, path, command, end, call_timeout, capped):
        """Read one framed reply (None for EOF) before ``end``."""
        def remaining():
            left = end - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            return left

        try:
            header = self._recv_exact(conn, 4, remaining)
            if not header:
                return None
            if len(header) < 4:
                raise CkpoolMalformedReply('truncated reply: %d of 4 length bytes before EOF' % len(header),
                                           path=path, command=command)
            length = struct.unpack('<I', header)[0]
            if length > self.max_reply:
                raise CkpoolMalformedReply(
                    'reply announces %d bytes, over the %d byte cap (not ckpool framing, or raise max_reply)'
                    % (length, self.max_reply), path=path, command=command, announced=length)
            body = self._recv_exact(conn, length, remaining)
            if len(body) < length:
                raise CkpoolMalformedReply('truncated reply: %d of %d announced bytes before EOF'
                                           % (len(body), length), path=path, command=command)
        except socket.timeout:
            raise self._deadline_error('the command was delivered but no answer came within %.1f s'
                                       % call_timeout, path, command, call_timeout, capped, True)
        except CkpoolError:
            raise
        except (IOError, OSError) as exc:
            if exc.errno in (errno.ECONNRESET, errno.EPIPE):
                # ckpool closed on us: same as EOF for commands without reply
                return None
            raise CkpoolError('socket error: %s' % exc, path=path, command=command)
        try:
            return body.rstrip(b'\x00').decode('utf-8')
        except UnicodeDecodeError:
            raise CkpoolMalformedReply('reply is not UTF-8 text', path=path, command=command)

    def _reply_error(self, exc):
        """Mark the last call as failed by its reply (the command was sent) and return the error."""
        exc.sent = True
        if self.audit:
            self.audit[-1]['error'] = exc.kind
        return exc

    @staticmethod
    def _recv_exact(sock, count, remaining):
        chunks = []
        got = 0
        while got < count:
            sock.settimeout(remaining())
            chunk = sock.recv(min(count - got, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b''.join(chunks)

    def _connect_error(self, path, command, exc):
        code = exc.errno
        if code == errno.ENOENT:
            if not os.path.isdir(self.socket_dir):
                msg = ('ckpool is not running here: socket directory %s does not exist '
                       '(ckpool uses -s DIR as given, default /tmp/NAME/)' % self.socket_dir)
            else:
                msg = 'ckpool is not running here: no socket file'
            return CkpoolNotRunning(msg, path=path, command=command, reason='no_socket')
        if code == errno.ECONNREFUSED:
            pid = None
            try:
                pid = self.read_pid()
            except CkpoolError:
                pass
            if pid is None:
                reason = 'and there is no main.pid'
            elif not self.pid_alive(pid):
                reason = 'and pid %d from main.pid is not running' % pid
            else:
                reason = ('although main.pid names pid %d, which is alive (a handover in progress, or a stale '
                          'main.pid naming another process)' % pid)
            return CkpoolNotRunning('ckpool is not running here: nothing listens on this socket (ckpool leaves '
                                    'its socket files behind when it stops) %s' % reason,
                                    path=path, command=command, reason='stale_socket', pid=pid)
        if code in (errno.EACCES, errno.EPERM):
            return CkpoolPermissionDenied(self._permission_text(path), path=path, command=command)
        if code in (errno.ENOTSOCK, errno.EPROTOTYPE):
            return CkpoolNotASocket('%s is not a unix stream socket' % path, path=path, command=command)
        return CkpoolError('cannot connect: %s' % exc, path=path, command=command)

    def _permission_text(self, path):
        """Explain why connecting was refused: which of directory and socket denies, and who may connect."""
        me = _identity()
        try:
            os.stat(self.socket_dir)
        except OSError:
            return ('permission denied as user %s: a directory on the way to %s does not let this user in (ckpool '
                    'makes its socket directory 0750 for its own user and group)' % (me, self.socket_dir))
        d_user, d_group, d_mode = _owner_text(self.socket_dir)
        effective = os.access in getattr(os, 'supports_effective_ids', ())
        if not (os.access(self.socket_dir, os.X_OK, effective_ids=True) if effective
                else os.access(self.socket_dir, os.X_OK)):
            return ('permission denied as user %s: the socket directory %s (owner %s:%s, mode %s) does not let '
                    'this user reach its sockets (ckpool makes it 0750: run as %s or a member of group %s)'
                    % (me, self.socket_dir, d_user, d_group, oct(d_mode), d_user, d_group))
        user, group, mode = _owner_text(path)
        if mode is None:
            return 'permission denied as user %s connecting to %s' % (me, path)
        allowed = []
        if mode & 0o200:
            allowed.append('its owner %s' % user)
        if mode & 0o020:
            allowed.append('members of group %s' % group)
        if mode & 0o002:
            allowed.append('every user')
        if not allowed:
            return ('permission denied as user %s: %s has mode %s (owner %s:%s), which lets nobody but root connect '
                    '(ckpool makes its sockets 0770: something changed this one)' % (me, path, oct(mode), user, group))
        if not mode & 0o020:
            return ('permission denied as user %s: %s has mode %s (owner %s:%s), which lets only %s connect '
                    '(ckpool makes its sockets 0770: something changed this one)'
                    % (me, path, oct(mode), user, group, ' and '.join(allowed)))
        return ('permission denied as user %s: %s is owned by %s:%s mode %s; run as %s or add %s to group %s '
                '(ckpool makes its sockets 0770 and the directory 0750)'
                % (me, path, user, group, oct(mode), user, me, group))

    # -- protocol verbs ----------------------------------------------------------
    def ping(self, sock='listener', timeout=None):
        reply = self.send(sock, 'ping', expect_reply=True, timeout=timeout)
        if reply != 'pong':
            raise self._reply_error(CkpoolMalformedReply('expected "pong", got %r' % (reply,), path=self.path(sock),
                                                         command='ping'))
        return True

    def stats(self, which='stratifier', timeout=None):
        """Stats JSON.  ``stratifier``/``connector`` are asked through the listener
        (``stratifierstats``/``connectorstats``), which answers within
        milliseconds even when the connector itself is slow."""
        command = {'stratifier': 'stratifierstats', 'connector': 'connectorstats'}.get(which)
        if command is None:
            raise CkpoolRefused('stats are available for stratifier and connector, not %r' % (which,))
        return self.query_json("listener", command, timeout)

    def query_json(self, sock, command, timeout=None):
        """Send a read command whose reply must be a JSON object; return it parsed."""
        reply = self.send(sock, command, expect_reply=True, timeout=timeout)
        try:
            data = json.loads(reply)
        except ValueError as exc:
            raise self._reply_error(CkpoolMalformedReply('reply is not JSON: %s; starts with %r' % (exc, reply[:80]),
                                                         path=self.path(sock), command=command))
        if not isinstance(data, dict):
            raise self._reply_error(CkpoolMalformedReply('reply is JSON but not an object', path=self.path(sock),
                                                         command=command))
        return data

    def listener_verb(self, command, timeout=None):
        """Send a listener control verb and require its one successful reply."""
        word = command_word(command)
        wanted = LISTENER_VERB_REPLIES.get(word)
        if wanted is None:
            raise CkpoolRefused('%r is not a listener control verb' % (command,))
        reply = self.send('listener', command, expect_reply=True, timeout=timeout)
        if reply != wanted:
            raise self._reply_error(CkpoolMalformedReply('ckpool answered %r, expected %r' % (reply, wanted),
                                                         path=self.path('listener'), command=command, reply=reply))
        return reply

    def set_loglevel(self, level, timeout=None):
        """``loglevel=N`` on the listener, the only socket that range-checks."""
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 7:
            raise CkpoolRefused('log level must be an integer from 0 to 7, got %r' % (level,))
        command = 'loglevel=%d' % level
        reply = self.send('listener', command, expect_reply=True, timeout=timeout)
        if reply == 'success':
            return reply
        if reply == 'Invalid':
            raise self._reply_error(CkpoolMalformedReply('ckpool rejected log level %d as out of range' % level,
                                                         path=self.path('listener'), command=command, reply=reply))
        if reply == 'Failed':
            raise self._reply_error(CkpoolMalformedReply('ckpool could not parse the log level',
                                                         path=self.path('listener'), command=command, reply=reply))
        raise self._reply_error(CkpoolMalformedReply('unexpected reply %r' % (reply,), path=self.path('listener'),
                                                     command=command, reply=reply))

    def redirect(self, host, port, timeout=None):
        """``reconnect:HOST,PORT`` on the listener: every miner is told to move to HOST:PORT.

        The caller validates host and port; here only what would change the command is refused."""
        host = str(host)
        if (not host or any(c in host for c in ',: ') or isinstance(port, bool) or not isinstance(port, int)
                or not 0 < port < 65536):
            raise CkpoolRefused('invalid redirect target %r:%r' % (host, port))
        return self.listener_verb('reconnect:%s,%d' % (host, port), timeout=timeout)

    def dropall(self, timeout=None):
        """``dropall`` on the stratifier, which closes every miner connection and answers nothing.

        (The listener answers ``unknown`` to dropall and does nothing.)"""
        reply = self.send('stratifier', 'dropall', expect_reply=False, timeout=timeout)
        if reply is not None:
            raise self._reply_error(CkpoolMalformedReply(
                'the stratifier answered %r to dropall; ckpool acts on it and closes without a reply' % (reply,),
                path=self.path('stratifier'), command='dropall', reply=reply))
        return reply

    @staticmethod
    def _client_id(client_id):
        if isinstance(client_id, bool) or not isinstance(client_id, int) or not 0 <= client_id < 2 ** 63:
            raise CkpoolRefused('client id must be a non-negative 64-bit integer, got %r' % (client_id,))
        return 'dropclient=%d' % client_id

    def dropclient(self, client_id, timeout=None):
        """``dropclient=ID`` on the connector: closes that miner's TCP connection at once.

        The connector answers nothing (EOF) by protocol."""
        return self.send('connector', self._client_id(client_id), expect_reply=False, timeout=timeout)

    def dropclients(self, client_ids, timeout=None):
        """``dropclient=ID`` for several ids at once (see :meth:`send_many`).

        :returns: ``[(id, None or the CkpoolError)]``; a reply (the connector
            never sends one) counts as an error too.
        """
        client_ids = list(client_ids)
        commands = [self._client_id(cid) for cid in client_ids]
        outcome = []
        for cid, result in zip(client_ids, self.send_many('connector', commands, timeout=timeout)):
            if isinstance(result, CkpoolError):
                outcome.append((cid, result))
            elif result is not None:
                exc = CkpoolMalformedReply('the connector answered %r to dropclient; ckpool closes without a reply'
                                           % (result,), path=self.path('connector'), command='dropclient=%d' % cid)
                exc.sent = True
                outcome.append((cid, exc))
            else:
                outcome.append((cid, None))
        return outcome
