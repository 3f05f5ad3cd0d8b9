# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fidelity replay: every command recorded from a real ckpool, replayed against the simulator.

Sources (copied from the shared reference into ./captures): step3_<socket>.jsonl (every
command on every socket), step3_variants.jsonl (case, prefix, framing variants),
step4_stats_with_clients.jsonl, step3_idle.jsonl (silent clients, 5 s timeouts).
The simulator must give the same outcome: same reply text, same JSON key sets, EOF where
ckpool closed without a reply, a hang where ckpool held the connection open.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time

import pytest

from ansible_collections.ckpool.fleet.tests.simulator.fixture import SimPool, exchange, frame

CAPTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'captures')


def load_jsonl(name):
    with open(os.path.join(CAPTURES, name)) as handle:
        return [json.loads(line) for line in handle if line.strip()]


STEP3 = [rec for name in ('step3_listener.jsonl', 'step3_stratifier.jsonl', 'step3_connector.jsonl',
                          'step3_generator.jsonl', 'step3_variants.jsonl', 'step4_stats_with_clients.jsonl')
         for rec in load_jsonl(name)]
HANG_DEADLINE = 0.5


def payload_for(rec):
    """The bytes the capture tool sent, and whether it shut down its write side."""
    command, note = rec['command'], rec.get('note', '')
    if command.startswith('<empty message'):
        return struct.pack('<I', 0), True
    if command.startswith('<100000 x'):
        return frame('a' * 100000), True
    if note.startswith("raw 'ping' bytes without length header"):
        return b'ping', True
    return frame(command), 'without shutdown' not in note


def key_tree(value):
    """The nested key structure of a JSON value (values ignored)."""
    if isinstance(value, dict):
        return {k: key_tree(v) for k, v in value.items()}
    return None


def expected_outcome(rec):
    outcome = rec['outcome']
    if outcome == 'reply':
        return 'reply'
    if outcome.startswith('no reply / EOF'):
        return 'eof'
    if outcome.startswith('no reply / timeout'):
        return 'timeout'
    if outcome == 'partial_eof':
        return 'partial'
    raise AssertionError('unknown capture outcome %r' % outcome)


def replay_one(pool, rec):
    """Replay one captured record on pool; returns a list of mismatch descriptions."""
    payload, shut_wr = payload_for(rec)
    want = expected_outcome(rec)
    timeout = HANG_DEADLINE if want == 'timeout' else 3.0
    got = exchange(pool.socket_path(rec['socket']), payload, timeout=timeout, shut_wr=shut_wr)
    label = '%s %r' % (rec['socket'], rec['command'][:60])
    if got.outcome != want:
        return ['%s: outcome %s, captured %s (%r)' % (label, got.outcome, want, got)]
    if want == 'reply':
        if rec['reply'].startswith('{'):
            if key_tree(json.loads(got.reply)) != key_tree(json.loads(rec['reply'])):
                return ['%s: JSON keys differ: %s' % (label, got.reply)]
        elif got.reply != rec['reply']:
            return ['%s: reply %r, captured %r' % (label, got.reply, rec['reply'])]
    if want == 'partial' and got.raw.hex() != rec['reply_raw_hex']:
        return ['%s: partial bytes %s, captured %s' % (label, got.raw.hex(), rec['reply_raw_hex'])]
    if want == 'timeout' and pool.request(rec['socket'], 'ping').reply != 'pong':
        # the listener keeps serving other clients while the JSON connection stays open
        return ['%s: socket stopped serving after the hang' % label]
    return []


@pytest.mark.parametrize('capture', ['step3_listener.jsonl', 'step3_stratifier.jsonl', 'step3_connector.jsonl',
                                     'step3_generator.jsonl', 'step3_variants.jsonl',
                                     'step4_stats_with_clients.jsonl'])
def test_replay_capture(make_sim, capture):
    """Every record of one capture file, in order, against one fresh simulator.

    (ansible-test runs each test in a forked child, so one simulator per test, not per module.)
    """
    pool = make_sim()
    records = load_jsonl(capture)
    assert records
    problems = []
    for rec in records:
        problems += replay_one(pool, rec)
    assert not problems, '\n'.join(problems)


def test_replay_is_logged():
    """Every replayed command reaches the command log with the matching outcome."""
    pool = SimPool().start()
    try:
        expected = []
        for rec in STEP3:
            payload, shut_wr = payload_for(rec)
            want = expected_outcome(rec)
            exchange(pool.socket_path(rec['socket']), payload, timeout=0.3 if want == 'timeout' else 3.0,
                     shut_wr=shut_wr)
            if rec['command'].startswith('<empty') or payload == b'ping':
                continue        # framing errors are logged with command null
            command = 'a' * 100000 if rec['command'].startswith('<100000') else rec['command']
            logged = {'reply': 'reply', 'eof': 'eof', 'timeout': 'hang', 'partial': 'fd'}[want]
            expected.append((rec['socket'], command, logged))
        entries = pool.commands()
        assert {'t', 'pid', 'socket', 'command', 'reply', 'outcome'} <= set(entries[0])
        got = [(e['socket'], e['command'], e['outcome']) for e in entries if e['command'] is not None]
        assert got == expected
        framing = [e for e in entries if e['command'] is None]
        assert sorted(e['error'] for e in framing) == sorted(['invalid_length'] * 5)
    finally:
        pool.stop()


def test_getbase_matches_capture_keys(sim):
    with open(os.path.join(CAPTURES, 'generator_getbase.txt')) as handle:
        text = handle.read()
    captured = text.split('Received response: ', 1)[1].split('\n--- stderr', 1)[0].replace('\n', '')
    assert list(sim.json('generator', 'getbase')) == list(json.loads(captured))


IDLE = load_jsonl('step3_idle.jsonl')


def run_idle_case(pool, rec):
    """Reproduce one step3_idle.jsonl test on pool; returns (outcome, reply, ms)."""
    path = pool.socket_path(rec['socket'])
    test = rec['test']
    if test.startswith('ping sent 0.5 s after'):
        results = {}

        def silent():
            results['idle'] = exchange(path, b'', timeout=8.0, shut_wr=False)
        thread = threading.Thread(target=silent)
        thread.start()
        time.sleep(0.5)
        ping = exchange(path, frame('ping'), timeout=8.0)
        thread.join(10)
        return ping, results['idle']
    if test.startswith('connect, send nothing, keep'):
        return exchange(path, b'', timeout=8.0, shut_wr=False), None
    if test.startswith('connect, send nothing, shutdown'):
        return exchange(path, b'', timeout=8.0, shut_wr=True), None
    if test.startswith('send 4-byte header (len=4) only'):
        return exchange(path, struct.pack('<I', 4), timeout=8.0, shut_wr=False), None
    if test.startswith('send header len=10 + 4 body bytes'):
        return exchange(path, struct.pack('<I', 10) + b'ping', timeout=8.0, shut_wr=True), None
    raise AssertionError('unknown idle test %r' % test)


def check_result(got, outcome, reply, ms):
    want = 'reply' if reply is not None else 'eof'
    assert got.outcome == want, got
    if reply is not None:
        assert got.reply == reply
    if ms > 1000:   # the 5 s idle timeout (observed 4.5-6.0 s including queueing)
        assert ms - 1500 <= got.ms <= ms + 1500, (got, ms)
    else:
        assert got.ms < 1000, got


def test_idle_clients_and_one_client_at_a_time():
    """All 20 idle cases of step3_idle.jsonl, run concurrently on 5 simulators (one per case kind).

    Each socket serves one client at a time: a ping sent 0.5 s after a silent client is
    answered only when the silent one times out (~4.5 s later).
    """
    kinds = sorted({r['test'] for r in IDLE})
    pools = {kind: SimPool().start() for kind in kinds}
    try:
        results = {}

        def worker(index, rec):
            results[index] = run_idle_case(pools[rec['test']], rec)
        threads = [threading.Thread(target=worker, args=(i, r)) for i, r in enumerate(IDLE)]
        start = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        assert time.monotonic() - start < 15
        for index, rec in enumerate(IDLE):
            got, idle = results[index]
            if 'ping_outcome' in rec:
                check_result(got, rec['ping_outcome'], rec['ping_reply'], rec['ping_ms'])
                res = rec['idle_client_result']
                check_result(idle, res['outcome'], res['reply'], res['ms_until_outcome'])
            else:
                check_result(got, rec['outcome'], rec['reply'], rec['ms_until_outcome'])
    finally:
        for pool in pools.values():
            pool.stop()


def test_listener_json_hang_leaks_but_listener_serves_others(sim):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(2)
    sock.connect(sim.socket_path('listener'))
    sock.sendall(frame('{"method":"stats","params":[]}'))
    try:
        assert sim.request('listener', 'ping').reply == 'pong'
        sock.settimeout(0.5)
        with pytest.raises(socket.timeout):
            sock.recv(10)   # neither a reply nor EOF: held open
    finally:
        sock.close()
    entry = [e for e in sim.commands() if (e['command'] or '').startswith('{')]
    assert [e['outcome'] for e in entry] == ['hang']


def test_slow_connector_answers_on_5s_boundaries(make_sim):
    pool = make_sim(slow_connector=True)
    started = pool.state()['started']
    phase = (time.time() - started) % 5.0
    if phase > 4.0:                       # keep clear of a boundary: the wait must be >= 1 s
        time.sleep(5.0 - phase + 0.1)
    expected = 5.0 - (time.time() - started) % 5.0
    got = pool.request('connector', 'ping', timeout=7.0)
    assert got.reply == 'pong'
    # answered at the next boundary: not before it, and not much after (a loaded machine adds latency)
    assert expected - 0.1 <= got.ms / 1000.0 <= expected + 1.0, (got, expected)
    # framing errors are refused by the receiver at once, not on a boundary
    assert pool.raw('connector', struct.pack('<I', 0)).ms < 500
    # the listener's connectorstats does not go through the slow path
    assert pool.request('listener', 'connectorstats', timeout=1.0).outcome == 'reply'
