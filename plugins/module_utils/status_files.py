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

import errno
import fnmatch
import gc
import json
import os
import stat
import time

from ansible_collections.ckpool.fleet.plugins.module_utils.hashrate import parse_hashrate
from ansible_collections.ckpool.fleet.plugins.module_utils.safe_files import CkpoolFileError, CkpoolFileMissing, read_small_file
from ansible_collections.ckpool.fleet.plugins.module_utils.usernames import MAX_USERNAME_BYTES, is_glob, normalise_patterns, valid_username


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
        data = read_small_file(path, MAX_STATUS_BYTES)
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
        # ckpool-lhr only (None otherwise): connect time and the raw user agent the miner sent
        'started': worker.get('started'),
        'useragent': worker.get('useragent'),
    }


def parse_user(data, name):
    """Parse the bytes of a ``users/<name>`` file into the user shape.

    :returns: ``{"name", "hashrate": {"1m", "5m", "1hr", "1d", "7d"},
        "hashrate_raw": {...}, "lastshare", "workers", "shares", "bestshare",
        "bestever", "authorised", "worker": [{"workername", "hashrate",
        "hashrate_raw", "lastshare", "shares", "bestshare", "bestever",
        "started", "useragent"}]}``; absent keys are ``None`` (``worker``
        defaults to ``[]``).  ``started`` and ``useragent`` are written by the
        ckpool-lhr fork only; it also writes shares and bests as floats.
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
        data = read_small_file(path, MAX_USER_FILE_BYTES, nofollow=True)
        try:
            return parse_user(data, name)
        except ValueError as exc:
            last_error = exc
        if attempts > retries:
            break
        time.sleep(retry_delay)
    raise CkpoolFileError(path, 'not a complete user file after %d reads: %s' % (attempts, last_error))


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
    patterns = normalise_patterns(patterns)
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
    normalised = normalise_patterns(patterns)
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
