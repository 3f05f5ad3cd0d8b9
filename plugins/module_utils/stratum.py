# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stratum-level readiness probe: does the pool serve a miner?

A TCP connect alone proves little: the kernel completes connects into a listening
socket's backlog although the process behind it is stopped (SIGSTOP, a paused VM, a
frozen cgroup) or has stopped accepting (ckpool's ``reject``).  This probe connects,
sends one ``mining.subscribe`` and requires a valid answer (a ``result`` list whose
second element is the hex extranonce1) within ONE deadline that covers name
resolution, connect, send and receive.

It never sends ``mining.authorize``: an authorisation creates the user in ckpool.  A
subscription creates only a connection record that ckpool drops when the probe closes
the connection.

Standard library only; runs on the managed host's Python 3.6+.
"""

import errno
import json
import socket
import threading
import time

SUBSCRIBE_ID = 1
# Bytes read at most before the answer must have arrived (a notify with a long
# merkle branch is a few KiB; anything far beyond that is not a stratum pool).
MAX_READ = 256 * 1024
DEFAULT_USER_AGENT = 'ckpool.fleet-probe'

# Outcome kinds (``kind`` in the result).
OK = 'ok'
RESOLVE_FAILED = 'resolve_failed'
REFUSED = 'refused'
CONNECT_TIMEOUT = 'connect_timeout'
CONNECT_ERROR = 'connect_error'
NO_ANSWER = 'no_answer'
CLOSED = 'closed'
ERROR_REPLY = 'error_reply'
MALFORMED = 'malformed_reply'

# Kinds after which the TCP connection had been established.
CONNECTED_KINDS = frozenset((OK, NO_ANSWER, CLOSED, ERROR_REPLY, MALFORMED))


class _Deadline(object):
    def __init__(self, seconds):
        self.started = time.monotonic()
        self.end = self.started + seconds

    def left(self):
        return self.end - time.monotonic()

    def elapsed_ms(self):
        return round((time.monotonic() - self.started) * 1000.0, 3)


def subscribe_request(user_agent=DEFAULT_USER_AGENT):
    """The bytes of the one request the probe sends."""
    params = [user_agent] if user_agent else []
    return (json.dumps({'id': SUBSCRIBE_ID, 'method': 'mining.subscribe', 'params': params},
                       separators=(',', ':')) + '\n').encode('utf-8')


def resolve(host, port, seconds):
    """getaddrinfo within a deadline (the resolver itself has none).

    Returns a list of (family, sockaddr); raises socket.gaierror or socket.timeout."""
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    except socket.gaierror:
        infos = None
    if infos is None:
        box = {}

        def lookup():
            try:
                box['infos'] = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
            except (socket.gaierror, UnicodeError, OSError) as exc:
                box['error'] = exc

        worker = threading.Thread(target=lookup, name='stratum-resolve')
        worker.daemon = True
        worker.start()
        worker.join(max(seconds, 0.0))
        if worker.is_alive():
            raise socket.timeout('name resolution did not finish')
        if 'error' in box:
            error = box['error']
            if isinstance(error, socket.gaierror):
                raise error
            raise socket.gaierror(str(error))
        infos = box['infos']
    return [(info[0], info[4]) for info in infos]


def check_subscribe_answer(message):
    """Validate the pool's answer to our subscribe.

    Returns (kind, detail, extra) with kind OK, ERROR_REPLY or MALFORMED."""
    error = message.get('error')
    if error not in (None, False):
        return ERROR_REPLY, 'the pool answered mining.subscribe with an error: %s' % (json.dumps(error)[:200],), {}
    result = message.get('result')
    if not isinstance(result, list) or len(result) < 2:
        return MALFORMED, 'the answer to mining.subscribe has no result list: %s' % (json.dumps(result)[:200],), {}
    enonce1 = result[1]
    if not isinstance(enonce1, str) or not enonce1 or any(c not in '0123456789abcdefABCDEF' for c in enonce1):
        return MALFORMED, 'the answer to mining.subscribe has no hex extranonce1: %s' % (json.dumps(enonce1)[:80],), {}
    extra = dict(extranonce1=enonce1)
    if len(result) > 2:
        size = result[2]
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            return MALFORMED, 'the answer to mining.subscribe has an invalid extranonce2 size: %r' % (size,), {}
        extra['extranonce2_size'] = size
    return OK, 'mining.subscribe answered', extra


def _read_answer(sock, deadline):
    """Read newline-delimited JSON until our id answers.

    Returns (kind, detail, extra)."""
    buf = b''
    total = 0
    while True:
        left = deadline.left()
        if left <= 0:
            return NO_ANSWER, None, {}
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return NO_ANSWER, None, {}
        except (IOError, OSError) as exc:
            return CLOSED, 'the connection failed before an answer: %s' % exc, {}
        if not chunk:
            return CLOSED, 'the pool closed the connection without answering mining.subscribe', {}
        total += len(chunk)
        buf += chunk
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            line = line.strip()
            if not line:
                continue
            try:
                message = json.loads(line.decode('utf-8'))
            except (ValueError, UnicodeDecodeError):
                return MALFORMED, 'the pool sent a line that is not JSON: %r' % (line[:80],), {}
            if isinstance(message, dict) and message.get('id') == SUBSCRIBE_ID and 'method' not in message:
                return check_subscribe_answer(message)
            # a notification (set_difficulty, notify, ...) before our answer: keep reading
        if total > MAX_READ:
            return MALFORMED, 'read %d bytes without an answer to mining.subscribe' % total, {}


def probe(host, port, timeout=3.0, user_agent=DEFAULT_USER_AGENT):
    """Connect to HOST:PORT, subscribe, require a valid answer; all within ``timeout`` seconds.

    :returns: ``{"ok": bool, "kind": one of the kinds above, "message": text,
        "address": the address connected to (or None), "connected": bool,
        "connect_ms": float or None, "ms": total float, "extranonce1",
        "extranonce2_size" (on success)}``.  Never raises for network problems.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError('stratum port must be an integer 1-65535, got %r' % (port,))
    if timeout is None or timeout <= 0:
        raise ValueError('stratum probe timeout must be positive, got %r' % (timeout,))
    deadline = _Deadline(float(timeout))
    result = dict(ok=False, kind=None, message=None, address=None, connected=False, connect_ms=None, ms=None)

    def finish(kind, message, **extra):
        result.update(kind=kind, ok=(kind == OK), message=message, ms=deadline.elapsed_ms())
        result.update(extra)
        return result

    try:
        addresses = resolve(host, port, deadline.left())
    except socket.timeout:
        return finish(RESOLVE_FAILED, 'cannot resolve %s within %.1f s' % (host, timeout))
    except socket.gaierror as exc:
        return finish(RESOLVE_FAILED, 'cannot resolve %s: %s' % (host, exc))
    if not addresses:
        return finish(RESOLVE_FAILED, 'cannot resolve %s: no address' % host)

    sock = None
    last_kind, last_message = CONNECT_ERROR, 'no address to connect to'
    for family, sockaddr in addresses:
        left = deadline.left()
        if left <= 0:
            last_kind, last_message = CONNECT_TIMEOUT, 'no TCP connection within %.1f s' % timeout
            break
        candidate = socket.socket(family, socket.SOCK_STREAM)
        try:
            candidate.settimeout(left)
            candidate.connect(sockaddr)
        except socket.timeout:
            candidate.close()
            last_kind, last_message = CONNECT_TIMEOUT, 'no TCP connection within %.1f s' % timeout
            continue
        except (IOError, OSError) as exc:
            candidate.close()
            if getattr(exc, "errno", None) == errno.ECONNREFUSED:
                last_kind, last_message = REFUSED, 'connection refused by %s' % (sockaddr[0],)
            else:
                last_kind, last_message = CONNECT_ERROR, 'cannot connect to %s: %s' % (sockaddr[0], exc)
            continue
        sock = candidate
        result['address'] = sockaddr[0]
        break
    if sock is None:
        return finish(last_kind, last_message)

    result['connected'] = True
    result['connect_ms'] = deadline.elapsed_ms()
    try:
        try:
            sock.settimeout(max(deadline.left(), 0.001))
            sock.sendall(subscribe_request(user_agent))
        except socket.timeout:
            return finish(NO_ANSWER, 'could not send mining.subscribe within %.1f s' % timeout)
        except (IOError, OSError) as exc:
            return finish(CLOSED, 'the connection failed while sending mining.subscribe: %s' % exc)
        kind, detail, extra = _read_answer(sock, deadline)
        if kind == NO_ANSWER:
            detail = ('TCP connect accepted in %.1f ms but no answer to mining.subscribe within %.1f s '
                      '(a stopped or non-accepting pool: the kernel completes connects into the backlog)'
                      % (result['connect_ms'] or 0.0, timeout))
        return finish(kind, detail, **extra)
    finally:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except (IOError, OSError):
            pass
        sock.close()
