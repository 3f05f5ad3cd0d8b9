# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small stratum miner for tests and demos (standard library only).

It opens real TCP connections to a pool (the simulator or a real ckpool),
subscribes, authorises as the given workers and submits shares periodically.
It does no hashing: nonces are random (the simulator accepts well-formed
shares; a real ckpool rejects them "Above target", which is still a share).

As a program it prints one JSON line per event on stdout::

    {"t": 1795500524.692, "conn": 0, "event": "recv", "line": "{...}"}

events: connected, sent, recv, eof, error, reconnect, done.

As a library (used by ``fixture.py`` and the unit tests) ``StratumClient``
gives blocking calls with deadlines: ``subscribe``, ``authorize``, ``submit``,
``wait_for``, ``wait_eof``.
"""

import argparse
import json
import random
import select
import socket
import sys
import threading
import time


class StratumEOF(Exception):
    """The pool closed the connection."""


class StratumClient:
    """One stratum connection; every call is bounded by a deadline."""

    def __init__(self, host, port, timeout=5.0, on_message=None):
        self.host = host
        self.port = int(port)
        self.sock = socket.create_connection((host, self.port), timeout=timeout)
        self.sock.settimeout(None)
        self.buf = b''
        self.received = []          # every decoded message, in order
        self.raw = []               # every received line (text)
        self.eof = False
        self.msgid = 0
        self.enonce1 = None
        self.enonce2_size = 8
        self.difficulty = None
        self.job = None             # params of the latest mining.notify
        self.nonce2 = 0
        self.worker = None
        self.on_message = on_message

    # ---- transport ---------------------------------------------------------------
    def send(self, method, params):
        self.msgid += 1
        line = json.dumps({'id': self.msgid, 'method': method, 'params': params})
        self.sock.sendall(line.encode() + b'\n')
        return self.msgid

    def send_raw(self, text):
        self.sock.sendall(text.encode() + b'\n')

    def _read_some(self, timeout):
        """Read what is available within timeout; returns False on timeout."""
        if self.eof:
            return False
        ready, _wr, _ex = select.select([self.sock], [], [], max(timeout, 0))
        if not ready:
            return False
        try:
            data = self.sock.recv(65536)
        except OSError:
            data = b''
        if not data:
            self.eof = True
            return True
        self.buf += data
        while b'\n' in self.buf:
            line, self.buf = self.buf.split(b'\n', 1)
            text = line.decode('utf-8', 'replace').strip()
            if not text:
                continue
            self.raw.append(text)
            try:
                msg = json.loads(text)
            except ValueError:
                msg = {'_invalid': text}
            self._track(msg)
            self.received.append(msg)
            if self.on_message is not None:
                self.on_message(text)
        return True

    def _track(self, msg):
        method = msg.get('method') if isinstance(msg, dict) else None
        if method == 'mining.notify':
            self.job = msg.get('params')
        elif method == 'mining.set_difficulty':
            params = msg.get('params') or [None]
            self.difficulty = params[0]

    def wait_for(self, predicate, timeout=5.0, since=0):
        """First received message (from index since) matching predicate, reading until the deadline.

        Raises TimeoutError at the deadline and StratumEOF when the pool closed the connection
        before a matching message arrived.
        """
        deadline = time.monotonic() + timeout
        index = since
        while True:
            while index < len(self.received):
                msg = self.received[index]
                index += 1
                if predicate(msg):
                    return msg
            if self.eof:
                raise StratumEOF('connection closed by the pool')
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError('no matching stratum message within %.1f s' % timeout)
            self._read_some(remaining)

    def response(self, msgid, timeout=5.0):
        return self.wait_for(lambda m: isinstance(m, dict) and m.get('id') == msgid and 'method' not in m,
                             timeout)

    def wait_eof(self, timeout=5.0):
        """True when the pool closes the connection within timeout (other messages are kept)."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._read_some(remaining)
        return True

    def drain(self, timeout=0.2):
        """Read whatever arrives within timeout."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read_some(remaining):
                break

    # ---- stratum -----------------------------------------------------------------
    def subscribe(self, agent='ckpool-fleet-miner/1.0', timeout=5.0):
        reply = self.response(self.send('mining.subscribe', [agent]), timeout)
        result = reply.get('result')
        if isinstance(result, list) and len(result) >= 3:
            self.enonce1 = result[1]
            self.enonce2_size = int(result[2])
        # ckpool sends set_difficulty (and, except in solo mode where work follows the
        # authorisation, the first notify) right after the reply
        first_work = ('mining.set_difficulty', 'mining.notify')
        self.wait_for(lambda m: isinstance(m, dict) and m.get('method') in first_work, timeout)
        self.drain(0.05)
        return reply

    def authorize(self, worker, password='x', timeout=5.0):
        self.worker = worker
        reply = self.response(self.send('mining.authorize', [worker, password]), timeout)
        return reply.get('result') is True

    def submit(self, nonce=None, timeout=5.0, job=None):
        """Submit one share on the latest job; returns the pool's reply (a dict)."""
        if job is None and self.job is None:
            self.wait_for(lambda m: isinstance(m, dict) and m.get('method') == 'mining.notify', timeout)
        job = job or self.job
        if job is None:
            raise RuntimeError('no job received yet')
        self.nonce2 += 1
        nonce2 = '%0*x' % (self.enonce2_size * 2, self.nonce2)
        if nonce is None:
            nonce = '%08x' % random.randint(1, 0xfffffffe)
            while nonce in ('00000000', 'b10cb10c'):
                nonce = '%08x' % random.randint(1, 0xfffffffe)
        msgid = self.send('mining.submit', [self.worker, job[0], nonce2, job[7], nonce])
        return self.response(msgid, timeout)

    def reconnects(self):
        return [m for m in self.received if isinstance(m, dict) and m.get('method') == 'client.reconnect']

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------------------
# Command line miner
# --------------------------------------------------------------------------------------

PRINT_LOCK = threading.Lock()


def emit(conn, event, **fields):
    record = {'t': round(time.time(), 3), 'conn': conn, 'event': event}
    record.update(fields)
    with PRINT_LOCK:
        sys.stdout.write(json.dumps(record) + '\n')
        sys.stdout.flush()


def run_connection(index, worker, args, stop):
    host, port = args.host, args.port
    while not stop.is_set():
        try:
            client = StratumClient(host, port, timeout=args.timeout,
                                   on_message=lambda text: emit(index, 'recv', line=text))
        except OSError as exc:
            emit(index, 'error', error='connect %s:%s: %s' % (host, port, exc))
            if stop.wait(args.retry):
                return
            continue
        emit(index, 'connected', host=host, port=int(port), worker=worker)
        target = None
        try:
            client.subscribe(agent=args.agent, timeout=args.timeout)
            if not client.authorize(worker, timeout=args.timeout):
                emit(index, 'error', error='authorisation refused')
            next_submit = time.monotonic() + args.interval
            seen = 0
            while not stop.is_set():
                if args.interval > 0:
                    client.drain(min(0.2, max(next_submit - time.monotonic(), 0.001)))
                else:
                    client.drain(0.2)
                for msg in client.received[seen:]:
                    if isinstance(msg, dict) and msg.get('method') == 'client.reconnect':
                        params = msg.get('params') or []
                        target = (params[0], params[1]) if len(params) >= 2 else (host, port)
                seen = len(client.received)
                if client.eof:
                    emit(index, 'eof')
                    break
                if target is not None and args.follow_reconnect:
                    emit(index, 'reconnect', host=target[0], port=target[1])
                    break
                if args.interval > 0 and time.monotonic() >= next_submit and client.job is not None:
                    client.nonce2 += 1
                    nonce = args.nonce or '%08x' % random.randint(1, 0xfffffff0)
                    msgid = client.send('mining.submit', [worker, client.job[0],
                                                          '%0*x' % (client.enonce2_size * 2, client.nonce2),
                                                          client.job[7], nonce])
                    emit(index, 'sent', id=msgid, method='mining.submit')
                    next_submit = time.monotonic() + args.interval
        except TimeoutError as exc:
            emit(index, 'error', error=str(exc))
        except (OSError, StratumEOF):
            emit(index, 'eof')
        finally:
            client.close()
        if stop.is_set():
            return
        if target is not None and args.follow_reconnect:
            host, port = target
            continue
        if not args.reconnect_on_eof:
            return
        if stop.wait(args.retry):
            return


def main(argv=None):
    parser = argparse.ArgumentParser(description='stratum test miner (prints JSON lines)')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--connections', type=int, default=1)
    parser.add_argument('--user', action='append', default=[],
                        help='user name (repeatable); workers are USER.rigN')
    parser.add_argument('--worker', action='append', default=[], help='explicit worker names (repeatable)')
    parser.add_argument('--interval', type=float, default=5.0, help='seconds between shares (0: never)')
    parser.add_argument('--nonce', default=None, help='fixed nonce (b10cb10c solves a block on the simulator)')
    parser.add_argument('--duration', type=float, default=0, help='stop after this many seconds (0: run forever)')
    parser.add_argument('--timeout', type=float, default=5.0)
    parser.add_argument('--retry', type=float, default=1.0)
    parser.add_argument('--agent', default='ckpool-fleet-miner/1.0', help='user agent sent in mining.subscribe')
    parser.add_argument('--follow-reconnect', action='store_true',
                        help='on client.reconnect, reconnect (to HOST:PORT when given)')
    parser.add_argument('--reconnect-on-eof', action='store_true')
    args = parser.parse_args(argv)
    workers = list(args.worker)
    users = [u for spec in args.user for u in spec.split(',') if u] or ['miner']
    while len(workers) < args.connections:
        user = users[len(workers) % len(users)]
        workers.append('%s.rig%d' % (user, len(workers) // len(users) + 1))
    stop = threading.Event()
    threads = []
    for index in range(args.connections):
        thread = threading.Thread(target=run_connection, args=(index, workers[index], args, stop), daemon=True)
        thread.start()
        threads.append(thread)
    try:
        deadline = time.monotonic() + args.duration if args.duration else None
        while any(t.is_alive() for t in threads):
            if deadline is not None and time.monotonic() >= deadline:
                break
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    stop.set()
    for thread in threads:
        thread.join(2)
    emit(-1, 'done')
    return 0


if __name__ == '__main__':
    sys.exit(main())
