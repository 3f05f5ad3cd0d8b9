# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Assertions of the maintenance_playbook target (exit 1 with a message when one fails).

    check.py connections --sock DIR --equal N     connector's open connections == N (waits up to 10 s)
    check.py mark --log FILE                      prints the number of command-log entries
    check.py no-mutation --log FILE --since N     entries after N are read-only commands only
    check.py sent --log FILE --since N --pid P --expect CMD...
                                                  the mutating commands pid P received after N, in order
    check.py received --jsonl FILE --reconnects N [--line TEXT] [--eof]
                                                  what a miner.py process received
    check.py marker --file FILE --running BOOL --drained BOOL
"""

import argparse
import json
import socket
import struct
import sys
import time

READ_ONLY = ('ping', 'stats', 'stratifierstats', 'connectorstats')


def fail(message):
    sys.stderr.write('check.py: FAILED: %s\n' % message)
    sys.exit(1)


def request(path, command, timeout=2.0):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        data = command.encode()
        sock.sendall(struct.pack('<I', len(data)) + data)
        sock.shutdown(socket.SHUT_WR)
        raw = b''
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            raw += chunk
    finally:
        sock.close()
    if len(raw) < 4:
        return None
    return raw[4:4 + struct.unpack('<I', raw[:4])[0]].decode()


def entries(path):
    with open(path) as handle:
        return [json.loads(line) for line in handle.read().splitlines() if line.strip()]


def connections(args):
    deadline = time.monotonic() + 10
    count = None
    while time.monotonic() < deadline:
        try:
            count = json.loads(request(args.sock + '/listener', 'connectorstats'))['clients']['count']
        except (OSError, ValueError, TypeError, KeyError) as exc:
            count = 'error %r' % (exc,)
        if count == args.equal:
            print('connections: %s' % count)
            return
        time.sleep(0.1)
    fail('%s: %s open connections, expected %d' % (args.sock, count, args.equal))


def mark(args):
    print(len(entries(args.log)))


def no_mutation(args):
    bad = [e for e in entries(args.log)[args.since:] if e['command'].lower() not in READ_ONLY]
    if bad:
        fail('commands that change the pool were sent: %r' % bad)
    print('no mutating command since entry %d' % args.since)


def sent(args):
    got = [e['command'] for e in entries(args.log)[args.since:]
           if e['pid'] == args.pid and e['command'].lower() not in READ_ONLY]
    if got != args.expect:
        fail('pid %d received %r, expected %r' % (args.pid, got, args.expect))
    print('pid %d received %r' % (args.pid, got))


def received(args):
    deadline = time.monotonic() + 10
    while True:
        with open(args.jsonl) as handle:
            events = [json.loads(line) for line in handle.read().splitlines() if line.strip()]
        lines = [e['line'] for e in events if e['event'] == 'recv' and 'client.reconnect' in e['line']]
        eof = any(e['event'] == 'eof' for e in events)
        ok = len(lines) == args.reconnects and (not args.eof or eof)
        if ok or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if len(lines) != args.reconnects:
        fail('%s: %d client.reconnect lines %r, expected %d' % (args.jsonl, len(lines), lines, args.reconnects))
    if args.line is not None and any(line != args.line for line in lines):
        fail('%s: received %r, expected exactly %r' % (args.jsonl, lines, args.line))
    if args.eof and not eof:
        fail('%s: the connection was not closed' % args.jsonl)
    print('%s: %r eof=%s' % (args.jsonl, lines, eof))


def marker(args):
    with open(args.file) as handle:
        data = json.load(handle)
    want_running = args.running == 'true'
    want_drained = args.drained == 'true'
    if data['running'] is not want_running:
        fail('ckpool running during the maintenance tasks: %r, expected %r' % (data['running'], want_running))
    if data['drain']['drained'] is not want_drained:
        fail('drain report %r, expected drained=%r' % (data['drain'], want_drained))
    print('marker: %r' % data)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest='what', required=True)
    p = sub.add_parser('connections')
    p.add_argument('--sock', required=True)
    p.add_argument('--equal', type=int, required=True)
    p = sub.add_parser('mark')
    p.add_argument('--log', required=True)
    p = sub.add_parser('no-mutation')
    p.add_argument('--log', required=True)
    p.add_argument('--since', type=int, required=True)
    p = sub.add_parser('sent')
    p.add_argument('--log', required=True)
    p.add_argument('--since', type=int, required=True)
    p.add_argument('--pid', type=int, required=True)
    p.add_argument('--expect', nargs='*', default=[])
    p = sub.add_parser('received')
    p.add_argument('--jsonl', required=True)
    p.add_argument('--reconnects', type=int, required=True)
    p.add_argument('--line')
    p.add_argument('--eof', action='store_true')
    p = sub.add_parser('marker')
    p.add_argument('--file', required=True)
    p.add_argument('--running', choices=['true', 'false'], required=True)
    p.add_argument('--drained', choices=['true', 'false'], required=True)
    args = parser.parse_args()
    {'connections': connections, 'mark': mark, 'no-mutation': no_mutation, 'sent': sent,
     'received': received, 'marker': marker}[args.what](args)


if __name__ == '__main__':
    main()
