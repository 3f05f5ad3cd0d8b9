# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real AF_UNIX server in a thread, speaking ckpool's framing, for unit tests.

``Server(path, behaviour)`` accepts one client at a time (like ckpool), reads one
framed message and calls ``behaviour(conn, message)``; a behaviour that returns
``'hold'`` keeps the connection open (a hang) until the server is closed.
"""


import socket
import struct
import threading


def recv_frame(conn):
    """Read one 4-byte little-endian length + message frame; None on EOF before a header."""
    header = b''
    while len(header) < 4:
        chunk = conn.recv(4 - len(header))
        if not chunk:
            return None
        header += chunk
    length = struct.unpack('<I', header)[0]
    body = b''
    while len(body) < length:
        chunk = conn.recv(length - len(body))
        if not chunk:
            break
        body += chunk
    return body.decode()


def send_frame(conn, text):
    data = text.encode()
    conn.sendall(struct.pack('<I', len(data)) + data)


def reply(text):
    """Behaviour: answer every message with ``text``."""
    def behaviour(conn, message):
        send_frame(conn, text)
    return behaviour


def eof(conn, message):
    """Behaviour: close without a reply (ckpool's silent answer)."""
    return None


def hang(conn, message):
    """Behaviour: never answer, keep the connection open."""
    return 'hold'


class Server:
    """One unix stream socket served by a thread; ``behaviour(conn, message)`` answers."""

    def __init__(self, path, behaviour):
        self.path = path
        self.behaviour = behaviour
        self.received = []
        self.held = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            try:
                conn, dummy = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(5)
            try:
                message = recv_frame(conn)
                self.received.append(message)
                if self.behaviour(conn, message) == 'hold':
                    self.held.append(conn)
                    continue
            except OSError:
                pass
            conn.close()

    def close(self):
        self.stop.set()
        self.thread.join(2)
        self.sock.close()
        for conn in self.held:
            conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
