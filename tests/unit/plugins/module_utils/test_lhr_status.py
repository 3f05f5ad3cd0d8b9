# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ckpool-lhr fork's status files (captures/lhr/, PROTOCOL.md "The ckpool-lhr fork") through the
collection's readers: extra keys returned, fractional values kept, hashrates below 1 H/s parsed."""

from __future__ import absolute_import, division, print_function

import json
import os

import pytest

from ansible_collections.ckpool.fleet.plugins.module_utils import status_files
from ansible_collections.ckpool.fleet.plugins.module_utils.safe_files import CkpoolFileError

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'lhr')


def logdir_with(tmp_path, status=None, users=None):
    (tmp_path / 'pool').mkdir()
    (tmp_path / 'users').mkdir()
    if status is not None:
        (tmp_path / 'pool' / 'pool.status').write_text(status)
    for name, text in (users or {}).items():
        (tmp_path / 'users' / name).write_text(text)
    return str(tmp_path)


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def test_captured_pool_status(tmp_path):
    pool = status_files.read_pool_status(logdir_with(tmp_path, fixture('pool.status')), now=1796163272)
    assert pool['users'] == 1 and pool['workers'] == 1
    assert pool['netdiff'] == 1.0
    assert pool['accepted_count'] == 88 and pool['rejected_count'] == 0
    assert pool['accepted'] == 0.164 and isinstance(pool['accepted'], float)   # fractional, not truncated
    assert pool['user_agents'] == [{'ua': 'NerdMiner', 'devices': 1, 'hashrate5m': 961000.0,
                                    'hashrate5m_raw': '961K', 'bestshare': 0.024435083716245167}]
    assert pool['hashrate']['1m'] == 4320000.0


def test_upstream_pool_status_has_no_lhr_keys(tmp_path):
    with open(os.path.join(os.path.dirname(__file__), 'fixtures', 'ckpool_files', 'pool.status')) as handle:
        text = handle.read()
    pool = status_files.read_pool_status(logdir_with(tmp_path, text))
    assert [pool[k] for k in ('netdiff', 'accepted_count', 'rejected_count', 'user_agents')] == [None] * 4


def test_captured_user_file(tmp_path):
    logdir = logdir_with(tmp_path, users={'dave': fixture('users_dave')})
    user = status_files.read_user(logdir, 'dave')
    assert user['shares'] == 1.572999999999992 and user['bestshare'] == 1.224988885422807
    worker = user['worker'][0]
    assert worker['workername'] == 'dave.lhr1'
    assert worker['started'] == 1796163153 and worker['useragent'] == 'NerdMiner/1.0'
    workers = status_files.flatten_workers([user])
    assert workers[0]['useragent'] == 'NerdMiner/1.0' and workers[0]['user'] == 'dave'


def test_idle_low_hashrate_user_below_one_hs(tmp_path):
    """An idle NerdMiner's decayed averages: "500m", "2.5u", "3n" (was "not a complete user file")."""
    record = json.loads(fixture('users_dave'))
    record.update({'hashrate1m': '3n', 'hashrate5m': '2.5u', 'hashrate1hr': '500m'})
    record['worker'][0].update({'hashrate1m': '3n', 'hashrate5m': '2.5u', 'hashrate1hr': '500m', 'hashrate1d': '1.5'})
    logdir = logdir_with(tmp_path, users={'dave': json.dumps(record, indent=1)})
    user = status_files.read_user(logdir, 'dave')
    assert user['hashrate']['1m'] == 3e-9 and user['hashrate']['5m'] == 2.5e-6 and user['hashrate']['1hr'] == 0.5
    assert user['worker'][0]['hashrate']['1d'] == 1.5
    assert user['worker'][0]['hashrate_raw']['1hr'] == '500m'


@pytest.mark.parametrize('bad', ['"NerdMiner"', '[1, 2]', '[{"ua": "x", "hashrate5m": "5X"}]'])
def test_malformed_user_agents_are_not_a_status(tmp_path, bad):
    lines = fixture('pool.status').splitlines()
    first = json.loads(lines[0])
    first['UserAgents'] = json.loads(bad)
    lines[0] = json.dumps(first)
    with pytest.raises(CkpoolFileError, match='UserAgents'):
        status_files.read_pool_status(logdir_with(tmp_path, '\n'.join(lines) + '\n'), retries=0)


def test_user_agents_absent_when_no_client_sent_one(tmp_path):
    lines = fixture('pool.status').splitlines()
    first = json.loads(lines[0])
    del first['UserAgents']
    lines[0] = json.dumps(first)
    pool = status_files.read_pool_status(logdir_with(tmp_path, '\n'.join(lines) + '\n'))
    assert pool['user_agents'] is None and pool['netdiff'] == 1.0
