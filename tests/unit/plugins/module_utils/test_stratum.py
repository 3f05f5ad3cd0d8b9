# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stratum probe against real TCP sockets: the simulator (serving, SIGSTOPped, rejecting),
a listening socket that never accepts, one that accepts and never answers, and servers that
answer wrongly.  Every probe must end within its deadline."""

import json
import os
import signal
import socket
import threading
import time

import pytest

from ansible_collections.ckpool.fleet.plugins.module_utils import stratum
from ansible_collections.ckpool.fleet.tests.simulator.fixture import SimPool


def free_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class LineServer(threading.Thread):
    """A real TCP server: accepts (or not) and replies what ``behaviour(conn, request_line)`` says."""

    def __init__(self, behaviour=None, accept=True):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.behaviour = behaviour
        self.accept_connections = accept
        self.requests = []
        self.conns = []
        self.stop = threading.Event()

    def run(self):
        if not self.accept_connections:
            self.stop.wait(30)
            return
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _addr = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(conn)
            conn.settimeout(5)
            data = b''
            try:
                while b'\n' not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            self.requests.append(data)
            if self.behaviour is not None:
                try:
                    self.behaviour(conn, data)
                except OSError:
                    pass

    def close(self):
        self.stop.set()
        for conn in self.conns:
            conn.close()
        self.sock.close()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()


def reply(*lines, close=False):
    def behaviour(conn, data):
        for line in lines:
            conn.sendall(line.encode() + b'\n')
        if close:
            conn.close()
    return behaviour


GOOD = '{"result":[[["mining.notify","6b052726"]],"2627056b",8],"id":1,"error":null}'


def test_request_is_a_subscribe_and_never_an_authorise():
    line = stratum.subscribe_request('agent/1')
    assert line.endswith(b'\n') and line.count(b'\n') == 1
    msg = json.loads(line)
    assert msg == {'id': 1, 'method': 'mining.subscribe', 'params': ['agent/1']}
    assert json.loads(stratum.subscribe_request(''))['params'] == []
    assert b'authorize' not in line


def test_simulator_answers_the_subscribe():
    with SimPool() as pool:
        started = time.monotonic()
        result = stratum.probe('127.0.0.1', pool.stratum_port, timeout=3.0)
        assert result['ok'], result
        assert result['kind'] == stratum.OK
        assert result['connected'] and result['address'] == '127.0.0.1'
        assert len(result['extranonce1']) == 8 and result['extranonce2_size'] == 8
        assert time.monotonic() - started < 1.0
        # the probe did not authorise: no user was created, no Authorised line was written
        time.sleep(0.2)
        assert not any('Authorised client' in line for line in pool.log_lines())


def test_sigstopped_simulator_fails_within_the_deadline():
    """A stopped pool: the kernel still completes TCP connects into the backlog, no answer comes."""
    with SimPool() as pool:
        pid = pool.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            result = stratum.probe('127.0.0.1', pool.stratum_port, timeout=1.0)
            elapsed = time.monotonic() - started
        finally:
            os.kill(pid, signal.SIGCONT)
        assert not result['ok']
        assert result['kind'] == stratum.NO_ANSWER, result
        assert result['connected'], 'the kernel completes the connect of a stopped process'
        assert 'no answer to mining.subscribe within 1.0 s' in result['message']
        assert 0.9 <= elapsed < 1.5
        # continued, it serves again
        assert stratum.probe('127.0.0.1', pool.stratum_port, timeout=3.0)['ok']


def test_rejecting_simulator_is_not_serving():
    """ckpool's reject: connects wait in the backlog, pings still answer."""
    with SimPool() as pool:
        assert pool.request('listener', 'reject').reply == 'rejecting'
        result = stratum.probe('127.0.0.1', pool.stratum_port, timeout=0.5)
        assert result['kind'] == stratum.NO_ANSWER and result['connected'], result
        assert pool.request('listener', 'ping').reply == 'pong'
        assert pool.request('listener', 'accept').reply == 'accepting'
        assert stratum.probe('127.0.0.1', pool.stratum_port, timeout=3.0)['ok']


def test_listening_socket_that_never_accepts():
    with LineServer(accept=False) as server:
        started = time.monotonic()
        result = stratum.probe('127.0.0.1', server.port, timeout=0.5)
        assert result['kind'] == stratum.NO_ANSWER and result['connected']
        assert time.monotonic() - started < 1.0


def test_accepting_socket_that_never_answers():
    with LineServer(behaviour=lambda conn, data: None) as server:
        started = time.monotonic()
        result = stratum.probe('127.0.0.1', server.port, timeout=0.6)
        assert result['kind'] == stratum.NO_ANSWER, result
        assert time.monotonic() - started < 1.1
        assert json.loads(server.requests[0])['method'] == 'mining.subscribe'


def test_refused_port():
    result = stratum.probe('127.0.0.1', free_port(), timeout=1.0)
    assert result['kind'] == stratum.REFUSED and not result['connected'] and not result['ok']


def test_notifications_before_the_answer_are_skipped():
    with LineServer(reply('{"params":[1],"id":null,"method":"mining.set_difficulty"}', GOOD)) as server:
        result = stratum.probe('127.0.0.1', server.port, timeout=2.0)
        assert result['ok'], result


@pytest.mark.parametrize('lines, kind, text', [
    (['{"result":null,"id":1,"error":[20,"Other/Unknown",null]}'], stratum.ERROR_REPLY, 'with an error'),
    (['{"result":true,"id":1,"error":null}'], stratum.MALFORMED, 'no result list'),
    (['{"result":[[["mining.notify","1"]],"xyz!",8],"id":1,"error":null}'], stratum.MALFORMED, 'no hex extranonce1'),
    (['{"result":[[["mining.notify","1"]],"ab",-1],"id":1,"error":null}'], stratum.MALFORMED, 'extranonce2 size'),
    (['HTTP/1.1 400 Bad Request'], stratum.MALFORMED, 'not JSON'),
])
def test_wrong_answers(lines, kind, text):
    with LineServer(reply(*lines)) as server:
        result = stratum.probe('127.0.0.1', server.port, timeout=2.0)
        assert result['kind'] == kind and not result['ok'], result
        assert text in result['message']


def test_closed_without_answer():
    with LineServer(reply(close=True)) as server:
        result = stratum.probe('127.0.0.1', server.port, timeout=2.0)
        assert result['kind'] == stratum.CLOSED, result


def test_a_flood_without_answer_is_bounded():
    noise = '{"params":[1],"id":null,"method":"mining.set_difficulty"}'
    with LineServer(reply(*([noise] * 6000))) as server:
        result = stratum.probe('127.0.0.1', server.port, timeout=3.0)
        assert result['kind'] == stratum.MALFORMED and 'without an answer' in result['message']


def test_unresolvable_name():
    result = stratum.probe('no-such-host.invalid', 3333, timeout=2.0)
    assert result['kind'] == stratum.RESOLVE_FAILED and not result['connected']


def test_ipv6_loopback():
    try:
        sock = socket.socket(socket.AF_INET6)
        sock.bind(('::1', 0))
    except OSError:
        pytest.fail('IPv6 loopback is not available on this machine')
    sock.listen(4)
    port = sock.getsockname()[1]

    def serve():
        conn, _addr = sock.accept()
        conn.recv(4096)
        conn.sendall(GOOD.encode() + b'\n')
        conn.close()

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()
    try:
        result = stratum.probe('::1', port, timeout=2.0)
        assert result['ok'] and result['address'] == '::1', result
    finally:
        sock.close()


@pytest.mark.parametrize('port', [0, 70000, '3333', True, None])
def test_invalid_port(port):
    with pytest.raises(ValueError):
        stratum.probe('127.0.0.1', port)


@pytest.mark.parametrize('timeout', [0, -1, None])
def test_invalid_timeout(timeout):
    with pytest.raises(ValueError):
        stratum.probe('127.0.0.1', 3333, timeout=timeout)
