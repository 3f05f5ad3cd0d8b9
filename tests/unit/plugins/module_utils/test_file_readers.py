# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the file readers (status_files, ckpool_log, process...): real files, captures, /proc.

The fixtures under fixtures/ckpool_files/ are unmodified copies of files written by a
real ckpool (see fixtures/ckpool_files/README.md).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.ckpool.fleet.plugins.module_utils import ckpool_log
from ansible_collections.ckpool.fleet.plugins.module_utils import hashrate
from ansible_collections.ckpool.fleet.plugins.module_utils import process
from ansible_collections.ckpool.fleet.plugins.module_utils import safe_files
from ansible_collections.ckpool.fleet.plugins.module_utils import status_files
from ansible_collections.ckpool.fleet.plugins.module_utils import usernames


FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'ckpool_files')


def fixture_path(*parts):
    return os.path.join(FIXTURES, *parts)


def fixture_bytes(*parts):
    with open(fixture_path(*parts), 'rb') as handle:
        return handle.read()


def local_stamp(unix_time):
    """Format a unix time the way ckpool stamps its log lines (local time)."""
    base = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(unix_time))
    return '[%s.%03d]' % (base, int(round((unix_time % 1) * 1000)) % 1000)


def capture_hashrate_strings():
    """Every hashrate string that appears in the captures copied under fixtures/."""
    values = set()

    def from_obj(obj):
        for key, value in obj.items():
            if key.startswith('hashrate'):
                values.add(value)
        for worker in obj.get('worker', []):
            from_obj(worker)

    for line in fixture_bytes('pool.status').decode().splitlines():
        from_obj(json.loads(line))
    from_obj(json.loads(fixture_bytes('users', 'testuser').decode()))
    for record in fixture_bytes('status_history.jsonl').decode().splitlines():
        content = json.loads(record)['content']
        if content.lstrip().startswith('{\n'):
            from_obj(json.loads(content))
        else:
            for line in content.splitlines():
                from_obj(json.loads(line))
    for name in os.listdir(FIXTURES):
        if not name.endswith('.log'):
            continue
        text = fixture_bytes(name).decode()
        for match in re.finditer(r'Pool:(\{.*\})$', text, re.M):
            from_obj(json.loads(match.group(1)))
        for match in re.finditer(r'Json found entry hashrate\w+: (\S+)$', text, re.M):
            values.add(match.group(1))
    return sorted(values)


CAPTURE_HASHRATES = capture_hashrate_strings()


# ---------------------------------------------------------------------------
# Hashrates
# ---------------------------------------------------------------------------

def test_capture_has_many_hashrates():
    # Guard against the collector silently finding nothing.
    assert len(CAPTURE_HASHRATES) > 40
    for expected in ('114', '1.74M', '568K', '21.3K', '0', '1', '864K', '14.6K'):
        assert expected in CAPTURE_HASHRATES


@pytest.mark.parametrize('text', CAPTURE_HASHRATES)
def test_hashrate_round_trip_on_capture_values(text):
    value = hashrate.parse_hashrate(text)
    assert isinstance(value, float)
    assert hashrate.format_hashrate(value) == text


@pytest.mark.parametrize('text,expected', [
    ('114', 114.0),
    ('0', 0.0),
    ('8.71M', 8710000.0),
    ('568K', 568000.0),
    ('21.3K', 21300.0),
    ('1.74M', 1740000.0),
    ('2.5G', 2.5e9),
    ('3T', 3e12),
    ('1.5P', 1.5e15),
    ('7.1E', 7.1e18),
    ('1e+03K', 1e6),
    (' 8.71M ', 8710000.0),
    ('8.71MH/s', 8710000.0),
    ('.5K', 500.0),
    (114, 114.0),
    (2.5, 2.5),
    # ckpool-lhr (captures/lhr/, its suffix_string()): below 1 H/s and %.3g under 1000
    ('500m', 0.5),
    ('2.5u', 0.0000025),
    ('3n', 0.000000003),
    ('8.71m', 0.00871),
    ('1.5', 1.5),
    ('1e+03m', 1.0),
])
def test_parse_hashrate_values(text, expected):
    assert hashrate.parse_hashrate(text) == expected


def test_parse_hashrate_is_exact_decimal():
    # 8.71 * 1e6 in binary floating point is not 8710000.0; the parser must be.
    assert hashrate.parse_hashrate('8.71M') == 8710000.0
    assert hashrate.parse_hashrate('4.65M') == 4650000.0
    assert hashrate.parse_hashrate('0.1K') == 100.0


@pytest.mark.parametrize('bad', [
    '', ' ', 'abc', '8.71k', '5U', '5N', '5mK', '5 m m', '-5m', '-5', '-1K', '1.2.3', 'NaN', 'inf', 'M', '5X', '5 KM',
    '0x10', '1,5K', None, True, False, float('nan'), float('inf'), -1, [], {}, '1e400E',
])
def test_parse_hashrate_rejects_garbage(bad):
    with pytest.raises(ValueError) as excinfo:
        hashrate.parse_hashrate(bad)
    assert repr(bad) in str(excinfo.value)


@pytest.mark.parametrize('value,expected', [
    (0, '0'),
    (0.5, '500m'),            # below 1 H/s: ckpool-lhr's suffixes
    (0.0025, '2.5m'),
    (0.0000025, '2.5u'),
    (0.000000003, '3n'),
    (0.0000000001, '0'),
    (0.9996, '1e+03m'),       # the same %.3g quirk as upstream's K
    (1, '1'),
    (114.9, '114'),
    (999.99, '999'),
    (1000, '1K'),
    (21300, '21.3K'),
    (568000, '568K'),
    (999400, '999K'),
    (999600, '1e+03K'),   # ckpool's own %.3g quirk, kept on purpose
    (1000000, '1M'),
    (8710000, '8.71M'),
    (8714999, '8.71M'),
    (1.5e9, '1.5G'),
    (2.34e12, '2.34T'),
    (1e15, '1P'),
    (7.1e18, '7.1E'),
    (1.5e21, '1.5e+03E'),
    ('8.71M', '8.71M'),
    ('114', '114'),
])
def test_format_hashrate_like_ckpool(value, expected):
    assert hashrate.format_hashrate(value) == expected


def test_format_hashrate_quirk_parses_back():
    assert hashrate.parse_hashrate(hashrate.format_hashrate(999600)) == 1e6


@pytest.mark.parametrize('bad', [-1, -0.001, float('nan'), float('inf'), None, True, 'x', [1]])
def test_format_hashrate_rejects(bad):
    with pytest.raises(ValueError):
        hashrate.format_hashrate(bad)


# ---------------------------------------------------------------------------
# pool/pool.status
# ---------------------------------------------------------------------------

def make_logdir(tmp_path, status=True, users=('testuser',)):
    logdir = tmp_path / 'logs'
    (logdir / 'pool').mkdir(parents=True)
    (logdir / 'users').mkdir()
    if status:
        (logdir / 'pool' / 'pool.status').write_bytes(fixture_bytes('pool.status'))
    for name in users:
        (logdir / 'users' / name).write_bytes(fixture_bytes('users', 'testuser'))
    return logdir


def test_read_pool_status_capture(tmp_path):
    logdir = make_logdir(tmp_path)
    pool = status_files.read_pool_status(str(logdir), now=1795502476 + 30)
    assert pool['path'] == str(logdir / 'pool' / 'pool.status')
    assert pool['runtime'] == 300 and isinstance(pool['runtime'], int)
    assert pool['lastupdate'] == 1795502476
    assert pool['age_seconds'] == 30
    assert pool['stale'] is False
    assert (pool['users'], pool['workers'], pool['idle'], pool['disconnected']) == (0, 0, 0, 0)
    assert pool['hashrate_raw'] == {'1m': '114', '5m': '1.74M', '15m': '4.65M', '1hr': '2.69M',
                                    '6hr': '568K', '1d': '147K', '7d': '21.3K'}
    assert pool['hashrate'] == {'1m': 114.0, '5m': 1740000.0, '15m': 4650000.0, '1hr': 2690000.0,
                                '6hr': 568000.0, '1d': 147000.0, '7d': 21300.0}
    assert pool['diff'] == 100.0 and isinstance(pool['diff'], float)
    assert pool['accepted'] == 1 and isinstance(pool['accepted'], int)
    assert pool['rejected'] == 0 and pool['bestshare'] == 0
    assert pool['sps'] == {'1m': 2.66e-8, '5m': 0.000403, '15m': 0.00108, '1h': 0.000626}
    assert sorted(pool) == sorted(['path', 'runtime', 'lastupdate', 'age_seconds', 'stale', 'users',
                                   'workers', 'idle', 'disconnected', 'hashrate', 'hashrate_raw', 'diff',
                                   'accepted', 'rejected', 'bestshare', 'sps',
                                   'netdiff', 'accepted_count', 'rejected_count', 'user_agents'])  # lhr: None here


def test_read_pool_status_stale(tmp_path):
    logdir = make_logdir(tmp_path)
    assert status_files.read_pool_status(str(logdir), now=1795502476 + 181)['stale'] is True
    assert status_files.read_pool_status(str(logdir), now=1795502476 + 181, stale_after=200)['stale'] is False
    # Default now is the real clock: the capture is from the past or future, never "now".
    pool = status_files.read_pool_status(str(logdir))
    assert abs(pool['age_seconds'] - (time.time() - 1795502476)) < 5


def test_read_pool_status_every_history_snapshot(tmp_path):
    logdir = make_logdir(tmp_path, status=False)
    seen = 0
    for record in fixture_bytes('status_history.jsonl').decode().splitlines():
        record = json.loads(record)
        if not record['path'].endswith('pool.status'):
            continue
        (logdir / 'pool' / 'pool.status').write_text(record['content'])
        pool = status_files.read_pool_status(str(logdir), now=record['observed_unix'])
        first = json.loads(record['content'].splitlines()[0])
        assert pool['runtime'] == first['runtime']
        assert pool['age_seconds'] == record['observed_unix'] - first['lastupdate']
        seen += 1
    assert seen >= 10


def test_pool_status_every_prefix_is_rejected():
    data = fixture_bytes('pool.status')
    assert data.endswith(b'\n')
    for cut in range(len(data) - 1):
        with pytest.raises(ValueError):
            status_files.parse_pool_status(data[:cut])
    # Only the full file (with or without its last newline) parses.
    assert status_files.parse_pool_status(data[:-1])['runtime'] == 300
    assert status_files.parse_pool_status(data)['runtime'] == 300


def test_read_pool_status_missing(tmp_path):
    logdir = make_logdir(tmp_path, status=False)
    with pytest.raises(safe_files.CkpoolFileMissing) as excinfo:
        status_files.read_pool_status(str(logdir))
    assert isinstance(excinfo.value, safe_files.CkpoolFileError)
    assert excinfo.value.path == str(logdir / 'pool' / 'pool.status')
    assert 'no such file' in excinfo.value.reason


def test_read_pool_status_torn_then_completed(tmp_path):
    logdir = make_logdir(tmp_path, status=False)
    path = logdir / 'pool' / 'pool.status'
    full = fixture_bytes('pool.status')
    path.write_bytes(full[:150])   # ckpool caught mid-write

    def complete():
        # Rewrite in place, like ckpool does (no rename).
        with open(str(path), 'r+b') as handle:
            handle.seek(0)
            handle.write(full)
            handle.truncate()

    timer = threading.Timer(0.15, complete)
    start = time.monotonic()
    timer.start()
    try:
        pool = status_files.read_pool_status(str(logdir), retries=40, retry_delay=0.02, now=1795502476)
    finally:
        timer.cancel()
        timer.join()
    assert time.monotonic() - start >= 0.15   # it really had to retry
    assert pool['hashrate_raw']['7d'] == '21.3K'
    assert pool['age_seconds'] == 0


def test_read_pool_status_torn_forever(tmp_path):
    logdir = make_logdir(tmp_path, status=False)
    path = logdir / 'pool' / 'pool.status'
    path.write_bytes(fixture_bytes('pool.status')[:250])
    with pytest.raises(safe_files.CkpoolFileError) as excinfo:
        status_files.read_pool_status(str(logdir), retries=3, retry_delay=0.001)
    assert not isinstance(excinfo.value, safe_files.CkpoolFileMissing)
    assert 'after 4 reads' in excinfo.value.reason
    assert str(path) in str(excinfo.value)


def test_read_pool_status_empty_file(tmp_path):
    logdir = make_logdir(tmp_path, status=False)
    (logdir / 'pool' / 'pool.status').write_bytes(b'')
    with pytest.raises(safe_files.CkpoolFileError) as excinfo:
        status_files.read_pool_status(str(logdir), retries=1, retry_delay=0)
    assert 'found 0' in excinfo.value.reason


def test_read_pool_status_fifo_does_not_hang(tmp_path):
    logdir = make_logdir(tmp_path, status=False)
    os.mkfifo(str(logdir / 'pool' / 'pool.status'))
    with pytest.raises(safe_files.CkpoolFileError) as excinfo:
        status_files.read_pool_status(str(logdir), retries=0)
    assert 'not a regular file' in excinfo.value.reason


def test_read_pool_status_bad_hashrate(tmp_path):
    logdir = make_logdir(tmp_path, status=False)
    text = fixture_bytes('pool.status').decode().replace('"568K"', '"568Q"')
    (logdir / 'pool' / 'pool.status').write_text(text)
    with pytest.raises(safe_files.CkpoolFileError) as excinfo:
        status_files.read_pool_status(str(logdir), retries=1, retry_delay=0)
    assert '568Q' in excinfo.value.reason


# ---------------------------------------------------------------------------
# users/<name>
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('name', [
    'testuser', 'alice', 'a b', 'ünïcode', '.hidden', 'x' * 127, 'mog8yLvGpZ12csvGCNaNZmZYXqTZewCupe',
    'a..b', '-dash', 'back\\slash', 'é' * 63,
])
def test_valid_username_accepts(name):
    assert usernames.valid_username(name) is True


@pytest.mark.parametrize('name', [
    '', '.', '..', '/', 'a/b', '../etc/passwd', '/etc/passwd', 'a\x00b', 'a\nb', 'tab\there', '\x7f',
    'c1\x85', 'x' * 128, 'é' * 64, None, 5, b'bytes', '\udcff', ['list'],
])
def test_valid_username_refuses(name):
    assert usernames.valid_username(name) is False


def test_read_user_capture(tmp_path):
    logdir = make_logdir(tmp_path)
    user = status_files.read_user(str(logdir), 'testuser')
    assert user['name'] == 'testuser'
    assert user['hashrate_raw'] == {'1m': '864K', '5m': '5.22M', '1hr': '2.02M', '1d': '98.7K', '7d': '14.2K'}
    assert user['hashrate'] == {'1m': 864000.0, '5m': 5220000.0, '1hr': 2020000.0, '1d': 98700.0, '7d': 14200.0}
    assert user['lastshare'] == 1795501476
    assert user['workers'] == 1 and user['shares'] == 3
    assert user['bestshare'] == 1.011302215844546 and user['bestever'] == 1
    assert user['authorised'] == 1795500524
    assert len(user['worker']) == 1
    worker = user['worker'][0]
    assert worker['workername'] == 'testuser.rig1'
    assert worker['hashrate']['5m'] == 5220000.0
    assert worker['hashrate_raw']['1d'] == '98.7K'
    assert sorted(worker) == ['bestever', 'bestshare', 'hashrate', 'hashrate_raw', 'lastshare', 'shares',
                              'started', 'useragent', 'workername']      # the last two: ckpool-lhr only


@pytest.mark.parametrize('name', ['../etc/passwd', '..', '.', 'a/b', '', 'x\x00', '../../pool/pool.status'])
def test_read_user_rejects_malicious_names(tmp_path, name):
    logdir = make_logdir(tmp_path)
    with pytest.raises(ValueError):
        status_files.read_user(str(logdir), name)


def test_read_user_symlink_escape(tmp_path):
    logdir = make_logdir(tmp_path)
    secret = tmp_path / 'secret.json'
    secret.write_text('{"hashrate1m": "1"}')
    os.symlink(str(secret), str(logdir / 'users' / 'evil'))
    with pytest.raises(safe_files.CkpoolFileError) as excinfo:
        status_files.read_user(str(logdir), 'evil')
    assert 'symbolic link' in excinfo.value.reason  # refused without being followed
    # A symlink that stays inside users/ is refused too: ckpool never creates symlinks.
    os.symlink('testuser', str(logdir / 'users' / 'alias'))
    with pytest.raises(safe_files.CkpoolFileError) as excinfo:
        status_files.read_user(str(logdir), 'alias')
    assert 'symbolic link' in excinfo.value.reason
    assert status_files.list_users(str(logdir)) == ['testuser']
    result = status_files.read_users(str(logdir), ['evil', 'alias', 'testuser'])
    assert [u['name'] for u in result['users']] == ['testuser']
    assert result['missing'] == ['evil', 'alias']


def test_read_user_symlinked_users_dir_is_refused(tmp_path):
    # users/ replaced by a link (to a root-only directory, or anywhere): nothing behind it is read or listed.
    logdir = make_logdir(tmp_path, users=())
    real = tmp_path / 'elsewhere'
    real.mkdir()
    (real / 'testuser').write_bytes(fixture_bytes('users', 'testuser'))
    os.rmdir(str(logdir / 'users'))
    os.symlink(str(real), str(logdir / 'users'))
    with pytest.raises(safe_files.CkpoolFileError) as info:
        status_files.read_user(str(logdir), 'testuser')
    assert 'symbolic link' in info.value.reason and info.value.path == str(logdir / 'users')
    with pytest.raises(safe_files.CkpoolFileError):
        status_files.list_users(str(logdir))
    with pytest.raises(safe_files.CkpoolFileError):
        status_files.read_users(str(logdir), ['*'])


def test_read_user_missing(tmp_path):
    logdir = make_logdir(tmp_path)
    with pytest.raises(safe_files.CkpoolFileMissing):
        status_files.read_user(str(logdir), 'nobody')


def test_read_user_torn_then_completed(tmp_path):
    logdir = make_logdir(tmp_path, users=())
    path = logdir / 'users' / 'testuser'
    full = fixture_bytes('users', 'testuser')
    path.write_bytes(full[:100])

    def complete():
        with open(str(path), 'r+b') as handle:
            handle.write(full)
            handle.truncate()

    timer = threading.Timer(0.1, complete)
    timer.start()
    try:
        user = status_files.read_user(str(logdir), 'testuser', retries=1, retry_delay=0.4)
    finally:
        timer.cancel()
        timer.join()
    assert user['shares'] == 3


def populate_users(logdir, names):
    data = fixture_bytes('users', 'testuser')
    for name in names:
        (logdir / 'users' / name).write_bytes(data)


def test_list_users_globs(tmp_path):
    logdir = make_logdir(tmp_path, users=())
    names = ['alice', 'alex', 'Alice', 'bob', 'bob.rig', 'star*name', 'q?', '[x]', 'zed']
    populate_users(logdir, names)
    (logdir / 'users' / 'adir').mkdir()   # not a regular file: skipped
    os.mkfifo(str(logdir / 'users' / 'afifo'))
    assert status_files.list_users(str(logdir)) == sorted(names)
    assert status_files.list_users(str(logdir), ['al*']) == ['alex', 'alice']
    assert status_files.list_users(str(logdir), 'A*') == ['Alice']
    assert status_files.list_users(str(logdir), ['a*']) == ['alex', 'alice']
    assert status_files.list_users(str(logdir), ['bob', 'zed', 'ghost']) == ['bob', 'zed']
    assert status_files.list_users(str(logdir), ['star[*]name']) == ['star*name']
    assert status_files.list_users(str(logdir), ['[[]x]']) == ['[x]']
    assert status_files.list_users(str(logdir), ['b?b', 'q[?]']) == ['bob', 'q?']
    assert status_files.list_users(str(logdir), ['adir', 'afifo']) == []
    assert status_files.list_users(str(logdir), []) == []


def test_list_users_exact_names_do_not_list_the_directory(tmp_path, monkeypatch):
    logdir = make_logdir(tmp_path, users=())
    populate_users(logdir, ['u%05d' % i for i in range(2000)])

    def no_listing(*args, **kwargs):
        raise AssertionError('exact names must not list the users directory')

    monkeypatch.setattr(status_files.os, 'scandir', no_listing)
    monkeypatch.setattr(status_files.os, 'listdir', no_listing)
    assert status_files.list_users(str(logdir), ['u01999', 'u00000', 'nope']) == ['u00000', 'u01999']
    result = status_files.read_users(str(logdir), ['u00042'])
    assert [u['name'] for u in result['users']] == ['u00042']
    with pytest.raises(AssertionError):
        status_files.list_users(str(logdir), ['u0199*'])


@pytest.mark.parametrize('pattern', ['../etc/passwd', '..', 'a/*', '*/x', '', 'x\n', None, 3])
def test_list_users_rejects_bad_patterns(tmp_path, pattern):
    logdir = make_logdir(tmp_path)
    with pytest.raises(ValueError):
        status_files.list_users(str(logdir), [pattern])


def test_list_users_missing_dirs(tmp_path):
    logdir = tmp_path / 'logs'
    with pytest.raises(safe_files.CkpoolFileMissing):
        status_files.list_users(str(logdir))
    logdir.mkdir()
    assert status_files.list_users(str(logdir)) == []
    assert status_files.read_users(str(logdir), ['alice']) == {
        'users': [], 'errors': [], 'missing': ['alice'], 'total': 0, 'truncated': False}


def test_read_users_reports_broken_files_per_user(tmp_path):
    logdir = make_logdir(tmp_path, users=())
    populate_users(logdir, ['alice', 'bob', 'carol'])
    (logdir / 'users' / 'bob').write_bytes(fixture_bytes('users', 'testuser')[:60])   # torn for good
    result = status_files.read_users(str(logdir))
    assert [u['name'] for u in result['users']] == ['alice', 'carol']
    assert len(result['errors']) == 1
    error = result['errors'][0]
    assert error['name'] == 'bob'
    assert error['path'] == str(logdir / 'users' / 'bob')
    assert 'after 2 reads' in error['error']
    assert result['total'] == 3 and result['truncated'] is False


def test_read_users_limit(tmp_path):
    logdir = make_logdir(tmp_path, users=())
    populate_users(logdir, ['u%d' % i for i in range(10)])
    result = status_files.read_users(str(logdir), ['u*'], limit=3)
    assert [u['name'] for u in result['users']] == ['u0', 'u1', 'u2']
    assert result['total'] == 10 and result['truncated'] is True
    assert status_files.read_users(str(logdir), limit=10)['truncated'] is False
    with pytest.raises(ValueError):
        status_files.read_users(str(logdir), limit=-1)


def test_flatten_workers(tmp_path):
    logdir = make_logdir(tmp_path, users=('alice', 'bob'))
    users = status_files.read_users(str(logdir))['users']
    workers = status_files.flatten_workers(users)
    assert [(w['user'], w['workername']) for w in workers] == [('alice', 'testuser.rig1'),
                                                               ('bob', 'testuser.rig1')]
    assert 'user' not in users[0]['worker'][0]   # input untouched
    assert status_files.flatten_workers([{'name': 'x', 'worker': []}, {'name': 'y'}]) == []


@pytest.mark.parametrize('worker,user', [
    ('testuser.rig1', 'testuser'), ('bob_rig', 'bob'), ('plain', 'plain'), ('a.b_c', 'a'),
    ('.x.y', 'x.y'), ('_x', 'x'), (None, None), ('x' * 200, 'x' * 127),
])
def test_worker_user(worker, user):
    assert usernames.worker_user(worker) == user


# ---------------------------------------------------------------------------
# ckpool.log
# ---------------------------------------------------------------------------

def expected_lines(data):
    """Reference implementation: complete lines of data, oldest first."""
    if b'\n' not in data:
        return []
    body = data[:data.rfind(b'\n')]
    return [line.decode('utf-8', 'replace') for line in body.split(b'\n')]


@pytest.mark.parametrize('block_size', [1, 2, 3, 7, 64, 4096])
def test_reverse_reader_matches_reference(tmp_path, block_size):
    path = tmp_path / 'x.log'
    samples = [
        b'',
        b'\n',
        b'one\n',
        b'one',
        b'one\ntwo\n',
        b'one\ntwo\npartial',
        b'\n\nempty lines\n\n',
        b'long ' * 50 + b'\nshort\n' + b'x' * 40 + b'\n',
        'ünïcode ✓\nline\n'.encode(),
    ]
    for data in samples:
        path.write_bytes(data)
        reader = ckpool_log.ReverseLineReader(str(path), max_bytes=10 ** 6, block_size=block_size)
        lines = list(reader)
        assert list(reversed(lines)) == expected_lines(data), data
        assert reader.reached_start is True and reader.bound_hit is False


def test_tail_lines_bound(tmp_path):
    path = tmp_path / 'ckpool.log'
    lines = ['line %04d %s' % (i, 'x' * (i % 13)) for i in range(1000)]
    data = ('\n'.join(lines) + '\n').encode()
    path.write_bytes(data)
    got, bound = ckpool_log.tail_lines(str(path), max_bytes=len(data))
    assert got == lines and bound is False
    for max_bytes in (1, 10, 100, 1000, 4321, len(data) - 1):
        got, bound = ckpool_log.tail_lines(str(path), max_bytes=max_bytes)
        assert bound is True
        tail = data[-max_bytes:]
        # Exactly the complete lines inside the window, the cut line dropped.
        assert got == [l.decode() for l in tail.split(b'\n')[1:-1]]
        assert sum(len(l) + 1 for l in got) <= max_bytes


def test_tail_lines_skips_line_being_written(tmp_path):
    path = tmp_path / 'ckpool.log'
    path.write_bytes(b'[2026-11-24 06:08:44.992] done\n[2026-11-24 06:08:45.000] Authorised client 9 127.0.0.1 wor')
    assert ckpool_log.tail_lines(str(path)) == (['[2026-11-24 06:08:44.992] done'], False)


def test_tail_lines_missing(tmp_path):
    with pytest.raises(safe_files.CkpoolFileMissing):
        ckpool_log.tail_lines(str(tmp_path / 'nope.log'))
    with pytest.raises(ValueError):
        ckpool_log.ReverseLineReader(str(tmp_path / 'nope.log'), max_bytes=0)


def test_parse_log_time():
    expected = time.mktime((2026, 11, 24, 6, 8, 44, 0, 0, -1)) + 0.992
    got = ckpool_log.parse_log_time('[2026-11-24 06:08:44.992] Authorised client 9 127.0.0.1 worker a.b as user a')
    assert got == pytest.approx(expected, abs=1e-6)
    assert ckpool_log.parse_log_time('no stamp') is None
    assert ckpool_log.parse_log_time('[2026-11-24 06:08] short stamp') is None
    assert ckpool_log.parse_log_time('998130d18c88ac","reqSigs":1') is None
    now = time.time()
    assert ckpool_log.parse_log_time(local_stamp(now) + ' x') == pytest.approx(now, abs=0.002)


def test_parse_log_time_capture_matches_pool_lastupdate():
    # The capture host ran in UTC: its Pool: lines carry lastupdate of the same second.
    saved = os.environ.get('TZ')
    os.environ['TZ'] = 'UTC'
    time.tzset()
    checked = 0
    try:
        for line in fixture_bytes('06_pool_status_log_lines.log').decode().splitlines():
            match = re.search(r'"lastupdate": (\d+)', line)
            if match:
                assert int(ckpool_log.parse_log_time(line)) == int(match.group(1))
                checked += 1
    finally:
        if saved is None:
            del os.environ['TZ']
        else:
            os.environ['TZ'] = saved
        time.tzset()
    assert checked > 40


def stamp_time(stamp):
    """Unix time of a capture stamp, interpreted in the local zone like the reader does."""
    return ckpool_log.parse_log_time('[%s] x' % stamp)


def test_client_sessions_dropall_clears_everyone(tmp_path):
    path = tmp_path / 'ckpool.log'
    shutil.copy(fixture_path('02_authorisation_and_drops.log'), str(path))
    for user in ('testuser', 'alice'):
        result = ckpool_log.client_sessions(str(path), user)
        assert result['sessions'] == []
        assert result['complete'] is True and result['bound_hit'] is False


def test_client_sessions_before_dropall(tmp_path):
    path = tmp_path / 'ckpool.log'
    text = fixture_bytes('02_authorisation_and_drops.log').decode()
    cut = text.index('[2026-11-24 06:36:02.646] Dropped 2 instances')
    path.write_text(text[:cut])
    result = ckpool_log.client_sessions(str(path), 'testuser')
    assert result['sessions'] == [
        {'id': 9, 'address': '127.0.0.1', 'worker': 'testuser.rig1',
         'authorised_at': stamp_time('2026-11-24 06:08:44.992')},
        {'id': 746, 'address': '127.0.0.1', 'worker': 'testuser.rig1',
         'authorised_at': stamp_time('2026-11-24 06:36:00.127')},
    ]
    assert result['complete'] is True and result['bytes_read'] == len(text[:cut].encode())
    # alice: 10 and 11 were dropped ("Dropped client" lines), 747 is connected.
    alice = ckpool_log.client_sessions(str(path), 'alice')['sessions']
    assert [s['id'] for s in alice] == [747]
    assert alice[0]['worker'] == 'alice.rig2'
    # Case-sensitive, and no prefix matching of user names.
    assert ckpool_log.client_sessions(str(path), 'Alice')['sessions'] == []
    assert ckpool_log.client_sessions(str(path), 'test')['sessions'] == []


def test_client_sessions_since_ignores_older_process(tmp_path):
    path = tmp_path / 'ckpool.log'
    text = fixture_bytes('02_authorisation_and_drops.log').decode()
    path.write_text(text[:text.index('[2026-11-24 06:36:02.646]')])
    result = ckpool_log.client_sessions(str(path), 'testuser', since=stamp_time('2026-11-24 06:30:00.000'))
    assert [s['id'] for s in result['sessions']] == [746]
    assert result['complete'] is True
    assert result['bytes_read'] < len(text)   # stopped reading at the process start


def test_client_sessions_events(tmp_path):
    base = int(time.time()) - 100 + 0.25
    events = [
        'Authorised client 1 10.0.0.1 worker bob.a as user bob',
        'Authorised client 2 10.0.0.2 worker bob.b as user bob',
        'Authorised client 3 10.0.0.3 worker bob.c as user bob',
        'Authorised client 4 10.0.0.4 worker bob.d as user bob',
        'Authorised client 5 ::1 worker bob.with spaces as user bob',
        'Authorised client 6 10.0.0.6 worker carol.x as user carol',
        'Dropped client 1 10.0.0.1 user bob worker bob.a ',
        'Connector dropped client id: 2',
        'Client id 3 fd 23 RDHUP in epoll',
        'Dropped client 4 10.0.0.4 user bob worker bob.d ',
        'Authorised client 4 10.0.0.4 worker bob.d as user bob',   # same id authorised again later
    ]
    lines = ['%s %s' % (local_stamp(base + i), event) for i, event in enumerate(events)]
    lines.append('%s Authorised client 7 10.0.0.7 worker bob.e as user bo' % local_stamp(base + 50))
    path = tmp_path / 'ckpool.log'
    path.write_text('\n'.join(lines))   # the last line has no newline yet: still being written
    result = ckpool_log.client_sessions(str(path), 'bob')
    assert [(s['id'], s['address'], s['worker']) for s in result['sessions']] == [
        (4, '10.0.0.4', 'bob.d'), (5, '::1', 'bob.with spaces')]
    assert result['sessions'][0]['authorised_at'] == pytest.approx(base + 10, abs=0.002)
    assert sorted((g['id'], g['closed_by']) for g in result['gone']) == [(1, 'dropped'), (2, 'connector'),
                                                                         (3, 'connector')]
    assert result['refused'] == [] and result['signs_of_tampering'] == 0
    assert [s['id'] for s in ckpool_log.client_sessions(str(path), 'carol')['sessions']] == [6]
    assert ckpool_log.client_sessions(str(path), 'bo')['sessions'] == []
    for bad in ('', None, 5):
        with pytest.raises(ValueError):
            ckpool_log.client_sessions(str(path), bad)


def test_client_sessions_bound(tmp_path):
    base = int(time.time()) - 1000 + 0.25
    lines = ['%s Authorised client 1 10.0.0.1 worker bob.a as user bob' % local_stamp(base)]
    lines += ['%s filler %05d %s' % (local_stamp(base + 1), i, 'f' * 80) for i in range(3000)]
    lines.append('%s Authorised client 2 10.0.0.2 worker bob.b as user bob' % local_stamp(base + 2))
    path = tmp_path / 'ckpool.log'
    path.write_text('\n'.join(lines) + '\n')
    # Not read back to the process start: an older record could give id 2 to someone else.
    bounded = ckpool_log.client_sessions(str(path), 'bob', max_bytes=64 * 1024)
    assert bounded['sessions'] == []
    assert [(r['id'], r['reason']) for r in bounded['refused']] == [(2, 'log_incomplete')]
    assert bounded['bound_hit'] is True and bounded['complete'] is False
    assert bounded['bytes_read'] == 64 * 1024
    full = ckpool_log.client_sessions(str(path), 'bob')
    assert [s['id'] for s in full['sessions']] == [1, 2]
    assert full['bound_hit'] is False and full['complete'] is True
    # A process start inside the window makes a bounded read complete.
    since = ckpool_log.client_sessions(str(path), 'bob', since=base + 2.5, max_bytes=64 * 1024)
    assert [s['id'] for s in since['sessions']] == [2] and since['complete'] is True


def test_solved_blocks_from_capture(tmp_path):
    path = tmp_path / 'ckpool.log'
    shutil.copy(fixture_path('03_shares_and_blocks.log'), str(path))
    result = ckpool_log.solved_blocks(str(path))
    assert result['complete'] is True and result['bound_hit'] is False
    blocks = result['blocks']
    assert [b['height'] for b in blocks] == [105, 104, 103]
    for block in blocks:
        assert block['worker'] == 'testuser.rig1'
        assert block['user'] == 'testuser'
        assert block['accepted'] is True
        assert 'Solved and confirmed block %d by testuser.rig1' % block['height'] in block['line']
    assert blocks[0]['time'] == stamp_time('2026-11-24 06:24:36.359')
    assert blocks[2]['time'] == stamp_time('2026-11-24 06:15:36.207')
    limited = ckpool_log.solved_blocks(str(path), limit=2)
    assert [b['height'] for b in limited['blocks']] == [105, 104]
    assert all(b['accepted'] for b in limited['blocks'])
    assert limited['complete'] is True


def test_solved_blocks_variants_and_bound(tmp_path):
    base = int(time.time()) - 5000 + 0.25
    lines = [
        '%s BLOCK ACCEPTED!' % local_stamp(base),                                   # never confirmed
        '%s Solved and confirmed block 7' % local_stamp(base + 100),               # old format, no worker
        '%s BLOCK ACCEPTED!' % local_stamp(base + 200),
        '%s Solved and confirmed block 8 by .lead_x' % local_stamp(base + 201),
    ]
    lines += ['%s filler %s' % (local_stamp(base + 300), 'y' * 100)] * 2000
    path = tmp_path / 'ckpool.log'
    path.write_text('\n'.join(lines) + '\n')
    result = ckpool_log.solved_blocks(str(path))
    assert [(b['height'], b['worker'], b['user'], b['accepted']) for b in result['blocks']] == [
        (8, '.lead_x', 'lead_x', True), (7, None, None, False), (None, None, None, True)]
    assert result['complete'] is True
    bounded = ckpool_log.solved_blocks(str(path), max_bytes=32 * 1024)
    assert bounded['blocks'] == [] and bounded['bound_hit'] is True and bounded['complete'] is False
    with pytest.raises(ValueError):
        ckpool_log.solved_blocks(str(path), limit=0)


# ---------------------------------------------------------------------------
# ckpool.conf, /proc and discovery
# ---------------------------------------------------------------------------

def test_read_config(tmp_path):
    conf = tmp_path / 'ckpool.conf'
    conf.write_text('{\n "btcd": [{"url": "127.0.0.1:8332"}],\n "logdir": "/var/log/ckpool"\n}\n'
                    'Comments from here on are ignored.\n{ not json')
    assert process.read_config(str(conf)) == {'btcd': [{'url': '127.0.0.1:8332'}], 'logdir': '/var/log/ckpool'}
    conf.write_text('{\n "logdir": "x",\n "btcd": [\n}')
    with pytest.raises(safe_files.CkpoolFileError) as excinfo:
        process.read_config(str(conf))
    assert 'not valid JSON' in excinfo.value.reason and 'line 4' in excinfo.value.reason
    conf.write_text('["a"]')
    with pytest.raises(safe_files.CkpoolFileError):
        process.read_config(str(conf))
    with pytest.raises(safe_files.CkpoolFileMissing):
        process.read_config(str(tmp_path / 'none.conf'))


@pytest.mark.parametrize('config,expected', [
    ({}, '/srv/pool/logs'),
    ({'logdir': 'mylogs'}, '/srv/pool/mylogs'),
    ({'logdir': 'mylogs/'}, '/srv/pool/mylogs'),
    ({'logdir': '/var/log/ckpool'}, '/var/log/ckpool'),
    ({'logdir': 5}, '/srv/pool/logs'),
    ({'logdir': ''}, '/srv/pool/logs'),
])
def test_config_logdir(config, expected):
    assert process.config_logdir(config, '/srv/pool') == expected


@pytest.mark.parametrize('args,expected', [
    ([], {'config': None, 'name': None, 'sockdir': None, 'mode': 'pool'}),
    (['-c', 'a.conf'], {'config': 'a.conf'}),
    (['-ca.conf'], {'config': 'a.conf'}),
    (['--config', 'a.conf'], {'config': 'a.conf'}),
    (['--config=a.conf'], {'config': 'a.conf'}),
    (['--conf=a.conf'], {'config': 'a.conf'}),
    (['-kc', 'a.conf', '-H'], {'config': 'a.conf'}),
    (['-l', '7', '-n', 'pool2', '-s', '/run/p2'], {'name': 'pool2', 'sockdir': '/run/p2', 'config': None}),
    (['--name=pool2', '--sockdir', '/run/p2', '-p'], {'name': 'pool2', 'sockdir': '/run/p2', 'mode': 'proxy'}),
    (['-P'], {'mode': 'passthrough'}),
    (['-R'], {'mode': 'redirector'}),
    (['-N'], {'mode': 'node'}),
    (['-l', '-c'], {'config': None}),   # "-c" is the value of -l here
    (['--sim-users', '5', '--sim-fault=hang', '-c', 'x.conf'], {'config': 'x.conf'}),   # unknown: skipped
    (['/opt/sim.py', '-B', 'stray', '-n', 'solo1'], {'mode': 'solo', 'name': 'solo1'}),   # non-options skipped
    (['-B'], {'mode': 'solo', 'name': None}),
    (['-u'], {'mode': 'userproxy'}),
    (['-p', '-N'], {'mode': 'node'}),   # ckpool's own precedence
    (['--', '-c', 'x.conf'], {'config': None}),   # "--" ends the options
    (['--na', 'x'], {'name': 'x'}),   # unambiguous prefix
    (['--p'], {'mode': 'pool'}),   # ambiguous prefix (passthrough, proxy): ignored like getopt's "?"
    (['--quiet=1'], {'mode': 'pool'}),   # a flag given a value is an error: ignored
    (['-c'], {'config': None}),
])
def test_parse_ckpool_args(args, expected):
    parsed = process.parse_ckpool_args(args)
    for key, value in expected.items():
        assert parsed[key] == value, key


def test_ckproxy_program_name_is_proxy_mode_and_default_names():
    # ckpool.c main(): basename(argv[0]) == "ckproxy" sets proxy mode.
    assert process.parse_ckpool_args([], argv0='/usr/local/bin/ckproxy')['mode'] == 'proxy'
    assert process.parse_ckpool_args([], argv0='/usr/local/bin/ckpool')['mode'] == 'pool'
    expected = {'pool': 'ckpool', 'solo': 'ckpool', 'proxy': 'ckproxy', 'userproxy': 'ckproxy',
                'passthrough': 'ckpassthrough', 'node': 'cknode', 'redirector': 'ckredirector'}
    for mode, name in expected.items():
        assert process.default_name(mode) == name
    owner = {'pid': 1, 'cmdline': ['ckpool', '-B', '-s', 'run'], 'cwd': '/srv/solo'}
    described = process.describe_instance(owner, None)
    assert (described['name'], described['mode'], described['sockdir'], described['config']) == (
        'ckpool', 'solo', '/srv/solo/run', '/srv/solo/ckpool.conf')


def test_process_info_self():
    info = process.process_info(os.getpid())
    with open('/proc/self/cmdline', 'rb') as handle:
        cmdline = handle.read().split(b'\0')[:-1]
    assert info['cmdline'] == [arg.decode() for arg in cmdline]
    assert info['cwd'] == os.getcwd()
    assert os.path.realpath(info['exe']) == os.path.realpath(sys.executable)
    assert info['ppid'] == os.getppid()
    assert info['uid'] == os.getuid()
    assert info['state'] in ('R', 'S')
    assert info['start_time'] <= time.time() + 1
    assert isinstance(info['start_ticks'], int)
    assert process.same_process(info) is True


def test_process_info_missing_pid():
    with open('/proc/sys/kernel/pid_max') as handle:
        pid_max = int(handle.read())
    if pid_max < process.MAX_PID:
        assert process.process_info(pid_max + 1) is None
    with pytest.raises(safe_files.CkpoolFileMissing):
        process.discover_instance(process.MAX_PID)
    for bad in (0, -1, process.MAX_PID + 1, 10 ** 20, True, '12'):
        with pytest.raises(ValueError):
            process.process_info(bad)


class Child(object):
    """A real child process, killed and reaped at exit."""

    def __init__(self, argv, cwd):
        self.started = time.time()
        self.proc = subprocess.Popen(argv, cwd=cwd)
        deadline = time.monotonic() + 10
        # Wait until exec() is done (cmdline shows the new program).
        while time.monotonic() < deadline:
            info = process.process_info(self.proc.pid)
            if info and info['cmdline'] and info['cmdline'][:len(argv)] == argv:
                break
            time.sleep(0.01)

    def __enter__(self):
        return self.proc

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def sleeper_script(tmp_path, name):
    script = tmp_path / name
    script.write_text('import time\ntime.sleep(60)\n')
    return str(script)


def test_discover_instance_forms(tmp_path):
    script = sleeper_script(tmp_path, 'ckpool_sim.py')
    (tmp_path / 'etc').mkdir()
    (tmp_path / 'etc' / 'pool.conf').write_text('{"logdir": "varlog"}\nComments from here on are ignored.')
    (tmp_path / 'ckpool.conf').write_text('{"logdir": "/var/log/ckpool"}')
    (tmp_path / 'p2.conf').write_text('{"serverurl": "127.0.0.1:3334"}')
    cases = [
        (['-c', 'etc/pool.conf'], str(tmp_path / 'etc' / 'pool.conf'), str(tmp_path / 'varlog'), 'argument'),
        (['-cetc/pool.conf'], str(tmp_path / 'etc' / 'pool.conf'), str(tmp_path / 'varlog'), 'argument'),
        (['--config=etc/pool.conf'], str(tmp_path / 'etc' / 'pool.conf'), str(tmp_path / 'varlog'), 'argument'),
        (['--config', str(tmp_path / 'etc' / 'pool.conf')], str(tmp_path / 'etc' / 'pool.conf'),
         str(tmp_path / 'varlog'), 'argument'),
        ([], str(tmp_path / 'ckpool.conf'), '/var/log/ckpool', 'default'),
        (['-n', 'p2', '-s', 'socks'], str(tmp_path / 'p2.conf'), str(tmp_path / 'logs'), 'default'),
    ]
    for args, config, logdir, source in cases:
        with Child([sys.executable, script] + args, str(tmp_path)) as proc:
            found = process.discover_instance(proc.pid)
            assert found['config'] == config, args
            assert found['config_source'] == source
            assert found['config_found'] is True
            assert found['log_dir'] == logdir, args
            assert process.discover_logdir(proc.pid) == logdir
            assert found['cwd'] == str(tmp_path)
    with Child([sys.executable, script, '-n', 'p2', '-s', 'socks'], str(tmp_path)) as proc:
        found = process.discover_instance(proc.pid)
        assert found['name'] == 'p2' and found['sockdir'] == str(tmp_path / 'socks')
        assert found['log_dir_source'] == 'default'
    # Proxy mode without a config file: ckpool runs on defaults (ckproxy.conf absent).
    with Child([sys.executable, script, '-p'], str(tmp_path)) as proc:
        found = process.discover_instance(proc.pid)
        assert found['config'] == str(tmp_path / 'ckproxy.conf')
        assert found['config_found'] is False
        assert found['log_dir'] == str(tmp_path / 'logs')
        assert found['sockdir'] == '/tmp/ckproxy'
    # An explicit config that does not exist is an error, as is an invalid one.
    with Child([sys.executable, script, '-c', 'missing.conf'], str(tmp_path)) as proc:
        with pytest.raises(safe_files.CkpoolFileMissing):
            process.discover_instance(proc.pid)
    (tmp_path / 'bad.conf').write_text('{"logdir": ')
    with Child([sys.executable, script, '-c', 'bad.conf'], str(tmp_path)) as proc:
        with pytest.raises(safe_files.CkpoolFileError):
            process.discover_instance(proc.pid)


def test_discover_instance_any_program_name(tmp_path):
    # Discovery reads ckpool's options from argv[1:] whatever the program is called: python -m form too.
    package = tmp_path / 'simpkg'
    package.mkdir()
    (package / '__init__.py').write_text('')
    (package / 'anything.py').write_text('import time\ntime.sleep(60)\n')
    (tmp_path / 'ckpool.conf').write_text('{"logdir": "L"}')
    with Child([sys.executable, '-m', 'simpkg.anything', '-k'], str(tmp_path)) as proc:
        assert process.discover_logdir(proc.pid) == str(tmp_path / 'L')


# ---------------------------------------------------------------------------
# Against the collection's simulator (a real process writing the same files)
# ---------------------------------------------------------------------------

def test_readers_against_simulator():
    from ansible_collections.ckpool.fleet.tests.simulator.fixture import SimPool

    with SimPool(users=3, workers_per_user=2, status_interval=1, block_every=1) as pool:
        logpath = os.path.join(pool.logdir, 'ckpool.log')
        deadline = time.monotonic() + 10
        while not os.path.exists(status_files.pool_status_path(pool.logdir)) and time.monotonic() < deadline:
            time.sleep(0.05)
        status = status_files.read_pool_status(pool.logdir)
        assert status['users'] == 3 and status['workers'] == 6
        assert status['stale'] is False
        assert all(isinstance(v, float) for v in status['hashrate'].values())
        # the user files are written by the same update as pool.status, one after the other: wait for the third
        deadline = time.monotonic() + 10
        users = status_files.read_users(pool.logdir)
        while users['total'] < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
            users = status_files.read_users(pool.logdir)
        assert users['errors'] == [] and users['total'] == 3
        assert len(status_files.flatten_workers(users['users'])) == 6

        # The process checks a shutdown module relies on: the simulator's own process holds the listener.
        info, why = process.prove_owner(pool.pid, pool.sockdir)
        assert info is not None, why
        assert process.same_process(info)
        found = process.discover_instance(pool.pid)
        assert found['log_dir'] == pool.logdir and found['sockdir'] == pool.sockdir
        assert found['config'] == pool.config_path

        # A miner authorises, solves a block (block_every=1), and is dropped.
        miner = pool.miner('alice.rig9')
        try:
            client_id = pool.client_id('alice.rig9')
            sessions = ckpool_log.client_sessions(logpath, 'alice', since=info['start_time'])
            assert [(s['id'], s['worker']) for s in sessions['sessions']] == [(client_id, 'alice.rig9')]
            assert sessions['complete'] is True
            miner.submit()
            pool.wait_for_log(r'Solved and confirmed block \d+ by alice\.rig9')
            blocks = ckpool_log.solved_blocks(logpath, limit=5)['blocks']
            assert blocks[0]['worker'] == 'alice.rig9' and blocks[0]['user'] == 'alice'
            assert blocks[0]['accepted'] is True and isinstance(blocks[0]['height'], int)
            pool.request('connector', 'dropclient=%d' % client_id)
            pool.wait_for_log(r'Dropped client %d ' % client_id)
            assert ckpool_log.client_sessions(logpath, 'alice', since=info['start_time'])['sessions'] == []
        finally:
            miner.close()
