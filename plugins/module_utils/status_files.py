# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readers for ckpool's status files: ``pool/pool.status`` and ``users/<name>``.

Runs on the managed host (Python 3.6+, standard library only).

* ``LOGDIR/pool/pool.status``: three JSON lines, rewritten **in place and not
  atomically** every 60 s, so a reader can see an empty, partial or torn file;
  :func:`read_pool_status` re-reads until the file parses.
* ``LOGDIR/users/<username>``: one indented JSON document per user.  Usernames
  come from miners, so a name is validated
  (:func:`~usernames.valid_username`) before it is ever joined onto a path,
  the file is opened without following symlinks and must be a regular file.

Errors: :class:`~safe_files.CkpoolFileError` / ``CkpoolFileMissing`` and
``ValueError`` for invalid arguments.
"""

import fnmatch
import gc
import json
import os
import time

from ansible_collections.ckpool.fleet.plugins.module_utils.hashrate import parse_hashrate
from ansible_collections.ckpool.fleet.plugins.module_utils.safe_files import (
    CkpoolFileError,
    CkpoolFileMissing,
    DirBelow,
    open_root,
    read_file_below,
)


MAX_STATUS_BYTES = 1024 * 1024
"""``pool.status`` is ~400 bytes; anything above this is not a status file."""

MAX_USER_FILE_BYTES = 64 * 1024 * 1024
"""Upper bound for one ``users/<name>`` file (many workers make it big)."""
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
        "sps": {"1m", "5m", "15m", "1h"}, "netdiff", "accepted_count",
        "rejected_count", "user_agents"}``.  The last four are written by the
        ckpool-lhr fork only (``None`` otherwise); ``user_agents`` is its
        ``UserAgents`` list as ``[{"ua", "devices", "hashrate5m" (H/s),
        "hashrate5m_raw", "bestshare"}]`` (absent from the file when no
        client sent a user agent: ``None``).  The fork writes accepted,
        rejected and bestshare as floats.  ``age_seconds`` is
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
    user_agents = _user_agents(merged.get('UserAgents'))
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
        'netdiff': merged.get('netdiff'),
        'accepted_count': merged.get('accepted_count'),
        'rejected_count': merged.get('rejected_count'),
        'user_agents': user_agents,
    }


def _user_agents(value):
    """ckpool-lhr's ``UserAgents`` (pool.status line 1): devices and hashrate per user agent."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValueError('pool.status: UserAgents is not a list')
    result = []
    for entry in value:
        if not isinstance(entry, dict):
            raise ValueError('pool.status: UserAgents entry is not a JSON object')
        raw = entry.get('hashrate5m')
        try:
            rate = parse_hashrate(raw) if raw is not None else None
        except ValueError as exc:
            raise ValueError('pool.status: UserAgents hashrate5m: %s' % exc)
        result.append({'ua': entry.get('ua'), 'devices': entry.get('devices'), 'hashrate5m': rate,
                       'hashrate5m_raw': raw, 'bestshare': entry.get('bestshare')})
    return result


def read_pool_status(logdir, now=None, stale_after=180, retries=5, retry_delay=0.05):
    """Read ``LOGDIR/pool/pool.status`` into the pool shape (see :func:`parse_pool_status`).

    The file is read below ``logdir`` without following any link
    (:func:`~safe_files.read_file_below`: ``pool/`` and ``pool.status``
    must be a real directory and a regular file), non-blocking.  ckpool
    rewrites it in place, so a read can catch it empty or half written.  A
    read that does not parse is repeated up to ``retries`` more times,
    ``retry_delay`` seconds apart (total wait at most ``retries *
    retry_delay``).

    :param logdir: ckpool's log directory.
    :param now: unix time used for ``age_seconds`` (default: ``time.time()``
        after the successful read).
    :param stale_after: age in seconds above which ``stale`` is true; ckpool
        rewrites the file every 60 s, so the default 180 means three missed updates.
    :raises CkpoolFileMissing: the file does not exist.
    :raises CkpoolFileError: unsafe (a link, not a regular file), unreadable,
        or still unparsable after all retries (the reason names the last
        parse problem and the number of attempts).
    """
    path = pool_status_path(logdir)
    attempts = 0
    last_error = None
    while True:
        attempts += 1
        data = read_file_below(logdir, ['pool', 'pool.status'], MAX_STATUS_BYTES, what='a pool.status file')
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

def _users_dir(logdir):
    """Return ``LOGDIR/users``."""
    return os.path.join(logdir, 'users')


def user_file_path(logdir, name):
    """Return the path of ``users/<name>`` after validating ``name``.

    :raises ValueError: ``name`` fails :func:`~usernames.valid_username`.
    """
    # imported here: reading pool.status alone does not need the user-name code
    from ansible_collections.ckpool.fleet.plugins.module_utils.usernames import MAX_USERNAME_BYTES, valid_username
    if not valid_username(name):
        raise ValueError('invalid ckpool username %r: empty, ".", "..", "/", NUL, control '
                         'characters and names over %d bytes are refused' % (name, MAX_USERNAME_BYTES))
    return os.path.join(_users_dir(logdir), name)


def open_users_dir(logdir):
    """Open ``LOGDIR/users`` for reading (:class:`~safe_files.DirBelow`), or None when it does not exist.

    ``users/`` must be a real directory: a link there (to ``/root`` or
    anywhere else) is refused.

    :raises CkpoolFileMissing: ``logdir`` itself does not exist.
    :raises CkpoolFileError: ``users/`` is a link or not a directory, or cannot be opened.
    """
    root_fd = open_root(logdir)
    os.close(root_fd)
    try:
        return DirBelow(logdir, ['users'])
    except CkpoolFileMissing:
        return None


def _worker_shape(worker, raw=True):
    """Convert one entry of a user file's ``worker`` list."""
    if not isinstance(worker, dict):
        raise ValueError('worker entry is not a JSON object')
    hashrate, hashrate_raw = _hashrates(worker, USER_HASHRATE_KEYS, 'worker')
    shape = {
        'workername': worker.get('workername'),
        'hashrate': hashrate,
        'lastshare': worker.get('lastshare'),
        'shares': worker.get('shares'),
        'bestshare': worker.get('bestshare'),
        'bestever': worker.get('bestever'),
        # ckpool-lhr only (None otherwise): connect time and the raw user agent the miner sent
        'started': worker.get('started'),
        'useragent': worker.get('useragent'),
    }
    if raw:
        shape['hashrate_raw'] = hashrate_raw
    return shape


def parse_user(data, name, raw=True):
    """Parse the bytes of a ``users/<name>`` file into the user shape.

    :param raw: also return ckpool's hashrate strings (``hashrate_raw``).
    :returns: ``{"name", "hashrate": {"1m", "5m", "1hr", "1d", "7d"},
        "hashrate_raw": {...} (with ``raw``), "lastshare", "workers",
        "shares", "bestshare", "bestever", "authorised", "worker":
        [{"workername", "hashrate", "hashrate_raw", "lastshare", "shares",
        "bestshare", "bestever", "started", "useragent"}]}``; absent keys are
        ``None`` (``worker`` defaults to ``[]``).  ``started`` and
        ``useragent`` are written by the ckpool-lhr fork only; it also writes
        shares and bests as floats.
    :raises ValueError: not one complete JSON object of the expected form.
    """
    try:
        obj = json.loads(data)   # bytes: json detects the UTF encoding itself
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError('not valid JSON: %s' % exc)
    if not isinstance(obj, dict):
        raise ValueError('not a JSON object')
    hashrate, hashrate_raw = _hashrates(obj, USER_HASHRATE_KEYS, 'user')
    workers = obj.get('worker', [])
    if not isinstance(workers, list):
        raise ValueError('"worker" is not a list')
    shape = {
        'name': name,
        'hashrate': hashrate,
        'lastshare': obj.get('lastshare'),
        'workers': obj.get('workers'),
        'shares': obj.get('shares'),
        'bestshare': obj.get('bestshare'),
        'bestever': obj.get('bestever'),
        'authorised': obj.get('authorised'),
        'worker': [_worker_shape(worker, raw) for worker in workers],
    }
    if raw:
        shape['hashrate_raw'] = hashrate_raw
    return shape


def read_user(logdir, name, retries=1, retry_delay=0.05, users_dir=None, raw=True):
    """Read ``LOGDIR/users/<name>`` into the user shape (see :func:`parse_user`).

    ``name`` is validated first and never used unvalidated.  The file is
    opened relative to ``users/`` (itself opened without following links),
    with ``O_NOFOLLOW`` and ``O_NONBLOCK``, and must be a regular file, so
    what is read lies directly in ``users/``.  A torn read (the file is
    rewritten in place) is retried ``retries`` times.

    :param users_dir: an open :func:`open_users_dir` to reuse (many reads).
    :raises ValueError: invalid username.
    :raises CkpoolFileMissing: no file for that user (or no ``users/``).
    :raises CkpoolFileError: unsafe, unreadable, or unparsable after the retries.
    """
    user_file_path(logdir, name)   # validates the name
    own = users_dir is None
    if own:
        users_dir = open_users_dir(logdir)
        if users_dir is None:
            raise CkpoolFileMissing(_users_dir(logdir), 'no such directory (no user has an accepted share yet)')
    try:
        return _read_user_in(users_dir, name, retries, retry_delay, raw)
    finally:
        if own:
            users_dir.close()


def _read_user_in(users_dir, name, retries=1, retry_delay=0.05, raw=True):
    """Read and parse ``name`` (already validated) in an open ``users/``."""
    attempts = 0
    while True:
        attempts += 1
        data = users_dir.read(name, MAX_USER_FILE_BYTES, what='a user file')
        try:
            return parse_user(data, name, raw=raw)
        except ValueError as exc:
            last_error = exc
        if attempts > retries:
            break
        time.sleep(retry_delay)
    raise CkpoolFileError(os.path.join(users_dir.path, name), 'not a complete user file after %d reads: %s'
                          % (attempts, last_error))


def _list_in(users_dir, patterns):
    """The sorted names in an open ``users/`` matching ``patterns`` (see :func:`list_users`)."""
    from ansible_collections.ckpool.fleet.plugins.module_utils.usernames import is_glob, valid_username
    if patterns is None:
        globs = ['*']
        exact = []
    else:
        globs = [p for p in patterns if is_glob(p)]
        exact = [p for p in patterns if not is_glob(p)]
    found = set()
    for name in exact:
        if valid_username(name) and users_dir.is_regular(name):
            found.add(name)
    if globs:
        for name, regular in users_dir.entries():
            if not regular or name in found or not valid_username(name):
                continue
            for pattern in globs:
                if pattern == '*' or fnmatch.fnmatchcase(name, pattern):
                    found.add(name)
                    break
    return sorted(found)


def list_users(logdir, patterns=None):
    """Return the sorted names of the users that have a file under ``LOGDIR/users``.

    :param patterns: ``None`` for every user, or a list of exact names and/or
        fnmatch globs (``*``, ``?``, ``[...]``; case-sensitive; a literal
        ``*``, ``?`` or ``[`` is written ``[*]``, ``[?]``, ``[[]``).  A
        pattern without wildcards is an exact name: it is checked with one
        ``lstat`` and never lists the directory, so asking for a few names is
        O(1) even with 100 000 users.  Globs read the directory once.
    :returns: names of regular files (links and other entries are skipped,
        as are names that are unsafe as file names).  An exact name without a
        file is simply absent from the result.  A missing ``users/``
        directory (no user has submitted a share yet) gives ``[]``.
    :raises ValueError: a name or pattern breaks the user-name rule
        (:func:`~usernames.username_problem`).
    :raises CkpoolFileMissing: ``logdir`` itself does not exist.
    :raises CkpoolFileError: ``users/`` is a link or not a directory, or cannot be listed.
    """
    from ansible_collections.ckpool.fleet.plugins.module_utils.usernames import normalise_patterns
    patterns = normalise_patterns(patterns)
    users_dir = open_users_dir(logdir)
    if users_dir is None:
        return []
    with users_dir:
        return _list_in(users_dir, patterns)


class UserReader(object):
    """Read the user files matching ``patterns`` one at a time (see :func:`read_users`).

    Opening lists (and validates) the names; iterating yields one user shape
    at a time, so a caller that writes each user out at once never holds
    100 000 of them.  A file that cannot be read or parsed (after one retry)
    is recorded in :attr:`errors` and skipped.  Use as a context manager.

    :ivar names: the names that will be read (name order, after ``limit``).
    :ivar missing: exact names asked for that have no file.
    :ivar total: number of matching users before ``limit``.
    :ivar truncated: ``limit`` cut the list.
    :ivar errors: ``[{"name", "path", "error"}]`` so far.
    :raises ValueError: invalid names or patterns, or a negative ``limit``.
    :raises CkpoolFileMissing: ``logdir`` does not exist.
    :raises CkpoolFileError: ``users/`` is a link or not a directory.
    """

    def __init__(self, logdir, patterns=None, limit=None, raw=True):
        from ansible_collections.ckpool.fleet.plugins.module_utils.usernames import is_glob, normalise_patterns
        normalised = normalise_patterns(patterns)
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise ValueError('limit must be a non-negative integer or None, got %r' % (limit,))
        self.raw = raw
        self.errors = []
        self.users_dir = open_users_dir(logdir)
        if self.users_dir is None:
            self.names = []
            self.missing = [p for p in normalised if not is_glob(p)] if normalised is not None else []
            self.total = 0
            self.truncated = False
            return
        names = _list_in(self.users_dir, normalised)
        self.missing = []
        if normalised is not None:
            present = set(names)
            self.missing = [p for p in normalised if not is_glob(p) and p not in present]
        self.total = len(names)
        self.truncated = limit is not None and self.total > limit
        self.names = names[:limit] if self.truncated else names

    def __iter__(self):
        for name in self.names:
            try:
                yield _read_user_in(self.users_dir, name, raw=self.raw)
            except CkpoolFileError as exc:
                self.errors.append({'name': name, 'path': exc.path, 'error': exc.reason})

    def close(self):
        if self.users_dir is not None:
            self.users_dir.close()
            self.users_dir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def read_users(logdir, patterns=None, limit=None, raw=True):
    """Read the user files matching ``patterns`` (see :func:`list_users`).

    ``users/`` is opened once (no link followed) and every file is read
    relative to it.  One unreadable or torn file does not fail the whole
    read: each file gets one retry, then its failure is reported in
    ``errors``.  (:class:`UserReader` reads them one at a time.)

    :param limit: read at most this many users (the first ones in name order);
        ``None`` reads all.
    :param raw: also return ckpool's hashrate strings (``hashrate_raw``);
        ``False`` roughly halves the memory of a large result.
    :returns: ``{"users": [user shape, ...] (name order), "errors": [{"name",
        "path", "error"}], "missing": [exact names asked for that have no
        file], "total": number of matching users, "truncated": true when
        ``limit`` cut the list}``.
    :raises ValueError: invalid names or patterns, or a negative ``limit``.
    :raises CkpoolFileMissing: ``logdir`` does not exist.
    :raises CkpoolFileError: ``users/`` is a link or not a directory.
    """
    with UserReader(logdir, patterns, limit, raw) as reader:
        # Hundreds of thousands of small dicts that all stay alive: the cyclic garbage
        # collector would rescan the growing heap again and again for nothing.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            users = list(reader)
        finally:
            if gc_was_enabled:
                gc.enable()
        return {'users': users, 'errors': reader.errors, 'missing': reader.missing, 'total': reader.total,
                'truncated': reader.truncated}


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
