# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ckpool_control run in-process (patch_module_args) against real AF_UNIX servers.

The listener below answers the control verbs exactly as PROTOCOL.md records for
upstream ckpool (case-insensitive prefix match; ``dropall`` -> ``unknown``); the
stratifier closes every connection without a reply.  Each server records what it
received, so the tests see the exact bytes the module put on the wire.
"""


import os
import socket
import subprocess
import sys
import time

import pytest

from ansible_collections.ckpool.fleet.plugins.modules import ckpool_control
from ansible_collections.ckpool.fleet.tests.unit.plugins.unix_server import Server, eof, hang, send_frame
from ansible_collections.ckpool.fleet.tests.unit.plugins.unix_server import reply as answer


LISTENER_REPLIES = (
    ('accept', 'accepting'),
    ('reject', 'rejecting'),
    ('reconnect', 'reconnecting'),
    ('resetshares', 'resetting'),
    ('ping', 'pong'),
)


def ckpool_listener(conn, message):
    for word, answer in LISTENER_REPLIES:
        if message.lower().startswith(word):
            send_frame(conn, answer)
            return None
    send_frame(conn, 'unknown')
    return None


@pytest.fixture
def pool(tmp_path):
    """A socket directory with main.pid (this live process) and ckpool-like listener/stratifier."""
    sockdir = tmp_path / 'ckpool'
    sockdir.mkdir()
    servers = {}

    class Pool:
        path = str(sockdir)

        def serve(self, name, behaviour):
            if name in servers:
                servers.pop(name).close()
                os.unlink(os.path.join(self.path, name))
            servers[name] = Server(os.path.join(self.path, name), behaviour)
            return servers[name]

        def received(self):
            return dict((name, list(server.received)) for name, server in servers.items())

        def close(self, name):
            """Stop serving ``name`` but leave its socket file (a stale socket refuses connections)."""
            servers.pop(name).close()

        def write_pid(self, pid):
            with open(os.path.join(self.path, 'main.pid'), 'w') as handle:
                handle.write(str(pid))

    p = Pool()
    p.write_pid(os.getpid())
    p.serve('listener', ckpool_listener)
    p.serve('stratifier', eof)
    p.serve('connector', eof)
    p.serve('generator', eof)
    yield p
    for server in servers.values():
        server.close()


def dead_pid():
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    return proc.pid


def nothing_received(pool):
    return all(not messages for messages in pool.received().values())


def only_pings(pool):
    """Check mode: the only message anywhere is the listener's liveness ping."""
    received = pool.received()
    return received['listener'] in ([], ['ping']) and all(
        not messages for name, messages in received.items() if name != 'listener')


# -- target validation ----------------------------------------------------------

@pytest.mark.parametrize('text, expected', [
    ('backup.example:4444', ('backup.example', 4444)),
    ('localhost:1', ('localhost', 1)),
    ('pool-2.eu.example.com:65535', ('pool-2.eu.example.com', 65535)),
    ('10.0.0.5:3333', ('10.0.0.5', 3333)),
    ('0.0.0.0:3333', ('0.0.0.0', 3333)),
    ('255.255.255.255:3333', ('255.255.255.255', 3333)),
    ('pool.example.com:03333', ('pool.example.com', 3333)),
    ('1pool.example:3333', ('1pool.example', 3333)),
    ('a' * 63 + '.example:3333', ('a' * 63 + '.example', 3333)),
])
def test_valid_targets(text, expected):
    assert ckpool_control.parse_target(text) == expected


@pytest.mark.parametrize('text, why', [
    ('', 'non-empty'),
    ('backup.example', 'no port'),
    ('backup.example:', 'port must be'),
    (':3333', 'empty host'),
    ('backup.example:0', 'from 1 to 65535'),
    ('backup.example:65536', 'from 1 to 65535'),
    ('backup.example:99999', 'from 1 to 65535'),
    ('backup.example:abc', 'port must be'),
    ('backup.example:+333', 'only contain'),
    ('backup.example:-1', 'port must be'),
    ('backup.example:123456', 'port must be'),
    ('backup example:3333', 'whitespace'),
    ('backup.example:33 33', 'whitespace'),
    ('backup.example:3333 ', 'whitespace'),
    ('backup.example:3333\n', 'control'),
    ('backup.example\t:3333', 'control'),
    ('backup\x00.example:3333', 'control'),
    ('backup\x7f.example:3333', 'control'),
    ('bäckup.example:3333', 'non-ASCII'),
    ('evil,1:3333', 'comma'),
    ('backup.example:3333,4444', 'comma'),
    ('backup.example,4444', 'comma'),
    ('[::1]:3334', 'IPv6'),
    ('::1', 'IPv6'),
    ('2001:db8::1:3333', 'IPv6'),
    ('a:b:3333', 'more than one colon'),
    ('-backup.example:3333', 'not a valid host name'),
    ('backup-.example:3333', 'not a valid host name'),
    ('backup..example:3333', 'not a valid host name'),
    ('.backup.example:3333', 'not a valid host name'),
    ('backup.example.:3333', 'must not end with a dot'),
    ('back_up.example:3333', 'only contain'),
    ('backup/x:3333', 'only contain'),
    ('a' * 64 + '.example:3333', 'not a valid host name'),
    ('.'.join(['a' * 60] * 5) + ':3333', 'too long'),
    ('.'.join(['a' * 50] * 5) + ':3333', 'longer than 253'),
    ('256.1.1.1:3333', 'IPv4'),
    ('1.2.3:3333', 'IPv4'),
    ('1.2.3.4.5:3333', 'IPv4'),
    ('01.2.3.4:3333', 'IPv4'),
    ('3333:3333', 'IPv4'),
])
def test_invalid_targets(text, why):
    with pytest.raises(ValueError) as info:
        ckpool_control.parse_target(text)
    assert why in str(info.value)


def test_target_must_be_text():
    with pytest.raises(ValueError):
        ckpool_control.parse_target(None)


# -- each verb on the wire --------------------------------------------------------

@pytest.mark.parametrize('verb, reply', [
    ('accept', 'accepting'),
    ('reject', 'rejecting'),
    ('reconnect', 'reconnecting'),
    ('resetshares', 'resetting'),
])
def test_listener_verbs(run_module, pool, verb, reply):
    result, failed = run_module(ckpool_control, dict(socket_dir=pool.path, verb=verb))
    assert not failed, result
    assert result['changed'] is True and result['sent'] is True
    assert result['reply'] == reply
    assert result['verb'] == verb and result['command'] == verb and result['socket'] == 'listener'
    assert result['pid'] == os.getpid()
    assert result['socket_dir'] == pool.path
    assert 'target' not in result
    assert pool.received() == dict(listener=[verb], stratifier=[], connector=[], generator=[])
    assert len(result['commands']) == 1
    entry = result['commands'][0]
    assert entry['socket'] == 'listener' and entry['command'] == verb and entry['reply'] == reply
    assert entry['ms'] >= 0 and 'error' not in entry


def test_redirect_sends_reconnect_host_port(run_module, pool):
    result, failed = run_module(ckpool_control, dict(socket_dir=pool.path, verb='redirect',
                                                     target='backup.example:4444'))
    assert not failed, result
    assert result['command'] == 'reconnect:backup.example,4444'
    assert result['reply'] == 'reconnecting' and result['changed'] is True
    assert result['target'] == dict(host='backup.example', port=4444)
    assert pool.received()['listener'] == ['reconnect:backup.example,4444']
    assert result['commands'][0]['command'] == 'reconnect:backup.example,4444'


def test_redirect_port_is_sent_without_leading_zeros(run_module, pool):
    result, failed = run_module(ckpool_control, dict(socket_dir=pool.path, verb='redirect',
                                                     target='10.0.0.5:03333'))
    assert not failed, result
    assert pool.received()['listener'] == ['reconnect:10.0.0.5,3333']
    assert result['target'] == dict(host='10.0.0.5', port=3333)


def test_dropall_goes_to_the_stratifier_and_eof_is_success(run_module, pool):
    result, failed = run_module(ckpool_control, dict(socket_dir=pool.path, verb='dropall'))
    assert not failed, result
    assert result['socket'] == 'stratifier' and result['command'] == 'dropall'
    assert result['reply'] is None and result['changed'] is True and result['sent'] is True
    # never to the listener, which answers "unknown" and does nothing
    assert pool.received() == dict(listener=[], stratifier=['dropall'], connector=[], generator=[])
    assert result['commands'] == [dict(socket='stratifier', command='dropall', reply=None,
                                       ms=result['commands'][0]['ms'])]


# -- wrong answers fail -----------------------------------------------------------

@pytest.mark.parametrize('verb, wrong', [
    ('accept', 'unknown'),
    ('reject', 'accepting'),
    ('reconnect', 'failed'),
    ('resetshares', 'Resetting'),
])
def test_wrong_listener_reply_fails(run_module, pool, verb, wrong):
    pool.serve('listener', answer(wrong))
    result, failed = run_module(ckpool_control, dict(socket_dir=pool.path, verb=verb))
    assert failed
    assert result['reply'] == wrong
    assert result['changed'] is True and result['sent'] is True
    assert result['error']['kind'] == 'malformed_reply'
    assert repr(wrong) in result['msg'] and result['msg'].startswith('%s failed' % verb)
    assert result['commands'][0]['reply'] == wrong


def test_listener_closing_without_reply_fails(run_module, pool):
    pool.serve('listener', eof)
    result, failed = run_module(ckpool_control, dict(socket_dir=pool.path, verb='accept'))
    assert failed
    assert result['error']['kind'] == 'no_reply'
    assert result['reply'] is None and result['sent'] is True and result['changed'] is True


def test_stratifier_answering_dropall_fails(run_module, pool):
    pool.serve('stratifier', answer('dropping all'))
    result, failed = run_module(ckpool_control, dict(socket_dir=pool.path, verb='dropall'))
    assert failed
    assert result['reply'] == 'dropping all'
    assert result['error']['kind'] == 'malformed_reply'
    assert result['sent'] is True and result['changed'] is True


def test_hung_listener_fails_within_deadline(run_module, pool):
    pool.serve('listener', hang)
    started = time.monotonic()
    result, failed = run_module(ckpool_control, dict(socket_dir=pool.path, verb='reject', timeout=0.5))
    elapsed = time.monotonic() - started
    assert failed
    assert result['error']['kind'] == 'deadline_exceeded'
    assert elapsed < 0.5 + 1.0
    # the frame was written: ckpool may have acted
    assert result['sent'] is True and result['changed'] is True


def test_not_running_fails_without_change(run_module, pool, tmp_path):
    empty = tmp_path / 'stopped'
    empty.mkdir()
    result, failed = run_module(ckpool_control, dict(socket_dir=str(empty), verb='accept'))
    assert failed
    assert result['error']['kind'] == 'not_running'
    assert result['changed'] is False and result['sent'] is False
    assert result['pid'] is None


def test_stale_socket_fails_as_not_running(run_module, tmp_path):
    sockdir = tmp_path / 'stale'
    sockdir.mkdir()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sockdir / 'listener'))
    stale.close()  # the file stays, connections are refused, as after ckpool's shutdown
    result, failed = run_module(ckpool_control, dict(socket_dir=str(sockdir), verb='reconnect'))
    assert failed
    assert result['error']['kind'] == 'not_running'
    assert result['changed'] is False


# -- check mode ---------------------------------------------------------------------

@pytest.mark.parametrize('args, command, sock', [
    (dict(verb='accept'), 'accept', 'listener'),
    (dict(verb='reject'), 'reject', 'listener'),
    (dict(verb='reconnect'), 'reconnect', 'listener'),
    (dict(verb='resetshares'), 'resetshares', 'listener'),
    (dict(verb='dropall'), 'dropall', 'stratifier'),
    (dict(verb='redirect', target='backup.example:4444'), 'reconnect:backup.example,4444', 'listener'),
])
def test_check_mode_sends_nothing(run_module, pool, args, command, sock):
    args = dict(args, socket_dir=pool.path)
    result, failed = run_module(ckpool_control, args, check_mode=True)
    assert not failed, result
    assert result['changed'] is True and result['sent'] is False
    assert result['command'] == command and result['socket'] == sock
    assert result['reply'] is None
    assert [c['command'] for c in result['commands']] == ['ping']
    assert result['pid'] == os.getpid()   # the process holding the listener: this test's server thread
    assert only_pings(pool)


def test_check_mode_fails_when_pool_is_stopped(run_module, pool):
    pool.close('listener')   # nothing listens any more (the socket file stays, like ckpool's)
    result, failed = run_module(ckpool_control, dict(socket_dir=pool.path, verb='reject'), check_mode=True)
    assert failed
    assert 'not running' in result['msg'] and 'nothing listens' in result['msg']
    assert nothing_received(pool)


def test_check_mode_does_not_trust_main_pid(run_module, pool):
    # main.pid missing or naming a dead pid says nothing: the listener answers, so it runs.
    os.unlink(os.path.join(pool.path, 'main.pid'))
    result, failed = run_module(ckpool_control, dict(socket_dir=pool.path, verb='dropall'), check_mode=True)
    assert not failed and result['changed'] is True
    pool.write_pid(dead_pid())
    result, failed = run_module(ckpool_control, dict(socket_dir=pool.path, verb='dropall'), check_mode=True)
    assert not failed and result['changed'] is True
    received = pool.received()
    assert received.pop('listener') == ['ping', 'ping'] and not any(received.values())


# -- bad input sends nothing ---------------------------------------------------------

@pytest.mark.parametrize('target', [
    'evil,1:3333', 'backup.example:3333\nshutdown', '[::1]:3334', 'backup.example:0', 'backup.example',
    'backup.example:3333,4444',
])
def test_invalid_target_fails_before_sending(run_module, pool, target):
    result, failed = run_module(ckpool_control, dict(socket_dir=pool.path, verb='redirect', target=target))
    assert failed
    assert result['msg'].startswith('invalid target')
    assert result['changed'] is False and result['commands'] == []
    assert nothing_received(pool)


def test_target_with_other_verb_fails(run_module, pool):
    result, failed = run_module(ckpool_control, dict(socket_dir=pool.path, verb='reconnect',
                                                     target='backup.example:4444'))
    assert failed
    assert 'only used with verb=redirect' in result['msg']
    assert nothing_received(pool)


def test_redirect_requires_target(run_module, pool):
    result, failed = run_module(ckpool_control, dict(socket_dir=pool.path, verb='redirect'))
    assert failed
    assert 'target' in result['msg']
    assert nothing_received(pool)


def test_unknown_verb_fails(run_module, pool):
    result, failed = run_module(ckpool_control, dict(socket_dir=pool.path, verb='shutdown'))
    assert failed
    assert 'verb' in result['msg']
    assert nothing_received(pool)


# -- against the simulator, with real stratum miners connected -------------------------

@pytest.fixture
def sim(tmp_path):
    from ansible_collections.ckpool.fleet.tests.simulator.fixture import SimPool
    pool = SimPool(str(tmp_path / 'sim'))
    pool.start()
    # the readiness pings of start() are logged after their reply: let them land first
    settled_commands(pool, 0)
    yield pool
    pool.stop()


def settled_commands(sim, since, timeout=3.0):
    """The simulator's command log from index ``since``, once it is complete.

    The simulator appends a log entry after it has answered, so a marker ``ping`` is sent to
    each socket that may have been used; once the markers are logged, every earlier command
    on those sockets is too (each socket serves one client at a time).  The markers are
    removed from the returned list.
    """
    marks = []
    for name in ('listener', 'stratifier'):
        assert sim.request(name, 'ping').reply == 'pong'
        marks.append(name)
    deadline = time.monotonic() + timeout
    while True:
        entries = sim.commands(since)
        pings = [e['socket'] for e in entries if e['command'] == 'ping']
        if all(name in pings for name in marks):
            break
        assert time.monotonic() < deadline, 'marker pings never logged: %r' % entries
        time.sleep(0.02)
    for name in marks:
        last = max(i for i, e in enumerate(entries) if e['command'] == 'ping' and e['socket'] == name)
        del entries[last]
    return entries


def test_sim_redirect_reaches_every_miner_exactly(run_module, sim):
    miners = [sim.miner('alice.rig%d' % n) for n in (1, 2)]
    try:
        before = len(sim.commands())
        result, failed = run_module(ckpool_control, dict(socket_dir=sim.sockdir, verb='redirect',
                                                         target='backup.example:4444'))
        assert not failed, result
        assert result['reply'] == 'reconnecting'
        for miner in miners:
            miner.wait_for(lambda m: m.get('method') == 'client.reconnect', timeout=3)
            line = [text for text in miner.raw if 'client.reconnect' in text]
            assert line == ['{"id":null,"method":"client.reconnect","params":["backup.example","4444",0]}']
        logged = settled_commands(sim, before)
        assert [(e['socket'], e['command'], e['reply']) for e in logged] == [
            ('listener', 'reconnect:backup.example,4444', 'reconnecting')]
    finally:
        for miner in miners:
            miner.close()


def test_sim_reconnect_has_no_params(run_module, sim):
    miner = sim.miner('bob.rig1')
    try:
        result, failed = run_module(ckpool_control, dict(socket_dir=sim.sockdir, verb='reconnect'))
        assert not failed, result
        miner.wait_for(lambda m: m.get('method') == 'client.reconnect', timeout=3)
        assert [t for t in miner.raw if 'client.reconnect' in t] == [
            '{"id":null,"method":"client.reconnect","params":[]}']
    finally:
        miner.close()


def test_sim_dropall_closes_every_miner(run_module, sim):
    miners = [sim.miner('carol.rig%d' % n) for n in (1, 2, 3)]
    try:
        before = len(sim.commands())
        result, failed = run_module(ckpool_control, dict(socket_dir=sim.sockdir, verb='dropall'))
        assert not failed, result
        assert result['reply'] is None
        for miner in miners:
            assert miner.wait_eof(3)
        logged = settled_commands(sim, before)
        assert [(e['socket'], e['command'], e['outcome']) for e in logged] == [('stratifier', 'dropall', 'eof')]
        sim.wait_for_log(r'Dropped 3 instances for dropall request', timeout=3)
    finally:
        for miner in miners:
            miner.close()


def test_sim_reject_then_accept(run_module, sim):
    result, failed = run_module(ckpool_control, dict(socket_dir=sim.sockdir, verb='reject'))
    assert not failed and result['reply'] == 'rejecting'
    # while rejecting, a new miner gets no answer to its subscribe
    late = socket.create_connection(('127.0.0.1', sim.stratum_port), timeout=2)
    try:
        late.sendall(b'{"id":1,"method":"mining.subscribe","params":["t"]}\n')
        late.settimeout(0.5)
        with pytest.raises(socket.timeout):
            late.recv(100)
        result, failed = run_module(ckpool_control, dict(socket_dir=sim.sockdir, verb='accept'))
        assert not failed and result['reply'] == 'accepting'
        late.settimeout(3)
        assert b'"id":1' in late.recv(4096)
    finally:
        late.close()


def test_sim_resetshares(run_module, sim):
    before = len(sim.commands())
    result, failed = run_module(ckpool_control, dict(socket_dir=sim.sockdir, verb='resetshares'))
    assert not failed and result['reply'] == 'resetting'
    assert [(e['socket'], e['command'], e['reply']) for e in settled_commands(sim, before)] == [
        ('listener', 'resetshares', 'resetting')]


def test_sim_check_mode_sends_nothing(run_module, sim):
    miner = sim.miner('dave.rig1')
    try:
        before = len(sim.commands())
        for args in (dict(verb='redirect', target='backup.example:4444'), dict(verb='dropall'),
                     dict(verb='reject'), dict(verb='reconnect'), dict(verb='resetshares')):
            result, failed = run_module(ckpool_control, dict(args, socket_dir=sim.sockdir), check_mode=True)
            assert not failed and result['changed'] is True
            assert [c['command'] for c in result['commands']] == ['ping']
        assert [e['command'] for e in settled_commands(sim, before)] == ['ping'] * 5
        miner.drain(0.3)
        assert not miner.eof and miner.reconnects() == []
    finally:
        miner.close()
