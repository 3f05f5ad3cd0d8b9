# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the socket client against real AF_UNIX servers in a thread.

Each server below plays one behaviour recorded from a real ckpool (or one fault
mode) so that every error class of the client is exercised on a real socket.
"""


import os
import shutil
import socket
import struct
import tempfile
import threading
import time

import pytest

from ansible_collections.ckpool.fleet.plugins.module_utils import ckpool as ck
from ansible_collections.ckpool.fleet.tests.unit.plugins.unix_server import Server, eof, hang, recv_frame, reply


@pytest.fixture
def sockdir(tmp_path):
    path = tmp_path / 'sock'
    path.mkdir()
    return str(path)


@pytest.fixture
def serve(sockdir):
    servers = []

    def start(name, behaviour):
        server = Server(os.path.join(sockdir, name), behaviour)
        servers.append(server)
        return server
    yield start
    for server in servers:
        server.close()


def test_frame_is_little_endian_length_then_bytes_without_nul():
    assert ck.encode_frame('ping') == b'\x04\x00\x00\x00ping'
    assert ck.encode_frame('') == b'\x00\x00\x00\x00'


def test_ping_and_audit_entry(sockdir, serve):
    server = serve('listener', reply('pong'))
    client = ck.CkpoolClient(sockdir, timeout=2)
    assert client.ping('listener') is True
    assert server.received == ['ping']
    assert len(client.audit) == 1
    entry = client.audit[0]
    assert entry['socket'] == 'listener' and entry['command'] == 'ping' and entry['reply'] == 'pong'
    assert entry['ms'] >= 0 and 'error' not in entry


def test_eof_is_success_for_commands_without_reply(sockdir, serve):
    serve('connector', eof)
    client = ck.CkpoolClient(sockdir, timeout=2)
    assert client.dropclient(7) is None
    assert client.audit[0]['reply'] is None and client.audit[0]['command'] == 'dropclient=7'


def test_eof_where_reply_required_is_no_reply(sockdir, serve):
    serve('generator', eof)
    client = ck.CkpoolClient(sockdir, timeout=2)
    with pytest.raises(ck.CkpoolNoReply) as info:
        client.ping('generator')
    assert os.path.join(sockdir, 'generator') in str(info.value) and "'ping'" in str(info.value)
    assert client.audit[0]['error'] == 'no_reply'


def test_missing_socket_is_not_running(sockdir):
    client = ck.CkpoolClient(sockdir, timeout=1)
    with pytest.raises(ck.CkpoolNotRunning) as info:
        client.ping()
    assert info.value.details['reason'] == 'no_socket'
    assert os.path.join(sockdir, 'listener') in str(info.value)


def test_missing_socket_dir_says_so(tmp_path):
    client = ck.CkpoolClient(str(tmp_path / 'nope'), timeout=1)
    with pytest.raises(ck.CkpoolNotRunning) as info:
        client.ping()
    assert 'socket directory' in str(info.value)


def test_stale_socket_is_not_running_and_names_the_dead_pid(sockdir):
    path = os.path.join(sockdir, 'listener')
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()  # the file stays, like after ckpool's shutdown
    with open(os.path.join(sockdir, 'main.pid'), 'w') as handle:
        handle.write('999999')  # no newline, as ckpool writes it
    client = ck.CkpoolClient(sockdir, timeout=1)
    with pytest.raises(ck.CkpoolNotRunning) as info:
        client.ping()
    assert info.value.details['reason'] == 'stale_socket'
    assert '999999' in str(info.value)


def test_one_deadline_for_all_calls_of_a_run(sockdir, serve):
    # Three hung sockets, three calls: the run's one deadline ends them all (not one deadline per call).
    for name in ('listener', 'stratifier', 'generator'):
        serve(name, hang)
    client = ck.CkpoolClient(sockdir, timeout=1.0, deadline=ck.Deadline(1.0))
    started = time.monotonic()
    errors = []
    for name in ('listener', 'stratifier', 'generator'):
        with pytest.raises(ck.CkpoolDeadlineExceeded) as info:
            client.ping(name)
        errors.append(info.value)
    assert time.monotonic() - started < 2.0
    assert errors[0].sent is True and 'the deadline for all socket work of this run' in str(errors[0])
    assert 'used up' in str(errors[2]) and errors[2].sent is False
    # extending the deadline (a documented wait) gives the run more time
    client.deadline.extend(0.3, 'timeout + wait_timeout')
    with pytest.raises(ck.CkpoolDeadlineExceeded) as info:
        client.ping('listener')
    assert 'timeout + wait_timeout' in str(info.value)


def test_peer_of_a_connection_is_the_listening_process(sockdir, serve):
    serve('listener', reply('pong'))
    serve('stratifier', hang)
    client = ck.CkpoolClient(sockdir, timeout=0.3)
    client.ping()
    assert client.peers['listener'][0] == os.getpid()
    with pytest.raises(ck.CkpoolDeadlineExceeded):
        client.ping('stratifier')
    assert client.peers['stratifier'][0] == os.getpid()   # known without any answer


def test_delivered_mutating_commands_are_recorded(sockdir, serve):
    serve('listener', hang)
    client = ck.CkpoolClient(sockdir, timeout=0.3)
    with pytest.raises(ck.CkpoolDeadlineExceeded) as info:
        client.set_loglevel(7)
    assert info.value.sent is True and client.delivered == [('listener', 'loglevel=7')]
    with pytest.raises(ck.CkpoolDeadlineExceeded):
        client.ping()
    assert client.delivered == [('listener', 'loglevel=7')]   # reads are not "delivered changes"
    with pytest.raises(ck.CkpoolNotRunning):
        client.dropall()   # no stratifier socket: never delivered
    assert client.delivered == [('listener', 'loglevel=7')]


class BoundaryServer(object):
    """ckpool's queueing receiver: reads every message at once, processes the queue on 1-second
    boundaries (like get_unix_msg's timed wait on an empty queue), closes each connection (EOF)."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(64)
        self.sock.settimeout(0.05)
        self.queue = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.handled = []
        self.threads = [threading.Thread(target=self.receive, daemon=True),
                        threading.Thread(target=self.process, daemon=True)]
        for thread in self.threads:
            thread.start()

    def receive(self):
        while not self.stop.is_set():
            try:
                conn, dummy = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(2)
            message = recv_frame(conn)
            with self.lock:
                self.queue.append((conn, message))

    def process(self):
        while not self.stop.is_set():
            with self.lock:
                batch, self.queue = self.queue, []
            if not batch:
                time.sleep(1.0 - time.time() % 1.0)   # sleep to the next boundary
                continue
            for conn, message in batch:
                self.handled.append(message)
                conn.close()

    def close(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(3)
        self.sock.close()


def test_send_many_costs_one_wait_for_a_queueing_socket(sockdir):
    server = BoundaryServer(os.path.join(sockdir, 'connector'))
    try:
        client = ck.CkpoolClient(sockdir, timeout=5, deadline=ck.Deadline(5))
        time.sleep(1.0 - time.time() % 1.0 + 0.05)   # just after a boundary: the worst case
        started = time.monotonic()
        outcome = client.dropclients([11, 12, 13, 14, 15])
        elapsed = time.monotonic() - started
        assert outcome == [(11, None), (12, None), (13, None), (14, None), (15, None)]
        assert sorted(server.handled) == ['dropclient=%d' % i for i in range(11, 16)]
        assert elapsed < 2.0, elapsed   # one at a time would take about 5 s
        assert [e['command'] for e in client.audit] == ['dropclient=%d' % i for i in range(11, 16)]
        assert len(client.delivered) == 5
    finally:
        server.close()


def test_hung_socket_fails_within_timeout_plus_one(sockdir, serve):
    serve('listener', hang)
    client = ck.CkpoolClient(sockdir, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ck.CkpoolDeadlineExceeded):
        client.ping()
    assert time.monotonic() - started < 1.5
    assert client.audit[0]['error'] == 'deadline_exceeded'


def test_huge_length_is_refused(sockdir, serve):
    serve('listener', lambda conn, msg: conn.sendall(struct.pack('<I', 0xFFFFFFF0) + b'xx'))
    client = ck.CkpoolClient(sockdir, timeout=1)
    with pytest.raises(ck.CkpoolMalformedReply) as info:
        client.ping()
    assert 'cap' in str(info.value)


def test_truncated_frame_is_malformed(sockdir, serve):
    serve('listener', lambda conn, msg: conn.sendall(struct.pack('<I', 100) + b'short'))
    client = ck.CkpoolClient(sockdir, timeout=1)
    with pytest.raises(ck.CkpoolMalformedReply) as info:
        client.ping()
    assert 'truncated' in str(info.value)


def test_truncated_header_is_malformed(sockdir, serve):
    serve('listener', lambda conn, msg: conn.sendall(b'\x04\x00'))
    client = ck.CkpoolClient(sockdir, timeout=1)
    with pytest.raises(ck.CkpoolMalformedReply):
        client.ping()


def test_garbage_reply_is_malformed(sockdir, serve):
    serve('listener', lambda conn, msg: conn.sendall(b'GARBAGE!!not framed'))
    client = ck.CkpoolClient(sockdir, timeout=1)
    with pytest.raises(ck.CkpoolMalformedReply):
        client.ping()


def test_wrong_reply_to_ping_is_malformed(sockdir, serve):
    serve('listener', reply('unknown'))
    client = ck.CkpoolClient(sockdir, timeout=1)
    with pytest.raises(ck.CkpoolMalformedReply):
        client.ping()


def test_stats_json_and_non_json(sockdir, serve):
    serve('listener', reply('{"clients": {"count": 3, "memory": 1, "generated": 4}}'))
    client = ck.CkpoolClient(sockdir, timeout=1)
    assert client.stats('connector')['clients']['count'] == 3
    assert client.audit[0]['command'] == 'connectorstats'


def test_stats_not_json_is_malformed(sockdir, serve):
    serve('listener', reply('unknown'))
    client = ck.CkpoolClient(sockdir, timeout=1)
    with pytest.raises(ck.CkpoolMalformedReply):
        client.stats('stratifier')


def test_json_to_listener_is_never_sent(sockdir, serve):
    server = serve('listener', hang)
    client = ck.CkpoolClient(sockdir, timeout=1)
    with pytest.raises(ck.CkpoolRefused):
        client.send('listener', '{"method": "stats"}')
    assert server.received == [] and client.audit == []


@pytest.mark.parametrize('command', ['getuser=alice', 'GETUSER=alice', 'userclients=bob', 'ucinfo=x', 'wcinfo=y'])
def test_state_creating_commands_need_explicit_permission(sockdir, serve, command):
    server = serve('stratifier', eof)
    client = ck.CkpoolClient(sockdir, timeout=1)
    with pytest.raises(ck.CkpoolRefused):
        client.send('stratifier', command)
    assert server.received == []
    assert client.send('stratifier', command, allow_state_creating=True) is None
    assert server.received == [command]


@pytest.mark.parametrize('command', ['shutdown', 'restart', 'loglevel=7', 'dropall', 'reconnect', 'statsfoo'])
def test_check_mode_refuses_everything_but_known_reads(sockdir, serve, command):
    server = serve('listener', reply('pong'))
    client = ck.CkpoolClient(sockdir, timeout=1, check_mode=True)
    with pytest.raises(ck.CkpoolRefused):
        client.send('listener', command)
    assert client.ping() is True
    assert server.received == ['ping']


def test_control_characters_and_unknown_socket_refused(sockdir):
    client = ck.CkpoolClient(sockdir, timeout=1)
    with pytest.raises(ck.CkpoolRefused):
        client.send('listener', 'ping\nshutdown')
    with pytest.raises(ck.CkpoolRefused):
        client.send('bogus', 'ping')
    with pytest.raises(ck.CkpoolRefused):
        ck.CkpoolClient(sockdir, timeout=0)


@pytest.mark.parametrize('answer,error', [('success', None), ('Invalid', 'out of range'), ('Failed', 'parse')])
def test_loglevel_replies(sockdir, serve, answer, error):
    serve('listener', reply(answer))
    client = ck.CkpoolClient(sockdir, timeout=1)
    if error is None:
        assert client.set_loglevel(7) == 'success'
    else:
        with pytest.raises(ck.CkpoolMalformedReply) as info:
            client.set_loglevel(7)
        assert error in str(info.value)


def test_listener_verb_requires_its_reply(sockdir, serve):
    serve('listener', reply('unknown'))
    client = ck.CkpoolClient(sockdir, timeout=1)
    with pytest.raises(ck.CkpoolMalformedReply):
        client.listener_verb('reject')


@pytest.mark.parametrize('content', ['99999999999999999999', '4194305', '0', '-5', '\u0663\u0664', '12 34', '',
                                     '1e3', '0x10'])
def test_pid_file_that_holds_no_possible_pid(sockdir, content):
    with open(os.path.join(sockdir, 'main.pid'), 'w') as handle:
        handle.write(content)
    with pytest.raises(ck.CkpoolMalformedReply) as info:
        ck.CkpoolClient(sockdir, timeout=1).read_pid()
    assert 'pid file' in str(info.value)


def test_pid_file_fifo_does_not_block(sockdir):
    os.mkfifo(os.path.join(sockdir, 'main.pid'))
    started = time.monotonic()
    with pytest.raises(ck.CkpoolMalformedReply) as info:
        ck.CkpoolClient(sockdir, timeout=1).read_pid()
    assert time.monotonic() - started < 1 and 'not a regular file' in str(info.value)


def test_pid_file_without_newline_and_garbage(sockdir):
    client = ck.CkpoolClient(sockdir, timeout=1)
    assert client.read_pid() is None
    with open(client.pid_file, 'w') as handle:
        handle.write(str(os.getpid()))
    assert client.read_pid() == os.getpid()
    assert client.process()['running'] is True
    with open(client.pid_file, 'w') as handle:
        handle.write('abc')
    with pytest.raises(ck.CkpoolMalformedReply):
        client.read_pid()


@pytest.fixture
def open_sockdir():
    """A socket directory other users can reach (pytest's tmp_path is 0700 for root only)."""
    path = tempfile.mkdtemp(prefix='ckpool-perm-', dir='/tmp')
    os.chmod(path, 0o755)
    servers = []
    yield path, servers
    for server in servers:
        server.close()
    shutil.rmtree(path, ignore_errors=True)


def as_nobody(call):
    """Run ``call`` with the effective uid of nobody (root ignores file modes); return its exception."""
    assert os.geteuid() == 0, 'these tests switch to another uid: run them as root (CI does)'
    groups = os.getgroups()
    os.setgroups([])
    os.setegid(65534)
    os.seteuid(65534)
    try:
        call()
    except ck.CkpoolError as exc:
        return exc
    finally:
        os.seteuid(0)
        os.setegid(0)
        os.setgroups(groups)
    raise AssertionError('no error')


@pytest.mark.parametrize('mode, wanted', [
    (0o770, 'add nobody to group root'),                 # ckpool's own mode: the group is the way in
    (0o700, 'which lets only its owner root connect'),   # someone narrowed it
    (0o000, 'which lets nobody but root connect'),       # mode 0000: no group to join would help
])
def test_permission_denied_names_what_is_actually_wrong(open_sockdir, mode, wanted):
    sockdir, servers = open_sockdir
    path = os.path.join(sockdir, 'listener')
    servers.append(Server(path, reply('pong')))
    os.chmod(path, mode)
    client = ck.CkpoolClient(sockdir, timeout=1)
    exc = as_nobody(client.ping)
    assert isinstance(exc, ck.CkpoolPermissionDenied)
    text = str(exc)
    assert 'permission denied as user nobody' in text and wanted in text and oct(mode) in text, text
    if mode != 0o770:
        assert 'add nobody to group' not in text


def test_permission_denied_by_the_directory(open_sockdir):
    sockdir, servers = open_sockdir
    servers.append(Server(os.path.join(sockdir, 'listener'), reply('pong')))
    os.chmod(sockdir, 0o750)
    exc = as_nobody(ck.CkpoolClient(sockdir, timeout=1).ping)
    assert isinstance(exc, ck.CkpoolPermissionDenied)
    assert 'the socket directory %s' % sockdir in str(exc) and 'does not let this user reach' in str(exc)


def test_regular_file_in_place_of_a_socket_is_named(sockdir):
    path = os.path.join(sockdir, 'listener')
    with open(path, 'w') as handle:
        handle.write('x')
    with open(os.path.join(sockdir, 'main.pid'), 'w') as handle:
        handle.write(str(os.getpid()))   # alive: the old message blamed a restart
    with pytest.raises(ck.CkpoolNotASocket) as info:
        ck.CkpoolClient(sockdir, timeout=1).ping()
    assert 'is a regular file, not a unix socket' in str(info.value)
    assert 'restarting' not in str(info.value) and 'stale' not in str(info.value)


def test_errors_say_whether_the_command_was_sent(sockdir, serve):
    client = ck.CkpoolClient(sockdir, timeout=0.5)
    with pytest.raises(ck.CkpoolNotRunning) as info:
        client.send('stratifier', 'dropall')
    assert info.value.sent is False and info.value.to_dict()['sent'] is False
    serve('listener', hang)
    with pytest.raises(ck.CkpoolDeadlineExceeded) as info:
        client.listener_verb('reject')
    assert info.value.sent is True


def test_wrong_reply_marks_the_audit_entry(sockdir, serve):
    serve('listener', reply('unknown'))
    client = ck.CkpoolClient(sockdir, timeout=1)
    with pytest.raises(ck.CkpoolMalformedReply) as info:
        client.listener_verb('accept')
    assert info.value.sent is True
    assert client.audit[-1]['error'] == 'malformed_reply' and client.audit[-1]['reply'] == 'unknown'


def test_dropall_goes_to_the_stratifier_and_expects_silence(sockdir, serve):
    server = serve('stratifier', eof)
    client = ck.CkpoolClient(sockdir, timeout=1)
    assert client.dropall() is None
    assert server.received == ['dropall']


def test_redirect_refuses_what_would_change_the_command(sockdir, serve):
    server = serve('listener', reply('reconnecting'))
    client = ck.CkpoolClient(sockdir, timeout=1)
    assert client.redirect('backup.example', 4444) == 'reconnecting'
    assert server.received == ['reconnect:backup.example,4444']
    for host, port in (('a,b', 1), ('a:b', 1), ('', 1), ('ok', 0), ('ok', 70000)):
        with pytest.raises(ck.CkpoolRefused):
            client.redirect(host, port)
    assert len(server.received) == 1
