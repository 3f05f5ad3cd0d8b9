# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Miner-visible effects of control commands (PROTOCOL.md table, captures/02_*, 03_*,
reconnect_redirect.txt, stratum_transcript.jsonl)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time

import pytest

from ansible_collections.ckpool.fleet.tests.simulator.fixture import MINER_SCRIPT, StratumClient, StratumEOF

STAMP = r'^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] '


def test_subscribe_authorise_submit_messages(sim):
    miner = StratumClient('127.0.0.1', sim.stratum_port)
    reply = miner.subscribe()
    assert re.fullmatch(r'\{"result":\[\[\["mining.notify","[0-9a-f]{8}"\]\],"[0-9a-f]{8}",8\],"id":1,"error":null\}',
                        miner.raw[0])
    sid = json.loads(miner.raw[0])['result'][0][0][1]
    assert reply['result'][1] == bytes.fromhex(sid)[::-1].hex()          # enonce1 = session id, byte-swapped
    assert miner.raw[1] == '{"params":[1],"id":null,"method":"mining.set_difficulty"}'
    notify = json.loads(miner.raw[2])
    assert list(notify) == ['params', 'id', 'method'] and notify['params'][8] is True
    assert len(notify['params']) == 9 and notify['params'][5:7] == ['20000000', '207fffff']
    assert miner.authorize('alice.rig1')
    assert miner.raw[3] == '{"result":true,"error":null,"id":2}'
    assert miner.submit() == {'result': True, 'error': None, 'id': 3}
    assert miner.submit(nonce='00000000') == {'reject-reason': 'Above target', 'result': False, 'error': None,
                                              'id': 4}
    line = sim.wait_for_log(r'Authorised client \d+ 127\.0\.0\.1 worker alice\.rig1 as user alice$')
    assert re.match(STAMP, line)


def test_connector_dropclient_closes_tcp(sim):
    miner = sim.miner('alice.rig1')
    other = sim.miner('bob.rig1')
    cid = sim.client_id('alice.rig1')
    before = sim.json('connector', 'stats')['clients']['count']
    assert sim.request('connector', 'dropclient=%d' % cid).outcome == 'eof'
    assert miner.wait_eof(1.0)
    assert sim.json('connector', 'stats')['clients']['count'] == before - 1
    assert not other.wait_eof(0.2)
    sim.wait_for_log(r'Dropped client %d 127\.0\.0\.1 user alice worker alice\.rig1 $' % cid)


def test_stratifier_dropclient_keeps_tcp_until_next_submit(make_sim):
    sim = make_sim(loglevel=7)
    miner = sim.miner('alice.rig1')
    cid = sim.client_id('alice.rig1')
    assert sim.request('stratifier', 'dropclient=%d' % cid).outcome == 'eof'
    sim.wait_for_log(r'Dropped client %d 127\.0\.0\.1 user alice worker alice\.rig1 $' % cid)
    assert not miner.wait_eof(0.5)             # TCP stays open
    msgid = miner.send('mining.submit', ['alice.rig1', miner.job[0], '0' * 16, miner.job[7], '12345678'])
    with pytest.raises(StratumEOF):
        miner.response(msgid, timeout=3.0)   # no answer; the connector closes it ~1 s later
    sim.wait_for_log(r'Dropping mining.submit from unsubscribed client %d 127\.0\.0\.1' % cid)


def test_dropall_closes_everyone_with_one_line(sim):
    miners = [sim.miner('alice.rig1'), sim.miner('bob.rig1')]
    assert sim.request('stratifier', 'dropall').outcome == 'eof'
    assert all(m.wait_eof(1.0) for m in miners)
    log = sim.log_lines()
    assert any(line.endswith('] Dropped 2 instances for dropall request') for line in log)
    assert not any('] Dropped client' in line for line in log)
    assert sim.request('listener', 'dropall').reply == 'unknown'


@pytest.mark.parametrize('command,params', [
    ('reconnect:backup.example,4444', '["backup.example","4444",0]'),
    ('reconnect', '[]'),
])
def test_reconnect_exact_json(make_sim, command, params):
    sim = make_sim(loglevel=7)
    miners = [sim.miner('alice.rig1'), sim.miner('bob.rig1')]
    assert sim.request('listener', command).reply == 'reconnecting'
    for miner in miners:
        miner.wait_for(lambda m: m.get('method') == 'client.reconnect', 2.0)
        assert '{"id":null,"method":"client.reconnect","params":%s}' % params in miner.raw
        assert not miner.eof
    # the stratifier gives the same effect without a reply
    assert sim.request('stratifier', command).outcome == 'eof'
    miners[0].wait_for(lambda m: m.get('method') == 'client.reconnect', 2.0,
                       since=len(miners[0].received))
    sim.wait_for_log(r'Stratifier received request: %s$' % re.escape(command))


def test_reject_backlogs_new_miners_until_accept(sim):
    old = sim.miner('alice.rig1')
    assert sim.request('listener', 'reject').reply == 'rejecting'
    late = socket.create_connection(('127.0.0.1', sim.stratum_port), timeout=2)   # the kernel accepts
    late.sendall(b'{"id": 1, "method": "mining.subscribe", "params": []}\n')
    late.settimeout(0.7)
    with pytest.raises(socket.timeout):
        late.recv(100)                          # but ckpool does not serve it
    assert old.submit()['result'] is True       # existing miners keep working
    assert sim.request('listener', 'accept').reply == 'accepting'
    late.settimeout(2)
    assert late.recv(200).startswith(b'{"result":[[["mining.notify"')
    late.close()
    # the connector toggles too; the stratifier's reject does nothing
    assert sim.request('connector', 'reject').outcome == 'eof'
    probe = socket.create_connection(('127.0.0.1', sim.stratum_port), timeout=2)
    probe.sendall(b'{"id": 1, "method": "mining.subscribe", "params": []}\n')
    probe.settimeout(0.5)
    with pytest.raises(socket.timeout):
        probe.recv(100)
    assert sim.request('stratifier', 'accept').outcome == 'eof'
    with pytest.raises(socket.timeout):
        probe.recv(100)
    assert sim.request('connector', 'accept').outcome == 'eof'
    probe.settimeout(2)
    assert probe.recv(200).startswith(b'{"result"')
    probe.close()


def test_getuser_creates_user_record(sim):
    assert sim.json('stratifier', 'stats')['users']['count'] == 0
    assert sim.request('stratifier', 'getuser={"user":"newbie"}').outcome == 'eof'
    assert sim.json('stratifier', 'stats')['users']['count'] == 1
    assert sim.request('stratifier', 'userclients={"user":"other"}').outcome == 'eof'
    assert sim.json('listener', 'stratifierstats')['users']['count'] == 2
    # getuser on the listener is just unknown and creates nothing
    assert sim.request('listener', 'getuser={"user":"third"}').reply == 'unknown'
    assert sim.json('stratifier', 'stats')['users']['count'] == 2
    assert not os.path.exists(os.path.join(sim.logdir, 'users', 'newbie'))


def test_log_levels(sim):
    first = sim.miner('alice.rig1')
    sim.wait_for_log('Authorised client')
    assert not any('Connected new client' in line for line in sim.log_lines())
    assert sim.request('listener', 'loglevel=6').reply == 'success'
    second = sim.miner('bob.rig1')
    assert not first.eof and not second.eof
    line = sim.wait_for_log(r'Connected new client 1 on socket \d+ to 1 active clients from 127\.0\.0\.1:\d+$')
    assert re.match(STAMP, line)
    # other sockets set the level with no range check and no reply
    assert sim.request('stratifier', 'loglevel=99').outcome == 'eof'
    assert sim.request('listener', 'loglevel=99').reply == 'Invalid'
    sim.wait_for_log('Invalid loglevel 99 sent')


def test_blocks_and_generator(make_sim):
    sim = make_sim(block_every=3)
    assert sim.request('generator', 'getbest').reply == sim.request('generator', 'getlast').reply
    base = sim.json('generator', 'getbase')
    miner = sim.miner('alice.rig1')
    assert miner.submit(nonce='b10cb10c')['result'] is True
    line = sim.wait_for_log(r'Solved and confirmed block %d by alice\.rig1$' % base['height'])
    assert re.match(STAMP, line)
    assert any(line.endswith('] BLOCK ACCEPTED!') for line in sim.log_lines())
    best = sim.request('generator', 'getbest').reply
    assert best != base['previousblockhash'] and best.startswith('00000000')
    assert sim.json('generator', 'getbase')['height'] == base['height'] + 1
    # new work with clean_jobs after the block
    miner.wait_for(lambda m: m.get('method') == 'mining.notify' and m['params'][8] is True, 2, since=3)
    for _attempt in range(3):
        assert miner.submit()['result'] is True
    sim.wait_for_log(r'Solved and confirmed block %d by alice\.rig1$' % (base['height'] + 1))


def test_resetshares(make_sim):
    sim = make_sim(loglevel=7)
    assert sim.request('listener', 'resetshares').reply == 'resetting'
    sim.wait_for_log('Resetting best shares')
    assert sim.request('stratifier', 'resetshares').outcome == 'eof'


def test_miner_cli_prints_json_lines(sim):
    proc = subprocess.run([sys.executable, MINER_SCRIPT, '--port', str(sim.stratum_port), '--connections', '2',
                           '--user', 'carol', '--interval', '0.3', '--duration', '1.5'],
                          capture_output=True, text=True, timeout=20, check=True)
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    workers = sorted(e['worker'] for e in events if e['event'] == 'connected')
    assert workers == ['carol.rig1', 'carol.rig2']
    accepted = [e for e in events if e['event'] == 'recv' and e['line'].startswith('{"result":true') and
                '"id":2' not in e['line']]
    assert len(accepted) >= 4
    assert events[-1]['event'] == 'done'
    time.sleep(0.2)
    assert sim.json('connector', 'stats')['clients']['count'] == 0
