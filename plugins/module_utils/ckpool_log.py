# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading ckpool's human log ``LOGDIR/NAME.log``.

Runs on the managed host (Python 3.6+, standard library only).  Lines look like
``[YYYY-MM-DD HH:MM:SS.mmm] message`` in the host's local time.  The log is
read **backwards from the end** with a byte bound (:class:`ReverseLineReader`),
never loaded whole.
"""

import errno
import os
import re
import time

from ansible_collections.ckpool.fleet.plugins.module_utils.safe_files import CkpoolFileError, CkpoolFileMissing
from ansible_collections.ckpool.fleet.plugins.module_utils.usernames import worker_user


DEFAULT_MAX_BYTES = 16 * 1024 * 1024
"""Default bound for reading ``ckpool.log`` from its end (16 MiB)."""

DEFAULT_BLOCK_SIZE = 64 * 1024
"""Block size used when reading a log file backwards."""
_LOG_TIME_RE = re.compile(
    r'^\[(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?\] ?'
)
_AUTH_RE = re.compile(r'Authorised client (\d+) (\S+) worker (.*) as user (.*?)\s*$')
_DROPPED_RE = re.compile(r'Dropped client (\d+) ')
_CONNECTOR_DROPPED_RE = re.compile(r'Connector dropped client id: (\d+)')
_RDHUP_RE = re.compile(r'Client id (\d+) fd \d+ RDHUP')
_DROPALL_RE = re.compile(r'Dropped \d+ instances for dropall request')
_SOLVED_RE = re.compile(r'Solved and confirmed block (\d+)(?: by (.*?))?\s*$')
_ACCEPTED_TEXT = 'BLOCK ACCEPTED!'

BLOCK_PAIR_WINDOW = 10.0
"""Seconds between ``BLOCK ACCEPTED!`` and its ``Solved and confirmed`` line."""


class ReverseLineReader(object):
    """Iterate over the complete lines of a file from the end, newest first.

    At most ``max_bytes`` bytes from the end of the file are read, in blocks of
    ``block_size``.  Only complete lines are produced: a last line still
    being written (no trailing newline) is skipped, and when the bound stops
    the reader, the partial line at the cut is dropped.  Lines are decoded as
    UTF-8 (invalid bytes replaced) without their line terminator.

    After (or during) iteration:

    :ivar bound_hit: true when reading stopped because of ``max_bytes`` before
        the start of the file was reached.
    :ivar reached_start: true when the whole file (up to its size at open
        time) was read.
    :ivar bytes_read: bytes read so far.
    :ivar size: file size when opened.

    :raises CkpoolFileMissing: (on iteration) the file does not exist.
    :raises CkpoolFileError: (on iteration) it cannot be read.
    """

    def __init__(self, path, max_bytes=DEFAULT_MAX_BYTES, block_size=DEFAULT_BLOCK_SIZE):
        if max_bytes is None or isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
            raise ValueError('max_bytes must be a positive integer, got %r' % (max_bytes,))
        if not isinstance(block_size, int) or block_size <= 0:
            raise ValueError('block_size must be a positive integer, got %r' % (block_size,))
        self.path = path
        self.max_bytes = max_bytes
        self.block_size = block_size
        self.bound_hit = False
        self.reached_start = False
        self.bytes_read = 0
        self.size = None

    @staticmethod
    def _decode(raw):
        """Decode one raw line, dropping a trailing carriage return."""
        if raw.endswith(b'\r'):
            raw = raw[:-1]
        return raw.decode('utf-8', 'replace')

    def _open(self):
        """Open the file for reading, mapping OS errors to CkpoolFileError."""
        try:
            return open(self.path, 'rb')
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise CkpoolFileMissing(self.path, 'no such file')
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise CkpoolFileError(self.path, 'permission denied (the reading user needs read access '
                                                 'to ckpool\'s log directory)')
            raise CkpoolFileError(self.path, exc.strerror or str(exc))

    def __iter__(self):
        handle = self._open()
        with handle:
            pos = os.fstat(handle.fileno()).st_size
            self.size = pos
            pending = []          # raw chunks, newest first, not yet containing a usable newline
            seen_end = False      # located the newline that ends the last complete line
            while True:
                if pos == 0:
                    self.reached_start = True
                    if seen_end:
                        # The first line of the file: complete, possibly empty.
                        yield self._decode(b''.join(reversed(pending)))
                    return
                if self.bytes_read >= self.max_bytes:
                    self.bound_hit = True
                    return
                want = min(self.block_size, pos, self.max_bytes - self.bytes_read)
                pos -= want
                try:
                    handle.seek(pos)
                    chunk = handle.read(want)
                except OSError as exc:
                    raise CkpoolFileError(self.path, exc.strerror or str(exc))
                if len(chunk) < want:
                    # The file shrank under us (rotated or truncated): stop with what we have.
                    self.bytes_read += len(chunk)
                    self.bound_hit = True
                    return
                self.bytes_read += want
                if b'\n' not in chunk:
                    pending.append(chunk)
                    continue
                pending.append(chunk)
                buf = b''.join(reversed(pending))
                pending = []
                if not seen_end:
                    cut = buf.rfind(b'\n')
                    buf = buf[:cut]
                    seen_end = True
                parts = buf.split(b'\n')
                pending.append(parts[0])
                for raw in reversed(parts[1:]):
                    yield self._decode(raw)


def tail_lines(path, max_bytes=DEFAULT_MAX_BYTES):
    """Return the complete lines in the last ``max_bytes`` bytes of ``path``.

    :returns: ``(lines, bound_hit)``: the lines oldest first (without line
        terminators; a trailing partial line is left out) and whether the
        bound stopped the read before the start of the file.
    :raises CkpoolFileMissing: no such file.
    :raises CkpoolFileError: unreadable.
    """
    reader = ReverseLineReader(path, max_bytes=max_bytes)
    lines = list(reader)
    lines.reverse()
    return lines, reader.bound_hit


class _LogTimeCache(object):
    """Convert ckpool log stamps to unix time, caching ``mktime`` per second."""

    def __init__(self):
        self._second = None
        self._base = None

    def parse(self, line):
        """Return the unix time of ``line``'s stamp, or None."""
        match = _LOG_TIME_RE.match(line)
        if match is None:
            return None
        second = match.group(0)[1:20]
        if second != self._second:
            try:
                fields = [int(match.group(i)) for i in range(1, 7)]
                base = time.mktime((fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], 0, 0, -1))
            except (OverflowError, ValueError):
                return None
            self._second = second
            self._base = base
        fraction = match.group(7)
        if fraction:
            return self._base + int(fraction) / float(10 ** len(fraction))
        return self._base


def parse_log_time(line):
    """Return the unix time of a ckpool log line's ``[YYYY-MM-DD HH:MM:SS.mmm]`` stamp.

    ckpool writes the stamp in the host's **local time** (``localtime()``),
    so it is converted with ``time.mktime`` in the reader's time zone, which
    is the same host's.  In the hour repeated when daylight saving time ends
    the stamp is ambiguous and ``mktime`` picks one of the two readings.
    Returns ``None`` for a line without a valid stamp.
    """
    return _LogTimeCache().parse(line)


def _log_message(line):
    """Return the message part of a log line (after the stamp)."""
    match = _LOG_TIME_RE.match(line)
    if match is None:
        return line
    return line[match.end():]


def client_sessions(logpath, user, since=None, max_bytes=DEFAULT_MAX_BYTES):
    """Find the stratum clients of ``user`` that are connected according to ``ckpool.log``.

    Reads the log backwards (newest first) and decides each client id by its
    **newest** event:

    * ``Authorised client ID ADDRESS worker WORKER as user USER``: connected
      (kept when USER equals ``user``, case-sensitive);
    * ``Dropped client ID ...`` (notice level), ``Connector dropped client id: ID``
      and ``Client id ID fd N RDHUP`` (info level): gone;
    * ``Dropped N instances for dropall request``: every client authorised
      before it is gone, so reading stops there.

    Reading also stops at the first line older than ``since`` (the current
    process's start time: older lines belong to an earlier process and its
    ids mean nothing now) and at ``max_bytes`` from the end.

    :param since: unix time; ``None`` reads back as far as the bound allows.
    :returns: ``{"sessions": [{"id": int, "address", "worker",
        "authorised_at": float}] (sorted by id), "bound_hit": bool, "complete":
        bool, "bytes_read": int}``.  ``complete`` is true when the history
        since the process start (or the whole file, or a ``dropall``) was
        covered; when false (``bound_hit``), a client authorised before the
        window may be missing.
    :raises ValueError: ``user`` is not a non-empty string.
    :raises CkpoolFileMissing: the log does not exist.
    :raises CkpoolFileError: it cannot be read.
    """
    if not isinstance(user, str) or not user:
        raise ValueError('user must be a non-empty string, got %r' % (user,))
    reader = ReverseLineReader(logpath, max_bytes=max_bytes)
    times = _LogTimeCache()
    resolved = set()
    sessions = []
    stopped = False
    for line in reader:
        stamp = times.parse(line)
        if stamp is None:
            continue
        if since is not None and stamp < since:
            stopped = True
            break
        message = _log_message(line)
        match = _AUTH_RE.match(message)
        if match:
            client_id = int(match.group(1))
            if client_id in resolved:
                continue
            resolved.add(client_id)
            if match.group(4) == user:
                sessions.append({
                    'id': client_id,
                    'address': match.group(2),
                    'worker': match.group(3),
                    'authorised_at': stamp,
                })
            continue
        match = (_DROPPED_RE.match(message) or _CONNECTOR_DROPPED_RE.match(message)
                 or _RDHUP_RE.match(message))
        if match:
            resolved.add(int(match.group(1)))
            continue
        if _DROPALL_RE.match(message):
            stopped = True
            break
    sessions.sort(key=lambda item: item['id'])
    complete = stopped or reader.reached_start
    return {
        'sessions': sessions,
        'bound_hit': reader.bound_hit and not complete,
        'complete': complete,
        'bytes_read': reader.bytes_read,
    }


def solved_blocks(logpath, limit=20, max_bytes=DEFAULT_MAX_BYTES):
    """List the blocks the pool solved, newest first, from ``ckpool.log``.

    A block is a ``Solved and confirmed block H by WORKER`` line (older ckpool
    versions omit ``by WORKER``: worker and user are then ``None``); the
    ``BLOCK ACCEPTED!`` line that ckpool logs just before it (within
    ``BLOCK_PAIR_WINDOW`` seconds) marks it ``accepted``.  A ``BLOCK
    ACCEPTED!`` without a confirmation line is reported alone with height,
    worker and user ``None``.  The user is derived from the worker name the
    way ckpool does it (:func:`worker_user`: ``testuser.rig1`` -> ``testuser``).

    :param limit: maximum number of blocks returned (positive integer).
    :returns: ``{"blocks": [{"time": float unix, "height": int or None,
        "worker", "user", "accepted": bool, "line": the log line}],
        "bound_hit": bool, "complete": bool}``; ``complete`` is true when
        ``limit`` blocks were found or the whole file was searched.
    :raises CkpoolFileMissing: the log does not exist.
    :raises CkpoolFileError: it cannot be read.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise ValueError('limit must be a positive integer, got %r' % (limit,))
    reader = ReverseLineReader(logpath, max_bytes=max_bytes)
    times = _LogTimeCache()
    blocks = []
    stop_before = None   # once full, keep reading only to pair the last block
    for line in reader:
        stamp = times.parse(line)
        if stamp is None:
            continue
        if stop_before is not None and stamp < stop_before:
            break
        message = _log_message(line)
        match = _SOLVED_RE.match(message)
        if match:
            if len(blocks) >= limit:
                continue
            worker = match.group(2) or None
            blocks.append({
                'time': stamp,
                'height': int(match.group(1)),
                'worker': worker,
                'user': worker_user(worker),
                'accepted': False,
                'line': line,
            })
            if len(blocks) >= limit:
                stop_before = stamp - BLOCK_PAIR_WINDOW
            continue
        if message.startswith(_ACCEPTED_TEXT):
            paired = False
            for block in blocks:
                if (not block['accepted'] and block['height'] is not None
                        and 0 <= block['time'] - stamp <= BLOCK_PAIR_WINDOW):
                    block['accepted'] = True
                    paired = True
                    break
            if not paired and len(blocks) < limit:
                blocks.append({
                    'time': stamp, 'height': None, 'worker': None, 'user': None,
                    'accepted': True, 'line': line,
                })
                if len(blocks) >= limit:
                    stop_before = stamp - BLOCK_PAIR_WINDOW
    complete = reader.reached_start or len(blocks) >= limit
    return {'blocks': blocks, 'bound_hit': reader.bound_hit and not complete, 'complete': complete}
