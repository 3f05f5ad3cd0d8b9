# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files below log_dir: FIFOs never block a read, links below the root are never followed,
every file is a regular file, sizes are bounded with a message naming the limit."""

import os
import socket
import time

import pytest

from ansible_collections.ckpool.fleet.plugins.module_utils import ckpool_log, safe_files, status_files

USER = b'{"hashrate1m": "1", "hashrate5m": "1", "hashrate1hr": "1", "hashrate1d": "1", "hashrate7d": "1", ' \
       b'"worker": []}'
STATUS = (b'{"runtime": 1, "lastupdate": 1, "Users": 0, "Workers": 0, "Idle": 0, "Disconnected": 0}\n'
          b'{"hashrate1m": "0", "hashrate5m": "0", "hashrate15m": "0", "hashrate1hr": "0", "hashrate6hr": "0", '
          b'"hashrate1d": "0", "hashrate7d": "0"}\n'
          b'{"diff": 0.0, "accepted": 0, "rejected": 0, "bestshare": 0, "SPS1m": 0.0, "SPS5m": 0.0, '
          b'"SPS15m": 0.0, "SPS1h": 0.0}\n')


@pytest.fixture
def logdir(tmp_path):
    root = tmp_path / 'logs'
    (root / 'users').mkdir(parents=True)
    (root / 'pool').mkdir()
    (root / 'users' / 'alice').write_bytes(USER)
    (root / 'pool' / 'pool.status').write_bytes(STATUS)
    (root / 'ckpool.log').write_text('[2026-11-24 06:08:44.992] Authorised client 9 1.2.3.4 worker a.b as user a\n')
    secret = tmp_path / 'secret'
    secret.mkdir()
    (secret / 'root_only').write_bytes(USER)
    (secret / 'pool.status').write_bytes(STATUS)
    return root


def quick(func, *args, **kwargs):
    """Call func, which must not block: fails the test if it takes a second."""
    started = time.monotonic()
    try:
        return func(*args, **kwargs)
    finally:
        assert time.monotonic() - started < 1.0


@pytest.mark.parametrize('victim', ['users/alice', 'pool/pool.status', 'ckpool.log'])
def test_fifo_in_place_of_a_file_fails_at_once(logdir, victim):
    os.unlink(str(logdir / victim))
    os.mkfifo(str(logdir / victim))
    with pytest.raises(safe_files.CkpoolFileError) as info:
        if victim == 'users/alice':
            quick(status_files.read_user, str(logdir), 'alice')
        elif victim == 'pool/pool.status':
            quick(status_files.read_pool_status, str(logdir))
        else:
            quick(ckpool_log.tail_lines, str(logdir / victim))
    assert 'FIFO' in info.value.reason and 'not a regular file' in info.value.reason


def test_fifo_user_file_is_reported_per_user_not_fatal(logdir):
    os.mkfifo(str(logdir / 'users' / 'bob'))
    result = quick(status_files.read_users, str(logdir), ['*'])
    # a FIFO is not a regular file: not even listed as a user
    assert [u['name'] for u in result['users']] == ['alice'] and result['errors'] == []
    result = quick(status_files.read_users, str(logdir), ['bob'])
    assert result['users'] == [] and result['missing'] == ['bob']


def test_socket_and_directory_in_place_of_a_file(logdir):
    os.unlink(str(logdir / 'pool' / 'pool.status'))
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(logdir / 'pool' / 'pool.status'))
    try:
        with pytest.raises(safe_files.CkpoolFileError) as info:
            quick(status_files.read_pool_status, str(logdir))
        assert info.value.reason == 'is a socket, not a regular file'
    finally:
        server.close()
    os.unlink(str(logdir / 'pool' / 'pool.status'))
    os.mkdir(str(logdir / 'pool' / 'pool.status'))
    with pytest.raises(safe_files.CkpoolFileError) as info:
        status_files.read_pool_status(str(logdir))
    assert 'directory' in info.value.reason


@pytest.mark.parametrize('link, target', [
    ('users', 'secret'),                # users/ itself replaced by a link to a root-only directory
    ('pool', 'secret'),                 # pool/ replaced
    ('users/evil', 'secret/root_only'),  # one user file
    ('ckpool.log', 'secret/root_only'),  # the log
])
def test_links_below_the_root_are_never_followed(logdir, tmp_path, link, target):
    path = logdir / link
    if path.is_dir():
        for child in path.iterdir():
            child.unlink()
        path.rmdir()
    elif path.exists():
        path.unlink()
    os.symlink(str(tmp_path / target), str(path))
    with pytest.raises(safe_files.CkpoolFileError) as info:
        if link == 'users':
            status_files.read_users(str(logdir), ['*'])
        elif link == 'pool':
            status_files.read_pool_status(str(logdir))
        elif link == 'users/evil':
            status_files.read_user(str(logdir), 'evil')
        else:
            list(ckpool_log.ReverseLineReader(
                str(path), opener=lambda: safe_files.open_file_below(str(logdir), ['ckpool.log'])[0]))
    assert 'symbolic link' in info.value.reason
    if link == 'users/evil':
        # listing skips it: it is not a regular file of users/
        assert status_files.list_users(str(logdir)) == ['alice']


def test_link_inside_the_root_is_refused_too(logdir):
    # Even a link that stays inside the log directory: ckpool creates none, so none is followed.
    os.symlink('alice', str(logdir / 'users' / 'alias'))
    with pytest.raises(safe_files.CkpoolFileError):
        status_files.read_user(str(logdir), 'alias')


def test_the_root_itself_may_be_a_link(logdir, tmp_path):
    # The operator's choice (e.g. /var/log/ckpool -> /data/ckpool): followed.
    os.symlink(str(logdir), str(tmp_path / 'link'))
    assert status_files.read_user(str(tmp_path / 'link'), 'alice')['hashrate']['1m'] == 1.0
    assert status_files.read_pool_status(str(tmp_path / 'link'))['users'] == 0


def test_size_limit_names_the_limit_and_the_file_kind(logdir, monkeypatch):
    monkeypatch.setattr(status_files, 'MAX_USER_FILE_BYTES', 100)
    (logdir / 'users' / 'big').write_bytes(b' ' * 101 + USER)
    with pytest.raises(safe_files.CkpoolFileError) as info:
        status_files.read_user(str(logdir), 'big')
    assert info.value.reason == 'larger than 100 bytes, the limit for a user file'
    assert 'status' not in info.value.reason


def test_listing_without_scandir_on_a_descriptor(logdir, monkeypatch):
    # Python 3.6 cannot scandir() a descriptor: the listdir + lstat path gives the same answer.
    (logdir / 'users' / 'bob').write_bytes(USER)
    os.mkfifo(str(logdir / 'users' / 'fifo'))
    os.symlink('bob', str(logdir / 'users' / 'link'))
    expected = status_files.list_users(str(logdir))
    monkeypatch.setattr(safe_files.os, 'supports_fd', set())
    assert status_files.list_users(str(logdir)) == expected == ['alice', 'bob']


def test_unsafe_components_are_refused(logdir):
    for parts in (['..', 'x'], ['a/b'], [''], ['.']):
        with pytest.raises(ValueError):
            safe_files.open_file_below(str(logdir), parts)


def test_read_small_file_by_path_checks_regular(tmp_path):
    fifo = tmp_path / 'conf'
    os.mkfifo(str(fifo))
    with pytest.raises(safe_files.CkpoolFileError) as info:
        quick(safe_files.read_small_file, str(fifo), 100, what='a ckpool configuration file')
    assert 'FIFO' in info.value.reason
