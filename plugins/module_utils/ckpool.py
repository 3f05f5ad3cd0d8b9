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


class CkpoolClient:
    """Talk to one ckpool instance through its socket directory.

    Every call appends an audit entry ``{socket, command, reply, ms}`` to
    :attr:`audit` (``reply`` is ``None`` for EOF); failed calls carry an
    ``error`` key as well.
    """

    def __init__(self, socket_dir=DEFAULT_SOCKET_DIR, timeout=DEFAULT_TIMEOUT,
                 connector_timeout=DEFAULT_CONNECTOR_TIMEOUT,
                 max_reply=DEFAULT_MAX_REPLY, check_mode=False,
                 allow_state_creating=False):
        if timeout is None or timeout <= 0:
            raise CkpoolRefused('timeout must be a positive number of seconds, got %r' % (timeout,))
        self.socket_dir = socket_dir
        self.timeout = float(timeout)
        self.connector_timeout = float(connector_timeout or timeout)
        self.max_reply = int(max_reply)
        self.check_mode = check_mode
        self.allow_state_creating = allow_state_creating
        self.audit = []

    # -- locating the instance ------------------------------------------------
    def path(self, sock):
        if sock not in SOCKETS:
            raise CkpoolRefused('unknown ckpool socket %r: expected one of %s' % (sock, ', '.join(SOCKETS)))
        return os.path.join(self.socket_dir, sock)

    @property
    def pid_file(self):
        return os.path.join(self.socket_dir, PID_FILE)

    def read_pid(self):
        """Return the pid in ``main.pid`` (written without newline), or None if absent."""
        try:
            with open(self.pid_file, 'rb') as handle:
                data = handle.read(64)
        except (IOError, OSError) as exc:
            if exc.errno == errno.ENOENT:
                return None
            if exc.errno == errno.EACCES:
                raise CkpoolPermissionDenied(
                    'cannot read pid file %s as user %s' % (self.pid_file, _identity()),
                    path=self.pid_file)
            raise CkpoolError('cannot read pid file %s: %s' % (self.pid_file, exc), path=self.pid_file)
        text = data.decode('ascii', 'replace').strip()
        if not text.isdigit() or int(text) <= 0:
            raise CkpoolMalformedReply('pid file %s does not hold a pid: %r' % (self.pid_file, text),
                                       path=self.pid_file)
        return int(text)

    @staticmethod
    def pid_alive(pid):
        if not pid:
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
        """Process facts from the pid file: ``{pid, running, pid_file, sockets}``."""
        pid = self.read_pid()
        sockets = dict((name, os.path.exists(os.path.join(self.socket_dir, name))) for name in SOCKETS)
        return dict(pid=pid, running=self.pid_alive(pid), pid_file=self.pid_file, sockets=sockets)

    # -- the wire ---------------------------------------------------------------
    def _deadline_for(self, sock, timeout):
        if timeout is not None:
            return float(timeout)
        if sock == 'connector':
            return max(self.timeout, self.connector_timeout)
        return self.timeout

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
        when False, EOF is the protocol's normal answer.
        """
        self.check_command(sock, command, allow_state_creating)
        path = self.path(sock)
        entry = dict(socket=sock, command=command, reply=None, ms=0.0)
        self.audit.append(entry)
        started = time.monotonic()
        progress = dict(sent=False)
        try:
            reply = self._exchange(path, command, self._deadline_for(sock, timeout), started, progress)
            if reply is None and expect_reply:
                raise CkpoolNoReply('ckpool closed the connection without a reply where one is required',
                                    path=path, command=command)
            entry['reply'] = reply
            return reply
        except CkpoolError as exc:
            entry['error'] = exc.kind
            exc.sent = progress['sent']
            raise
        finally:
            entry['ms'] = round((time.monotonic() - started) * 1000.0, 3)

    def _reply_error(self, exc):
        """Mark the last call as failed by its reply (the command was sent) and return the error."""
        exc.sent = True
        if self.audit:
            self.audit[-1]['error'] = exc.kind
        return exc

    def _exchange(self, path, command, timeout, started, progress):
        deadline = started + timeout

        def remaining():
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            return left

        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                sock.settimeout(remaining())
                sock.connect(path)
            except socket.timeout:
                raise CkpoolDeadlineExceeded('could not connect within %.1f s (the socket serves one client '
                                             'at a time; another client may hold it)' % timeout,
                                             path=path, command=command, timeout=timeout)
            except (IOError, OSError) as exc:
                raise self._connect_error(path, command, exc)
            try:
                sock.settimeout(remaining())
                sock.sendall(encode_frame(command))
                progress['sent'] = True
                try:
                    sock.shutdown(socket.SHUT_WR)
                except (IOError, OSError):
                    pass
                header = self._recv_exact(sock, 4, remaining)
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
                body = self._recv_exact(sock, length, remaining)
                if len(body) < length:
                    raise CkpoolMalformedReply('truncated reply: %d of %d announced bytes before EOF'
                                               % (len(body), length), path=path, command=command)
            except socket.timeout:
                raise CkpoolDeadlineExceeded('no answer within %.1f s' % timeout,
                                             path=path, command=command, timeout=timeout)
            except CkpoolError:
                raise
            except (IOError, OSError) as exc:
                if exc.errno in (errno.ECONNRESET, errno.EPIPE):
                    # ckpool closed on us: same as EOF for commands without reply
                    return None
                raise CkpoolError('socket error: %s' % exc, path=path, command=command)
        finally:
            sock.close()
        try:
            return body.rstrip(b'\x00').decode('utf-8')
        except UnicodeDecodeError:
            raise CkpoolMalformedReply('reply is not UTF-8 text', path=path, command=command)

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
                reason = 'main.pid is missing'
            elif not self.pid_alive(pid):
                reason = 'pid %d from main.pid is not running' % pid
            else:
                reason = 'pid %d is alive but refuses connections (restarting?)' % pid
            return CkpoolNotRunning('ckpool is not running: stale socket refuses connections, %s' % reason,
                                    path=path, command=command, reason='stale_socket', pid=pid)
        if code in (errno.EACCES, errno.EPERM):
            user, group, mode = _owner_text(path)
            if user is None:
                user, group, mode = _owner_text(self.socket_dir)
                target = self.socket_dir
            else:
                target = path
            msg = ('permission denied as user %s: %s is owned by %s:%s mode %s; run as %s or add %s to group %s '
                   '(ckpool makes its sockets 0770 and the directory 0750)'
                   % (_identity(), target, user, group, oct(mode) if mode is not None else '?', user,
                      _identity(), group))
            return CkpoolPermissionDenied(msg, path=path, command=command, owner=user, group=group)
        if code in (errno.ENOTSOCK, errno.EPROTOTYPE):
            return CkpoolError('%s is not a unix stream socket' % path, path=path, command=command)
        return CkpoolError('cannot connect: %s' % exc, path=path, command=command)

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
        command = 'loglevel=%d' % int(level)
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
        if not host or any(c in host for c in ',: ') or not isinstance(port, int) or not 0 < port < 65536:
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

    def dropclient(self, client_id, timeout=None):
        """``dropclient=ID`` on the connector: closes that miner's TCP connection at once.

        The connector answers nothing (EOF) by protocol."""
        if not isinstance(client_id, int) or isinstance(client_id, bool) or client_id < 0:
            raise CkpoolRefused('client id must be a non-negative integer, got %r' % (client_id,))
        return self.send('connector', 'dropclient=%d' % client_id, expect_reply=False, timeout=timeout)
