# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading ckpool's human log ``LOGDIR/NAME.log``, aware that miners can forge lines in it.

Runs on the managed host (Python 3.6+, standard library only).  ckpool writes
records as ``[YYYY-MM-DD HH:MM:SS.mmm] message`` (local time) followed by a
newline.  The log is read **backwards from the end** with a byte bound
(:class:`ReverseLineReader`), never loaded whole.

**Miners write into this log.**  ckpool embeds worker names verbatim
(``Authorised client ID ADDR worker WORKER as user USER``, ``Dropped client
ID ADDR user USER worker WORKER``, ``Solved and confirmed block H by
WORKER``...), newlines included, so a worker name can add whole lines that
look like ckpool's own, stamp included.  What a miner cannot do:

* write more than one stratum message of 1024 bytes (ckpool's
  ``MAX_MSGSIZE``) into a record, so a record carrying miner text spans at
  most about 1.3 KiB (:data:`FORGERY_SPAN`, 2 KiB, is used);
* hide the break: ckpool's own text before and after the worker name stays
  where it is, so the record the forged lines sit in is left broken (a line
  without a valid stamp, an ``Authorised``/``Dropped`` line cut short) unless
  the whole name was crafted to leave none; a user name (which ckpool cuts at
  the first ``.`` or ``_``) cannot even contain a complete stamp;
* choose the order of ckpool's own stamps: a forged stamp that does not fit
  between its neighbours shows;
* claim a client id without colliding with the genuine record of that id.

So every line within :data:`FORGERY_SPAN` bytes of a sign of tampering (a
line without a valid stamp, a cut ``Authorised``/``Dropped`` record, a stamp
out of order with its neighbours or in the future) is **tainted** and never
acted on (:func:`scan_log`); :func:`client_sessions` also refuses a client id
claimed by more than one user and any id when the log read does not reach the
start of the current process; :func:`solved_blocks` reports tainted block
records separately.  The limit, stated in the modules' docs: a worker name
crafted to leave no broken record at all can still add an untainted line; it
can then not make a module drop another user's connection (the ids collide)
but it can make one look closed, claim a connection that never authorised,
or add a block record.
"""

import bisect
import os
import re
import time

from ansible_collections.ckpool.fleet.plugins.module_utils.safe_files import (
    CkpoolFileError,
    open_regular,
)
from ansible_collections.ckpool.fleet.plugins.module_utils.usernames import worker_user


DEFAULT_MAX_BYTES = 16 * 1024 * 1024
"""Default bound for reading the log from its end (16 MiB)."""

DEFAULT_BLOCK_SIZE = 64 * 1024
"""Block size used when reading a log file backwards."""

FORGERY_SPAN = 2048
"""Bytes around a sign of tampering within which every line is distrusted.

ckpool reads at most 1024 bytes per stratum message (``MAX_MSGSIZE``), so one
record carrying miner text (ckpool's own words, the client id and address, a
worker name of under 1 KiB and the user name of at most 127 bytes derived
from it) is at most about 1.3 KiB long; every line within that distance of a
broken record may belong to it.  A fork that writes two miner strings into
one record (a user agent beside the worker name) would need more."""

STAMP_TOLERANCE = 1.0
"""Seconds a stamp may run backwards against the line before it (ckpool's threads
take their stamps a little before the logger thread writes them)."""

START_GRACE = 60.0
"""Seconds between a process start and its first log record that still count as the log's beginning.

A log file whose first record is younger than that was rotated after the
process started: records of the process are missing from it."""

FUTURE_TOLERANCE = 120.0
"""Seconds a stamp may lie in the future of the reader's clock."""

BLOCK_PAIR_WINDOW = 10.0
"""Seconds between ``BLOCK ACCEPTED!`` and its ``Solved and confirmed`` line."""

# Stamps are exactly "[YYYY-MM-DD HH:MM:SS.mmm] " with ASCII digits (str's \d would take any digit).
_LOG_TIME_RE = re.compile(r'^\[([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})\.([0-9]{3})\] ')
# A client's identity in ckpool's records (stratifier.c __stratum_add_instance): its connector id, or
# for a miner behind a passthrough, node or trusted remote "passthrough:P subclient:S" (also node:,
# remote:) where the connector id is (P << 32) | S.
_IDENTITY = r'([0-9]+|(?:passthrough|node|remote):[0-9]+ subclient:[0-9]+)'
_AUTH_RE = re.compile(r'^Authorised client ' + _IDENTITY +
                      r' (?:(\S+) )?(?:to proxy [0-9]+:[0-9]+, )?worker (.*) as user (.*)$')
# __drop_client: "Dropped client IDENTITY ADDRESS [throttled ]user U worker W[ lazily]" or
# "Dropped client IDENTITY ADDRESS no user worker W[ lazily]".
_DROPPED_RE = re.compile(r'^Dropped client ' + _IDENTITY + r' (\S+) (?:(?:throttled )?user (.*)|no user) worker (.*)$')
_SUBCLIENT_RE = re.compile(r'^[a-z]+:([0-9]+) subclient:([0-9]+)$')
_CONNECTOR_DROPPED_RE = re.compile(r'^Connector dropped client id: ([0-9]+)$')
_RDHUP_RE = re.compile(r'^Client id ([0-9]+) fd [0-9]+ RDHUP')
_DROPALL_RE = re.compile(r'^Dropped [0-9]+ instances for dropall request$')
_SOLVED_RE = re.compile(r'^Solved and confirmed block ([0-9]+)(?: by (.+))?$')
_ACCEPTED_TEXT = 'BLOCK ACCEPTED!'


def client_id(identity):
    """The connector id of a client identity as ckpool logs it (``"17"``, ``"passthrough:3 subclient:5"``)."""
    match = _SUBCLIENT_RE.match(identity)
    if match is None:
        return int(identity)
    return (int(match.group(1)) << 32) | int(match.group(2))


class ReverseLineReader(object):
    """Iterate over the complete lines of a file from the end, newest first.

    At most ``max_bytes`` bytes from the end of the file are read, in blocks of
    ``block_size``.  Only complete lines are produced: a last line still
    being written (no trailing newline) is skipped, and when the bound stops
    the reader, the partial line at the cut is dropped.  Lines are split on
    ``\\n`` only (as ckpool writes them) and decoded as UTF-8 (invalid bytes
    replaced) without their line terminator.

    The file is opened by ``opener`` (a callable returning a file descriptor)
    or, by default, by path non-blocking and checked to be a regular file
    (:func:`~safe_files.open_regular`): a FIFO in its place fails at once
    instead of hanging.  Pass an opener from
    :func:`~safe_files.open_file_below` to read below a log directory
    without following links.

    After (or during) iteration:

    :ivar bound_hit: true when reading stopped because of ``max_bytes`` before
        the start of the file was reached.
    :ivar reached_start: true when the whole file (up to its size at open
        time) was read.
    :ivar bytes_read: bytes read so far.
    :ivar size: file size when opened.

    :raises CkpoolFileMissing: (on iteration) the file does not exist.
    :raises CkpoolFileError: (on iteration) it cannot be read or is not a regular file.
    """

    def __init__(self, path, max_bytes=DEFAULT_MAX_BYTES, block_size=DEFAULT_BLOCK_SIZE, opener=None):
        if max_bytes is None or isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
            raise ValueError('max_bytes must be a positive integer, got %r' % (max_bytes,))
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size <= 0:
            raise ValueError('block_size must be a positive integer, got %r' % (block_size,))
        self.path = path
        self.opener = opener
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

    def _open_fd(self):
        if self.opener is not None:
            return self.opener()
        return open_regular(self.path)

    def __iter__(self):
        for dummy, dummy2, text in self.lines_with_offsets():
            yield text

    def lines_with_offsets(self):
        """Yield ``(start offset, length in bytes, text)`` per complete line, newest first."""
        fd = self._open_fd()
        try:
            pos = os.fstat(fd).st_size
            self.size = pos
            pending = []          # raw chunks, newest first, not yet containing a usable newline
            seen_end = False      # located the newline that ends the last complete line
            while True:
                if pos == 0:
                    self.reached_start = True
                    if seen_end:
                        # The first line of the file: complete, possibly empty.
                        raw = b''.join(reversed(pending))
                        yield 0, len(raw), self._decode(raw)
                    return
                if self.bytes_read >= self.max_bytes:
                    self.bound_hit = True
                    return
                want = min(self.block_size, pos, self.max_bytes - self.bytes_read)
                pos -= want
                try:
                    chunk = os.pread(fd, want, pos)
                except OSError as exc:
                    raise CkpoolFileError(self.path, exc.strerror or str(exc))
                if len(chunk) < want:
                    # The file shrank under us (rotated or truncated): stop with what we have.
                    self.bytes_read += len(chunk)
                    self.bound_hit = True
                    return
                self.bytes_read += want
                pending.append(chunk)
                if b'\n' not in chunk:
                    continue
                buf = b''.join(reversed(pending))
                pending = []
                if not seen_end:
                    buf = buf[:buf.rfind(b'\n')]
                    seen_end = True
                parts = buf.split(b'\n')
                pending.append(parts[0])
                end = pos + len(buf)
                for raw in reversed(parts[1:]):
                    start = end - len(raw)
                    yield start, len(raw), self._decode(raw)
                    end = start - 1
        finally:
            os.close(fd)


def tail_lines(path, max_bytes=DEFAULT_MAX_BYTES, opener=None):
    """Return the complete lines in the last ``max_bytes`` bytes of ``path``.

    :returns: ``(lines, bound_hit)``: the lines oldest first (without line
        terminators; a trailing partial line is left out) and whether the
        bound stopped the read before the start of the file.
    :raises CkpoolFileMissing: no such file.
    :raises CkpoolFileError: unreadable.
    """
    reader = ReverseLineReader(path, max_bytes=max_bytes, opener=opener)
    lines = list(reader)
    lines.reverse()
    return lines, reader.bound_hit


class _LogTimeCache(object):
    """Convert ckpool log stamps to unix time, caching ``mktime`` per second."""

    def __init__(self):
        self._second = None
        self._base = None

    def split(self, line):
        """Return ``(unix time or None, message)``; the message is the whole line without a valid stamp."""
        match = _LOG_TIME_RE.match(line)
        if match is None:
            return None, line
        second = match.group(0)[1:20]
        if second != self._second:
            fields = [int(match.group(i)) for i in range(1, 7)]
            if not (1 <= fields[1] <= 12 and 1 <= fields[2] <= 31 and fields[3] <= 23 and fields[4] <= 59
                    and fields[5] <= 60):
                return None, line
            try:
                base = time.mktime((fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], 0, 0, -1))
            except (OverflowError, ValueError):
                return None, line
            self._second = second
            self._base = base
        return self._base + int(match.group(7)) / 1000.0, line[match.end():]

    def parse(self, line):
        """Return the unix time of ``line``'s stamp, or None."""
        return self.split(line)[0]


def parse_log_time(line):
    """Return the unix time of a ckpool log line's ``[YYYY-MM-DD HH:MM:SS.mmm]`` stamp.

    ckpool writes the stamp in the host's **local time** (``localtime()``),
    so it is converted with ``time.mktime`` in the reader's time zone, which
    is the same host's.  In the hour repeated when daylight saving time ends
    the stamp is ambiguous and ``mktime`` picks one of the two readings.
    Returns ``None`` for a line without a valid stamp (exactly three digits
    of milliseconds, ASCII digits, a real date).
    """
    return _LogTimeCache().parse(line)


class LogScan(object):
    """The result of :func:`scan_log`: classified records and the tainted byte ranges.

    :ivar entries: interesting records, oldest first: dicts with ``kind``
        (``auth``, ``dropped``, ``gone``, ``dropall``, ``accepted``,
        ``solved``), ``start``/``end`` byte offsets, ``stamp`` and the parsed
        fields.
    :ivar signs: ``[(start, end, reason)]`` of every sign of tampering found.
    :ivar complete: the read covered everything since ``since`` (or the whole
        file without ``since``).
    :ivar bound_hit: the byte bound stopped the read first.
    :ivar bytes_read: bytes read.
    :ivar first_stamp: the oldest stamp read (None without any).
    """

    def __init__(self):
        self.entries = []
        self.signs = []
        self.complete = False
        self.bound_hit = False
        self.bytes_read = 0
        self.first_stamp = None
        self._starts = []
        self._ends = []

    def finish(self, span):
        """Merge the tainted ranges (each sign widened by ``span`` bytes on both sides)."""
        ranges = sorted((max(0, start - span), end + span) for start, end, dummy in self.signs)
        merged = []
        for start, end in ranges:
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self._starts = [item[0] for item in merged]
        self._ends = [item[1] for item in merged]
        self.entries.reverse()

    def tainted(self, entry):
        """True when ``entry``'s bytes overlap a tainted range."""
        index = bisect.bisect_right(self._starts, entry['end']) - 1
        return index >= 0 and self._ends[index] >= entry['start']

    def reasons_near(self, entry, span=FORGERY_SPAN):
        """The reasons of the signs of tampering within ``span`` bytes of ``entry`` (deduplicated)."""
        found = []
        for start, end, reason in self.signs:
            if start - span <= entry['end'] and end + span >= entry['start'] and reason not in found:
                found.append(reason)
        return found


def _classify(message, line, start, end, stamp, scan):
    """Append the entry a message makes to ``scan`` (or a sign of tampering for a cut record)."""
    first = message[:1]
    if first == 'A' and message.startswith('Authorised client '):
        match = _AUTH_RE.match(message)
        if match is None:
            scan.signs.append((start, end, 'an "Authorised client" record cut short (a line break in a worker name)'))
            return
        worker, user = match.group(3), match.group(4)
        scan.entries.append(dict(kind='auth', start=start, end=end, stamp=stamp, id=client_id(match.group(1)),
                                 identity=match.group(1), address=match.group(2), worker=worker, user=user,
                                 consistent=worker_user(worker) == user, message=message))
    elif first == 'D' and message.startswith('Dropped '):
        if message.startswith('Dropped client '):
            match = _DROPPED_RE.match(message)
            if match is None:
                scan.signs.append((start, end, 'a "Dropped client" record cut short (a line break in a worker name)'))
                return
            scan.entries.append(dict(kind='dropped', start=start, end=end, stamp=stamp, id=client_id(match.group(1)),
                                     message=message))
        elif _DROPALL_RE.match(message):
            scan.entries.append(dict(kind='dropall', start=start, end=end, stamp=stamp))
    elif first == 'C':
        match = _CONNECTOR_DROPPED_RE.match(message) or _RDHUP_RE.match(message)
        if match:
            scan.entries.append(dict(kind='gone', start=start, end=end, stamp=stamp, id=int(match.group(1))))
    elif first == 'B' and message == _ACCEPTED_TEXT:
        scan.entries.append(dict(kind='accepted', start=start, end=end, stamp=stamp, line=line))
    elif first == 'S' and message.startswith('Solved and confirmed block '):
        match = _SOLVED_RE.match(message)
        if match:
            scan.entries.append(dict(kind='solved', start=start, end=end, stamp=stamp, height=int(match.group(1)),
                                     worker=match.group(2), line=line))


def scan_log(reader, since=None, now=None, span=FORGERY_SPAN):
    """Read the end of a ckpool log once, backwards, classifying records and finding signs of tampering.

    :param reader: a :class:`ReverseLineReader`.
    :param since: unix time the current process started: records older than
        it (by more than :data:`STAMP_TOLERANCE`) are not classified, and
        reading stops after ``span`` bytes of such records in a row (a forged
        old stamp inside newer records cannot end the window early).  None
        reads up to the bound.
    :param now: the reader's clock, for stamps in the future (default: now).
    :returns: a :class:`LogScan`.  ``complete`` is false when the bound
        stopped the read, or when the file (a rotated log) starts more than
        :data:`START_GRACE` seconds after ``since``.
    """
    if now is None:
        now = time.time()
    scan = LogScan()
    cache = _LogTimeCache()
    newer = None          # (stamp, start, end) of the nearest newer stamped line
    old_run = 0           # bytes of consecutive records older than since
    stopped = False
    oldest = None
    for start, length, text in reader.lines_with_offsets():
        end = start + length
        stamp, message = cache.split(text)
        if stamp is None:
            scan.signs.append((start, end, 'a line without a valid time stamp (the rest of a record broken by a '
                                           'line break in a worker name)'))
            if old_run:
                old_run += length + 1
            continue
        oldest = stamp
        if stamp > now + FUTURE_TOLERANCE:
            scan.signs.append((start, end, 'a time stamp in the future'))
        if newer is not None and stamp > newer[0] + STAMP_TOLERANCE:
            scan.signs.append((start, end, 'a time stamp later than the line after it'))
            scan.signs.append((newer[1], newer[2], 'a time stamp earlier than the line before it'))
        newer = (stamp, start, end)
        if since is not None and stamp < since - STAMP_TOLERANCE:
            old_run += length + 1
            if old_run >= span:
                stopped = True
                break
            continue
        old_run = 0
        _classify(message, text, start, end, stamp, scan)
    scan.bytes_read = reader.bytes_read
    scan.first_stamp = oldest
    if stopped:
        scan.complete = True
    elif reader.reached_start:
        # A rotated log whose first record is younger than the process misses the process's beginning.
        scan.complete = since is None or (oldest is not None and oldest <= since + START_GRACE) or old_run > 0
    scan.bound_hit = reader.bound_hit and not scan.complete
    scan.finish(span)
    return scan


def _drop_closes(message, claim):
    """True when ``message`` is exactly a ``Dropped client`` record ckpool writes for the session of ``claim``.

    stratifier.c ``__drop_client``: ``Dropped client IDENTITY ADDRESS [throttled ]user U worker W LAZILY``
    with LAZILY ``lazily`` or empty.  A proxy's ``Authorised client`` record names no address: then
    any one address is accepted, the rest must still match exactly.
    """
    head = 'Dropped client %s ' % claim['identity']
    if not message.startswith(head):
        return False
    rest = message[len(head):]
    if claim['address'] is None:
        address, sep, rest = rest.partition(' ')
        if not address or not sep:
            return False
    elif rest.startswith(claim['address'] + ' '):
        rest = rest[len(claim['address']) + 1:]
    else:
        return False
    if rest.startswith('throttled '):
        rest = rest[len('throttled '):]
    tail = 'user %s worker %s' % (claim['user'], claim['worker'])
    return rest in (tail, tail + ' ', tail + ' lazily')


def client_sessions(logpath, user, since=None, max_bytes=DEFAULT_MAX_BYTES, opener=None, now=None):
    """Find the stratum clients of ``user`` that are connected according to the log, beyond doubt.

    Reads the log backwards from the end (at most ``max_bytes``) down to the
    start of the current process (``since``), then decides per client id:

    * **refused** (never acted on, listed with the reason) when the id is
      claimed by ``Authorised client`` records of more than one user
      (``claimed_by_several_users``); when the read did not reach the
      process start, so an earlier claim on the id may not have been read
      (``log_incomplete``); when a claim lies within :data:`FORGERY_SPAN`
      bytes of a sign of tampering (``broken_record``); when a claim's user
      is not the one ckpool derives from its worker name
      (``inconsistent_record``);
    * **gone** when, after its last claim, an untainted record says it
      closed: ``Dropped client`` with exactly the claim's id, address, user
      and worker; ``Connector dropped client id`` or ``Client id ... RDHUP``
      (info level); ``Dropped N instances for dropall request``;
    * **connected** otherwise.

    :param since: unix time the current process started (``None``: the
        whole file is taken as the current process's, complete only when the
        read reaches its start).
    :returns: ``{"sessions": [{"id", "address", "worker", "authorised_at"}]
        (connected, by id), "refused": [{"id", "reason", "detail", "claims":
        [{"user", "worker", "address", "authorised_at"}]}], "gone": [{"id",
        "worker", "closed_by"}], "complete": bool, "bound_hit": bool,
        "bytes_read": int, "signs_of_tampering": int}``.
    :raises ValueError: ``user`` is not a non-empty string.
    :raises CkpoolFileMissing: the log does not exist.
    :raises CkpoolFileError: it cannot be read (or is not a regular file).
    """
    if not isinstance(user, str) or not user:
        raise ValueError('user must be a non-empty string, got %r' % (user,))
    reader = ReverseLineReader(logpath, max_bytes=max_bytes, opener=opener)
    scan = scan_log(reader, since=since, now=now)
    claims = {}
    closers = []
    for entry in scan.entries:
        if entry['kind'] == 'auth':
            claims.setdefault(entry['id'], []).append(entry)
        elif entry['kind'] in ('dropped', 'gone', 'dropall'):
            closers.append(entry)
    complete = scan.complete
    sessions = []
    refused = []
    gone = []
    for client_id in sorted(claims):
        found = claims[client_id]
        mine = [c for c in found if c['user'] == user]
        if not mine:
            continue
        described = [dict(user=c['user'], worker=c['worker'], address=c['address'], authorised_at=c['stamp'])
                     for c in found]
        users = sorted(set(c['user'] for c in found))
        reason = detail = None
        if len(users) > 1:
            reason = 'claimed_by_several_users'
            detail = 'client id %d is claimed by the log records of %d users (%s): at least one is forged' % (
                client_id, len(users), ', '.join(repr(u) for u in users))
        elif not complete:
            reason = 'log_incomplete'
            detail = ('the log was not read back to the start of the current process (raise log_max_bytes): an '
                      'earlier record may give client id %d to another user' % client_id)
        else:
            tainted = [c for c in found if scan.tainted(c)]
            if tainted:
                reason = 'broken_record'
                detail = 'the authorisation of client id %d lies within %d bytes of %s' % (
                    client_id, FORGERY_SPAN, '; '.join(scan.reasons_near(tainted[0])))
            elif not all(c['consistent'] for c in found):
                reason = 'inconsistent_record'
                detail = ('a record of client id %d names a user that ckpool would not derive from its worker name'
                          % client_id)
        if reason is not None:
            refused.append(dict(id=client_id, reason=reason, detail=detail, claims=described))
            continue
        last = found[-1]
        closed_by = None
        for closer in closers:
            if closer['start'] <= last['start'] or scan.tainted(closer):
                continue
            if closer['kind'] == 'dropall':
                closed_by = 'dropall'
            elif closer['id'] != client_id:
                continue
            elif closer['kind'] == 'gone':
                closed_by = 'connector'
            elif _drop_closes(closer['message'], last):
                closed_by = 'dropped'
            if closed_by:
                break
        if closed_by:
            gone.append(dict(id=client_id, worker=last['worker'], closed_by=closed_by))
        else:
            sessions.append(dict(id=client_id, address=last['address'], worker=last['worker'],
                                 authorised_at=last['stamp']))
    return {
        'sessions': sessions,
        'refused': refused,
        'gone': gone,
        'complete': complete,
        'bound_hit': scan.bound_hit,
        'bytes_read': scan.bytes_read,
        'signs_of_tampering': len(scan.signs),
    }


def solved_blocks(logpath, limit=20, max_bytes=DEFAULT_MAX_BYTES, opener=None, now=None):
    """List the blocks the pool solved, newest first, from the log, separating suspicious records.

    A block is a ``Solved and confirmed block H by WORKER`` record (older
    ckpool versions omit ``by WORKER``: worker and user are then ``None``);
    the ``BLOCK ACCEPTED!`` record ckpool logs just before it (within
    :data:`BLOCK_PAIR_WINDOW` seconds) marks it ``accepted``; a ``BLOCK
    ACCEPTED!`` without a confirmation record is listed alone with height,
    worker and user ``None``.  The user is derived from the worker name the
    way ckpool does it (``testuser.rig1`` -> ``testuser``).

    A block whose records lie within :data:`FORGERY_SPAN` bytes of a sign of
    tampering (see :func:`scan_log`) is not reported as a block but in
    ``suspicious``, with ``reason``.

    :param limit: maximum number of blocks (and of suspicious records) returned.
    :returns: ``{"blocks": [{"time", "height", "worker", "user", "accepted",
        "line"}], "suspicious": [same + "reason"], "bound_hit": bool,
        "complete": bool}``; ``complete`` is true when the whole file was
        searched.
    :raises CkpoolFileMissing: the log does not exist.
    :raises CkpoolFileError: it cannot be read (or is not a regular file).
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise ValueError('limit must be a positive integer, got %r' % (limit,))
    reader = ReverseLineReader(logpath, max_bytes=max_bytes, opener=opener)
    scan = scan_log(reader, now=now)
    found = []
    open_accepts = []
    for entry in scan.entries:
        if entry['kind'] == 'accepted':
            open_accepts.append(entry)
        elif entry['kind'] == 'solved':
            pair = None
            for accepted in reversed(open_accepts):
                if 0 <= entry['stamp'] - accepted['stamp'] <= BLOCK_PAIR_WINDOW:
                    pair = accepted
                    break
            if pair is not None:
                open_accepts.remove(pair)
            found.append((entry, pair))
    for accepted in open_accepts:
        found.append((accepted, None))
    found.sort(key=lambda item: (item[0]['stamp'], item[0]['start']), reverse=True)
    blocks = []
    suspicious = []
    for entry, pair in found:
        if entry['kind'] == 'solved':
            worker = entry['worker']
            block = dict(time=entry['stamp'], height=entry['height'], worker=worker, user=worker_user(worker),
                         accepted=pair is not None)
        else:
            block = dict(time=entry['stamp'], height=None, worker=None, user=None, accepted=True)
        block['line'] = entry['line']
        bad = [item for item in (entry, pair) if item is not None and scan.tainted(item)]
        if bad:
            if len(suspicious) < limit:
                block['reason'] = 'within %d bytes of %s' % (FORGERY_SPAN, '; '.join(scan.reasons_near(bad[0])))
                suspicious.append(block)
        elif len(blocks) < limit:
            blocks.append(block)
    complete = reader.reached_start
    return {'blocks': blocks, 'suspicious': suspicious, 'bound_hit': reader.bound_hit and not complete,
            'complete': complete}
