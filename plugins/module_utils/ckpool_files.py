# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readers for the files a running ckpool leaves behind, and process discovery.

Everything here runs on the managed host (Python 3.8+, standard library only,
no subprocess).  The formats are the ones observed on a real ckpool:

* ``LOGDIR/pool/pool.status``: three JSON lines, rewritten **in place and not
  atomically** every 60 s, so a reader can see an empty, partial or torn file;
  :func:`read_pool_status` re-reads until the file parses.
* ``LOGDIR/users/<username>``: one indented JSON document per user.  Usernames
  come from miners, so a name is validated (:func:`valid_username`) before it
  is ever joined onto a path, the file is opened without following symlinks,
  and its real path must stay inside ``users/``.
* ``LOGDIR/ckpool.log``: the human log, ``[YYYY-MM-DD HH:MM:SS.mmm] message``
  in the host's local time.  It is read **backwards from the end** with a byte
  bound (:class:`ReverseLineReader`), never loaded whole.
* hashrates are strings with an SI suffix written by ckpool's
  ``suffix_string()`` (``"114"``, ``"8.71M"``, ``"21.3K"``), converted to
  floats in H/s by :func:`parse_hashrate` and back by :func:`format_hashrate`.
* ``ckpool.conf`` (JSON) and ``/proc/PID/*`` for discovering where a running
  instance keeps its files (:func:`discover_instance`).

Errors: :class:`CkpoolFileError` (with ``path`` and ``reason``) for anything
unreadable or malformed, its subclass :class:`CkpoolFileMissing` when the file
does not exist, and ``ValueError`` for invalid arguments (bad hashrate strings,
unsafe usernames or patterns).
"""

from __future__ import annotations

import errno
import fnmatch
import gc
import json
import math
import os
import re
import stat
import time
import unicodedata
from decimal import Decimal, InvalidOperation


DEFAULT_MAX_BYTES = 16 * 1024 * 1024
"""Default bound for reading ``ckpool.log`` from its end (16 MiB)."""

DEFAULT_BLOCK_SIZE = 64 * 1024
"""Block size used when reading a log file backwards."""

MAX_STATUS_BYTES = 1024 * 1024
"""``pool.status`` is ~400 bytes; anything above this is not a status file."""

MAX_USER_FILE_BYTES = 64 * 1024 * 1024
"""Upper bound for one ``users/<name>`` file (many workers make it big)."""

MAX_USERNAME_BYTES = 127
"""ckpool truncates usernames to 127 bytes (``char username[128]``)."""

POOL_HASHRATE_KEYS = (
    ('1m', 'hashrate1m'), ('5m', 'hashrate5m'), ('15m', 'hashrate15m'),
    ('1hr', 'hashrate1hr'), ('6hr', 'hashrate6hr'), ('1d', 'hashrate1d'),
    ('7d', 'hashrate7d'),
)
"""(short name, ``pool.status`` key) for the pool's hashrate averages."""

USER_HASHRATE_KEYS = (
    ('1m', 'hashrate1m'), ('5m', 'hashrate5m'), ('1hr', 'hashrate1hr'),
    ('1d', 'hashrate1d'), ('7d', 'hashrate7d'),
)
"""(short name, user file key) for user and worker hashrate averages."""

POOL_SPS_KEYS = (('1m', 'SPS1m'), ('5m', 'SPS5m'), ('15m', 'SPS15m'), ('1h', 'SPS1h'))
"""(short name, ``pool.status`` key) for shares-per-second averages."""

_SI_FACTORS = {
    '': 1, 'K': 10 ** 3, 'M': 10 ** 6, 'G': 10 ** 9, 'T': 10 ** 12,
    'P': 10 ** 15, 'E': 10 ** 18,
}

_HASHRATE_RE = re.compile(
    r'^\s*(?P<num>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)'
    r'\s*(?P<suffix>[KMGTPE]?)(?:H/s)?\s*$'
)

_GLOB_CHARS = frozenset('*?[')

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


class CkpoolFileError(Exception):
    """A ckpool file could not be read or parsed.

    :ivar path: the file concerned.
    :ivar reason: a human-readable reason, without the path.
    """

    def __init__(self, path, reason):
        self.path = path
        self.reason = reason
        super(CkpoolFileError, self).__init__('%s: %s' % (path, reason))


class CkpoolFileMissing(CkpoolFileError):
    """The ckpool file does not exist (ckpool not started there, or wrong logdir)."""


# ---------------------------------------------------------------------------
# Hashrates
# ---------------------------------------------------------------------------

def parse_hashrate(value):
    """Convert a ckpool hashrate to a float in H/s.

    Accepts what ckpool's ``suffix_string()`` writes: a plain number
    (``"114"``, ``"0"``) or a number with one SI suffix ``K M G T P E``
    (powers of 1000: ``"8.71M"`` -> ``8710000.0``), including its rare
    exponent form (``"1e+03K"``).  Surrounding blanks and a trailing ``H/s``
    (``"8.71MH/s"``) are tolerated.  Ints and floats pass through as floats.
    The decimal part is scaled exactly (``Decimal``) so ``"8.71M"`` gives the
    double nearest to 8 710 000, not ``8.71 * 1e6``.

    :raises ValueError: for anything else (empty, negative, NaN, unknown or
        lower-case suffix, bool, None), with the offending value in the message.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError('not a hashrate: %r' % (value,))
    if isinstance(value, (int, float)):
        try:
            result = float(value)
        except OverflowError:
            raise ValueError('hashrate out of range: %r' % (value,))
        if not math.isfinite(result) or result < 0:
            raise ValueError('not a hashrate: %r' % (value,))
        return result
    if isinstance(value, bytes):
        try:
            value = value.decode('ascii')
        except UnicodeDecodeError:
            raise ValueError('not a hashrate: %r' % (value,))
    if not isinstance(value, str):
        raise ValueError('not a hashrate: %r (type %s)' % (value, type(value).__name__))
    cached = _PARSED_HASHRATES.get(value)
    if cached is not None:
        return cached
    result = _parse_hashrate_text(value)
    # ckpool writes few distinct strings (3 significant digits): a 100 000-user read
    # parses the same ones over and over.  Bounded so hostile input cannot grow it.
    if len(_PARSED_HASHRATES) < 65536:
        _PARSED_HASHRATES[value] = result
    return result


_PARSED_HASHRATES = {}


def _parse_hashrate_text(value):
    """The string case of :func:`parse_hashrate`, uncached."""
    match = _HASHRATE_RE.match(value)
    if not match:
        raise ValueError('not a hashrate: %r (expected a number with an optional K/M/G/T/P/E suffix)' % (value,))
    try:
        number = Decimal(match.group('num'))
    except InvalidOperation:  # pragma: no cover - the regex only lets valid decimals through
        raise ValueError('not a hashrate: %r' % (value,))
    result = float(number * _SI_FACTORS[match.group('suffix')])
    if not math.isfinite(result):
        raise ValueError('hashrate out of range: %r' % (value,))
    return result


def format_hashrate(value):
    """Format H/s the way ckpool writes hashrates (its ``suffix_string(val, ..., 0)``).

    Mirrors ckpool's C code exactly:

    * below 1000: the integer part only, truncated, no suffix
      (``114.9`` -> ``"114"``, ``0.5`` -> ``"0"``);
    * otherwise divide into the largest unit K, M, G, T, P, E (powers of 1000,
      in the same order of divisions as ckpool) and print ``"%.3g"`` plus the
      suffix: three significant digits, trailing zeros dropped
      (``8710000`` -> ``"8.71M"``, ``21300`` -> ``"21.3K"``, ``1e6`` -> ``"1M"``).
      Like ckpool, a value that rounds up to 1000 of a unit keeps that unit in
      exponent form (``999600`` -> ``"1e+03K"``); :func:`parse_hashrate`
      reads that back.

    A string is first parsed with :func:`parse_hashrate`, so formatting is
    idempotent (``"8.71M"`` -> ``"8.71M"``).

    :raises ValueError: for negative, NaN, infinite or non-numeric input.
    """
    if isinstance(value, (str, bytes)):
        val = parse_hashrate(value)
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError('not a hashrate: %r' % (value,))
    else:
        try:
            val = float(value)
        except OverflowError:
            raise ValueError('hashrate out of range: %r' % (value,))
    if not math.isfinite(val) or val < 0:
        raise ValueError('not a hashrate: %r' % (value,))

    kilo = 1000.0
    mega = 1000000.0
    giga = 1000000000.0
    tera = 1000000000000.0
    peta = 1000000000000000.0
    exa = 1000000000000000000.0
    if val >= exa:
        dval = val / peta / kilo
        suffix = 'E'
    elif val >= peta:
        dval = val / tera / kilo
        suffix = 'P'
    elif val >= tera:
        dval = val / giga / kilo
        suffix = 'T'
    elif val >= giga:
        dval = val / mega / kilo
        suffix = 'G'
    elif val >= mega:
        dval = val / kilo / kilo
        suffix = 'M'
    elif val >= kilo:
        dval = val / kilo
        suffix = 'K'
    else:
        return '%d' % int(val)
    return '%.3g%s' % (dval, suffix)


def _hashrates(data, keys, where):
    """Return ``(parsed, raw)`` dicts for the hashrate ``keys`` found in ``data``."""
    parsed = {}
    raw = {}
    for short, key in keys:
        if key not in data:
            parsed[short] = None
            raw[short] = None
            continue
        raw_value = data[key]
        try:
            parsed[short] = parse_hashrate(raw_value)
        except ValueError as exc:
            raise ValueError('%s: %s: %s' % (where, key, exc))
        raw[short] = raw_value
    return parsed, raw


# ---------------------------------------------------------------------------
# Small file reads
# ---------------------------------------------------------------------------

def _read_small_file(path, limit, nofollow=False):
    """Read a whole regular file of at most ``limit`` bytes.

    Opens with ``O_NONBLOCK`` (a FIFO planted in place of the file cannot hang
    the reader) and, with ``nofollow``, ``O_NOFOLLOW`` (a symlink is refused).
    The opened descriptor must be a regular file.

    :raises CkpoolFileMissing: no such file.
    :raises CkpoolFileError: permission denied, symlink refused, not a regular
        file, too large, or another OS error.
    """
    flags = os.O_RDONLY | getattr(os, 'O_CLOEXEC', 0) | getattr(os, 'O_NONBLOCK', 0)
    if nofollow:
        flags |= getattr(os, 'O_NOFOLLOW', 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise CkpoolFileMissing(path, 'no such file')
        if exc.errno == errno.ELOOP and nofollow:
            raise CkpoolFileError(path, 'is a symbolic link; refusing to follow it')
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise CkpoolFileError(path, 'permission denied (the reading user needs read access; '
                                        'ckpool creates its logdir 0750 for its own user and group)')
        raise CkpoolFileError(path, exc.strerror or str(exc))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise CkpoolFileError(path, 'not a regular file')
        chunks = []
        total = 0
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise CkpoolFileError(path, 'larger than %d bytes; not a ckpool status file' % limit)
            chunks.append(chunk)
        return b''.join(chunks)
    except OSError as exc:
        raise CkpoolFileError(path, exc.strerror or str(exc))
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------
# pool/pool.status
# ---------------------------------------------------------------------------

def pool_status_path(logdir):
    """Return the path of ``pool.status`` under ``logdir``."""
    return os.path.join(logdir, 'pool', 'pool.status')


def parse_pool_status(data, path='pool.status', now=None, stale_after=180):
    """Parse the bytes of a ``pool.status`` file into the pool shape.

    The file must hold exactly three non-empty lines, each a JSON object;
    anything else (empty, partial, torn) raises ``ValueError`` so the caller
    can re-read.  Keys are looked up by name, not by line; a key absent from
    the file is ``None`` in the result.  Integers and floats keep the types
    ckpool wrote.

    :returns: ``{"path", "runtime", "lastupdate", "age_seconds", "stale",
        "users", "workers", "idle", "disconnected", "hashrate": {"1m", "5m",
        "15m", "1hr", "6hr", "1d", "7d"} (float H/s), "hashrate_raw": {...}
        (strings as written), "diff", "accepted", "rejected", "bestshare",
        "sps": {"1m", "5m", "15m", "1h"}}``.  ``age_seconds`` is
        ``now - lastupdate`` (``None`` without ``lastupdate``); ``stale`` is
        true when the age exceeds ``stale_after`` seconds or is unknown.
    :raises ValueError: the content is not a complete status file.
    """
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise ValueError('not UTF-8: %s' % exc)
    lines = [line for line in text.split('\n') if line.strip()]
    if len(lines) != 3:
        raise ValueError('expected 3 JSON lines, found %d' % len(lines))
    merged = {}
    for number, line in enumerate(lines, 1):
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise ValueError('line %d is not valid JSON: %s' % (number, exc))
        if not isinstance(obj, dict):
            raise ValueError('line %d is not a JSON object' % number)
        merged.update(obj)
    hashrate, hashrate_raw = _hashrates(merged, POOL_HASHRATE_KEYS, 'pool.status')
    if now is None:
        now = time.time()
    lastupdate = merged.get('lastupdate')
    if isinstance(lastupdate, (int, float)) and not isinstance(lastupdate, bool):
        age = now - lastupdate
        stale = age > stale_after
    else:
        age = None
        stale = True
    return {
        'path': path,
        'runtime': merged.get('runtime'),
        'lastupdate': lastupdate,
        'age_seconds': age,
        'stale': stale,
        'users': merged.get('Users'),
        'workers': merged.get('Workers'),
        'idle': merged.get('Idle'),
        'disconnected': merged.get('Disconnected'),
        'hashrate': hashrate,
        'hashrate_raw': hashrate_raw,
        'diff': merged.get('diff'),
        'accepted': merged.get('accepted'),
        'rejected': merged.get('rejected'),
        'bestshare': merged.get('bestshare'),
        'sps': dict((short, merged.get(key)) for short, key in POOL_SPS_KEYS),
    }


def read_pool_status(logdir, now=None, stale_after=180, retries=5, retry_delay=0.05):
    """Read ``LOGDIR/pool/pool.status`` into the pool shape (see :func:`parse_pool_status`).

    ckpool rewrites the file in place, so a read can catch it empty or half
    written.  A read that does not parse is repeated up to ``retries`` more
    times, ``retry_delay`` seconds apart (total wait at most
    ``retries * retry_delay``).

    :param logdir: ckpool's log directory.
    :param now: unix time used for ``age_seconds`` (default: ``time.time()``
        after the successful read).
    :param stale_after: age in seconds above which ``stale`` is true; ckpool
        rewrites the file every 60 s, so the default 180 means three missed updates.
    :raises CkpoolFileMissing: the file does not exist.
    :raises CkpoolFileError: unreadable, or still unparsable after all retries
        (the reason names the last parse problem and the number of attempts).
    """
    path = pool_status_path(logdir)
    attempts = 0
    last_error = None
    while True:
        attempts += 1
        data = _read_small_file(path, MAX_STATUS_BYTES)
        try:
            return parse_pool_status(data, path=path, now=now, stale_after=stale_after)
        except ValueError as exc:
            last_error = exc
        if attempts > retries:
            break
        time.sleep(retry_delay)
    raise CkpoolFileError(path, 'not a complete pool status after %d reads (torn or corrupt file): %s'
                          % (attempts, last_error))


# ---------------------------------------------------------------------------
# users/<name>
# ---------------------------------------------------------------------------

def valid_username(name):
    """Tell whether ``name`` is safe to use as a file name under ``users/``.

    Usernames come from miners.  Refused: non-strings, the empty string,
    ``.`` and ``..``, anything containing ``/`` or NUL, control characters
    (Unicode category Cc: C0, DEL, C1), lone surrogates (undecodable file
    names), and names longer than 127 bytes in UTF-8 (ckpool truncates
    usernames to 127 bytes, so a longer name can never be a ckpool user).
    Everything else, including spaces, dots and non-ASCII letters, is a
    legitimate ckpool username.
    """
    if not isinstance(name, str) or not name or name in ('.', '..'):
        return False
    try:
        encoded = name.encode('utf-8')
    except UnicodeEncodeError:
        return False
    if len(encoded) > MAX_USERNAME_BYTES:
        return False
    for char in name:
        if char == '/' or unicodedata.category(char) in ('Cc', 'Cs'):
            return False
    return True


def _users_dir(logdir):
    """Return ``LOGDIR/users``."""
    return os.path.join(logdir, 'users')


def user_file_path(logdir, name):
    """Return the path of ``users/<name>`` after validating ``name``.

    The result is checked to lie directly inside ``users/`` (also after
    resolving symlinks of the directory itself); the file itself is never
    followed if it is a symlink (see :func:`read_user`).

    :raises ValueError: ``name`` fails :func:`valid_username`.
    """
    if not valid_username(name):
        raise ValueError('invalid ckpool username %r: empty, ".", "..", "/", NUL, control '
                         'characters and names over %d bytes are refused' % (name, MAX_USERNAME_BYTES))
    users_dir = _users_dir(logdir)
    path = os.path.join(users_dir, name)
    if os.path.dirname(os.path.abspath(path)) != os.path.abspath(users_dir):
        raise ValueError('username %r would leave the users directory' % (name,))
    return path


def _worker_shape(worker):
    """Convert one entry of a user file's ``worker`` list."""
    if not isinstance(worker, dict):
        raise ValueError('worker entry is not a JSON object')
    hashrate, hashrate_raw = _hashrates(worker, USER_HASHRATE_KEYS, 'worker')
    return {
        'workername': worker.get('workername'),
        'hashrate': hashrate,
        'hashrate_raw': hashrate_raw,
        'lastshare': worker.get('lastshare'),
        'shares': worker.get('shares'),
        'bestshare': worker.get('bestshare'),
        'bestever': worker.get('bestever'),
    }


def parse_user(data, name):
    """Parse the bytes of a ``users/<name>`` file into the user shape.

    :returns: ``{"name", "hashrate": {"1m", "5m", "1hr", "1d", "7d"},
        "hashrate_raw": {...}, "lastshare", "workers", "shares", "bestshare",
        "bestever", "authorised", "worker": [{"workername", "hashrate",
        "hashrate_raw", "lastshare", "shares", "bestshare", "bestever"}]}``;
        absent keys are ``None`` (``worker`` defaults to ``[]``).
    :raises ValueError: not one complete JSON object of the expected form.
    """
    try:
        obj = json.loads(data.decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError('not valid JSON: %s' % exc)
    if not isinstance(obj, dict):
        raise ValueError('not a JSON object')
    hashrate, hashrate_raw = _hashrates(obj, USER_HASHRATE_KEYS, 'user')
    workers = obj.get('worker', [])
    if not isinstance(workers, list):
        raise ValueError('"worker" is not a list')
    return {
        'name': name,
        'hashrate': hashrate,
        'hashrate_raw': hashrate_raw,
        'lastshare': obj.get('lastshare'),
        'workers': obj.get('workers'),
        'shares': obj.get('shares'),
        'bestshare': obj.get('bestshare'),
        'bestever': obj.get('bestever'),
        'authorised': obj.get('authorised'),
        'worker': [_worker_shape(worker) for worker in workers],
    }


def read_user(logdir, name, retries=1, retry_delay=0.05):
    """Read ``LOGDIR/users/<name>`` into the user shape (see :func:`parse_user`).

    ``name`` is validated first and never used unvalidated.  The file is
    opened with ``O_NOFOLLOW`` (symlinks are refused wherever they point) and
    ``O_NONBLOCK`` and must be a regular file, so what is read lies directly
    in ``users/``.  A torn read (the file is rewritten
    in place) is retried ``retries`` times.

    :raises ValueError: invalid username.
    :raises CkpoolFileMissing: no file for that user.
    :raises CkpoolFileError: unsafe, unreadable, or unparsable after the retries.
    """
    path = user_file_path(logdir, name)
    # No realpath() per file: the validated name has no "/", so the path is
    # users/<name>, and O_NOFOLLOW refuses a symlink in its only component;
    # symlinks of users/ itself lead to wherever ckpool writes too.
    attempts = 0
    while True:
        attempts += 1
        data = _read_small_file(path, MAX_USER_FILE_BYTES, nofollow=True)
        try:
            return parse_user(data, name)
        except ValueError as exc:
            last_error = exc
        if attempts > retries:
            break
        time.sleep(retry_delay)
    raise CkpoolFileError(path, 'not a complete user file after %d reads: %s' % (attempts, last_error))


def is_glob(pattern):
    """Tell whether ``pattern`` contains fnmatch wildcards (``*``, ``?``, ``[``)."""
    return any(char in _GLOB_CHARS for char in pattern)


def _check_pattern(pattern):
    """Validate one user name or glob pattern, raising ValueError when unusable."""
    if not isinstance(pattern, str) or not pattern:
        raise ValueError('invalid user pattern %r: must be a non-empty string' % (pattern,))
    if is_glob(pattern):
        if '/' in pattern or any(unicodedata.category(char) in ('Cc', 'Cs') for char in pattern):
            raise ValueError('invalid user pattern %r: "/" and control characters never match a user' % (pattern,))
    elif not valid_username(pattern):
        raise ValueError('invalid ckpool username %r: empty, ".", "..", "/", NUL, control '
                         'characters and names over %d bytes are refused' % (pattern, MAX_USERNAME_BYTES))


def _normalise_patterns(patterns):
    """Return ``patterns`` as a list of validated strings, or None for "all users"."""
    if patterns is None:
        return None
    if isinstance(patterns, str):
        patterns = [patterns]
    patterns = list(patterns)
    for pattern in patterns:
        _check_pattern(pattern)
    return patterns


def list_users(logdir, patterns=None):
    """Return the sorted names of the users that have a file under ``LOGDIR/users``.

    :param patterns: ``None`` for every user, or a list of exact names and/or
        fnmatch globs (``*``, ``?``, ``[...]``; case-sensitive; a literal
        ``*``, ``?`` or ``[`` is written ``[*]``, ``[?]``, ``[[]``).  A
        pattern without wildcards is an exact name: it is checked with one
        ``lstat`` and never lists the directory, so asking for a few names is
        O(1) even with 100 000 users.  Globs read the directory once with
        ``os.scandir``.
    :returns: names of regular files (symlinks and other entries are
        skipped, as are names that fail :func:`valid_username`).  An exact
        name without a file is simply absent from the result.  A missing
        ``users/`` directory (no user has submitted a share yet) gives ``[]``.
    :raises ValueError: an exact name fails :func:`valid_username`, or a glob
        contains ``/`` or control characters.
    :raises CkpoolFileMissing: ``logdir`` itself does not exist.
    :raises CkpoolFileError: ``users/`` cannot be listed.
    """
    patterns = _normalise_patterns(patterns)
    if not os.path.isdir(logdir):
        raise CkpoolFileMissing(logdir, 'log directory does not exist')
    users_dir = _users_dir(logdir)
    if patterns is None:
        globs = ['*']
        exact = []
    else:
        globs = [p for p in patterns if is_glob(p)]
        exact = [p for p in patterns if not is_glob(p)]
    found = set()
    for name in exact:
        try:
            st = os.lstat(os.path.join(users_dir, name))
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            found.add(name)
    if globs:
        try:
            iterator = os.scandir(users_dir)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return sorted(found)
            raise CkpoolFileError(users_dir, exc.strerror or str(exc))
        with iterator:
            for entry in iterator:
                name = entry.name
                if name in found or not valid_username(name):
                    continue
                try:
                    if not entry.is_file(follow_symlinks=False):
                        continue
                except OSError:
                    continue
                for pattern in globs:
                    if pattern == '*' or fnmatch.fnmatchcase(name, pattern):
                        found.add(name)
                        break
    return sorted(found)


def read_users(logdir, patterns=None, limit=None):
    """Read the user files matching ``patterns`` (see :func:`list_users`).

    One unreadable or torn file does not fail the whole read: each file gets
    one retry, then its failure is reported in ``errors``.

    :param limit: read at most this many users (the first ones in name order);
        ``None`` reads all.
    :returns: ``{"users": [user shape, ...] (name order), "errors": [{"name",
        "path", "error"}], "missing": [exact names asked for that have no
        file], "total": number of matching users, "truncated": true when
        ``limit`` cut the list}``.
    :raises ValueError: invalid names or patterns, or a negative ``limit``.
    :raises CkpoolFileMissing: ``logdir`` does not exist.
    """
    normalised = _normalise_patterns(patterns)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError('limit must be a non-negative integer or None, got %r' % (limit,))
    names = list_users(logdir, normalised)
    missing = []
    if normalised is not None:
        present = set(names)
        missing = [p for p in normalised if not is_glob(p) and p not in present]
    total = len(names)
    truncated = limit is not None and total > limit
    if truncated:
        names = names[:limit]
    users = []
    errors = []
    # Hundreds of thousands of small dicts that all stay alive: the cyclic garbage
    # collector would rescan the growing heap again and again for nothing.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for name in names:
            try:
                users.append(read_user(logdir, name))
            except CkpoolFileError as exc:
                errors.append({'name': name, 'path': exc.path, 'error': exc.reason})
    finally:
        if gc_was_enabled:
            gc.enable()
    return {'users': users, 'errors': errors, 'missing': missing, 'total': total, 'truncated': truncated}


def flatten_workers(users):
    """Return every worker of ``users`` (user shapes) as one list, each with ``user`` added.

    The worker dicts are copies; the input is not modified.
    """
    result = []
    for user in users:
        for worker in user.get('worker') or []:
            item = dict(worker)
            item['user'] = user.get('name')
            result.append(item)
    return result


def worker_user(workername):
    """Return the ckpool username a worker name belongs to.

    ckpool derives the user from the worker name as ``strsep(name, "._")``:
    everything before the first ``.`` or ``_``; if that is empty (the name
    starts with a separator) the rest after it.  Truncated to 127 bytes like
    ckpool does.  ``None`` stays ``None``.
    """
    if workername is None:
        return None
    match = re.search(r'[._]', workername)
    if match is None:
        user = workername
    else:
        user = workername[:match.start()]
        if not user:
            user = workername[match.end():]
    encoded = user.encode('utf-8', 'surrogateescape')
    if len(encoded) > MAX_USERNAME_BYTES:
        user = encoded[:MAX_USERNAME_BYTES].decode('utf-8', 'ignore')
    return user


# ---------------------------------------------------------------------------
# ckpool.log
# ---------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------
# ckpool.conf and process discovery
# ---------------------------------------------------------------------------

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
    data = _read_small_file(path, MAX_STATUS_BYTES * 16)
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
