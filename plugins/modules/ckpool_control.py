#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: ckpool_control
short_description: Send a control verb to a running ckpool instance (accept, reject, reconnect, redirect, dropall)
version_added: 0.1.0
description:
  - Sends one of ckpool's control verbs to the socket that really acts on it and checks ckpool's answer.
  - V(accept) and V(reject) (listener, answers C(accepting) / C(rejecting), forwarded to the connector) make
    ckpool accept or refuse B(new) miner connections. Miners already connected stay connected.
  - V(reconnect) (listener, answers C(reconnecting)) sends every connected miner a C(client.reconnect) without
    parameters, asking it to reconnect to this same pool.
  - 'V(redirect) (listener, answers C(reconnecting)) sends C(reconnect:HOST,PORT) built from O(target): every
    connected miner receives C({"id":null,"method":"client.reconnect","params":["HOST","PORT",0]}) (the port as a
    string), which asks it to move to that other pool. Miners that connect later are not redirected; combine it
    with V(reject) to drain a pool.'
  - V(dropall) closes the TCP connection of every connected miner. It is sent to the B(stratifier) socket, which
    acts on it and answers nothing (it closes the control connection, which is its success answer). The listener
    of upstream ckpool answers C(unknown) to C(dropall) and does nothing, so the module never sends it there.
    Miners usually reconnect at once unless the pool rejects new connections.
  - V(resetshares) (listener, answers C(resetting)) resets the best-share statistics ckpool keeps for users
    and workers.
  - A listener verb succeeds only with its one reply (C(accepting), C(rejecting), C(reconnecting),
    C(resetting)); any other answer, or none, fails the module. For V(dropall) a stratifier that answers
    anything fails the module, as a real one never does.
  - ckpool cannot report whether it is accepting, which miners followed a reconnect, or any other state these
    verbs change, so the module cannot be idempotent; it reports V(changed=true) whenever a verb is sent.
author:
  - ckpool.fleet contributors (@ckpool-fleet)
extends_documentation_fragment:
  - ckpool.fleet.ckpool
  - ckpool.fleet.ckpool.attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode only C(ping) is sent to the listener. The module validates its input, checks that the
        instance runs (its listener answers or at least accepts the connection) and that the socket file exists,
        and returns the RV(command) it would send with V(changed=true); it fails like a real run would when the
        instance is not running.
  diff_mode:
    support: none
  action_group:
    support: full
options:
  verb:
    description:
      - The control verb to send. See the description for the effect of each and the socket it goes to.
    type: str
    required: true
    choices: [accept, reject, reconnect, redirect, dropall, resetshares]
  target:
    description:
      - The pool to move miners to, as C(HOST:PORT). Required with O(verb=redirect), not allowed otherwise.
      - C(HOST) is a host name (RFC 1123 letters, digits and hyphens in dot-separated labels of at most 63
        characters, 253 in total, no trailing dot) or an IPv4 address in dotted-quad form without leading
        zeros. C(PORT) is a decimal number from 1 to 65535, sent without leading zeros.
      - Whitespace, control characters, commas, a second colon and anything else outside that syntax are
        refused, so nothing can be smuggled into ckpool's C(reconnect:HOST,PORT) command.
      - IPv6 literals (C([::1]:3334)) are refused. ckpool itself would pass one through (it splits the command
        at the first colon and the first comma), but miners disagree on the form of the host in
        C(client.reconnect) (some join host and port as C(HOST:PORT) and need brackets, others resolve the host
        as given and fail on brackets), so no form is safe for every miner. Use a host name with an AAAA record.
    type: str
notes:
  - Miners decide themselves whether to follow C(client.reconnect). cgminer and firmware derived from it refuse
    a redirect unless the new host name has the same part after its first dot as the pool they are connected to
    (C(pool.example.com) may send them to C(backup.example.com), not to C(backup.example.net) or to an IP
    address). Check what your miners receive, for example with RV(commands) and the miners' logs, before relying
    on a redirect to drain a pool.
  - ckpool serves one client at a time on each socket; the verb is sent in one frame with one deadline
    (O(timeout)).
seealso:
  - module: ckpool.fleet.ckpool_info
  - module: ckpool.fleet.ckpool_dropuser
  - module: ckpool.fleet.ckpool_shutdown
'''

EXAMPLES = r'''
- name: Stop accepting new miner connections
  ckpool.fleet.ckpool_control:
    socket_dir: /run/ckpool
    verb: reject

- name: Ask every connected miner to move to the backup pool
  ckpool.fleet.ckpool_control:
    socket_dir: /run/ckpool
    verb: redirect
    target: backup.example.com:3333
  register: moved

- name: Show what the miners were told
  ansible.builtin.debug:
    msg: "{{ moved.command }} -> {{ moved.reply }}"

- name: Close every miner connection (sent to the stratifier, which answers nothing)
  ckpool.fleet.ckpool_control:
    socket_dir: /run/ckpool
    verb: dropall

- name: Accept miners again after maintenance
  ckpool.fleet.ckpool_control:
    socket_dir: /run/ckpool
    verb: accept

- name: Reset the best-share statistics
  ckpool.fleet.ckpool_control:
    socket_dir: /run/ckpool
    verb: resetshares
'''

RETURN = r'''
verb:
  description: The verb requested.
  returned: always
  type: str
  sample: redirect
socket:
  description: The socket the command was (or in check mode would be) sent to, C(listener) or C(stratifier).
  returned: always
  type: str
  sample: listener
command:
  description: The exact command text sent, or in check mode the text that would be sent.
  returned: always
  type: str
  sample: reconnect:backup.example.com,3333
reply:
  description:
    - ckpool's reply, C(accepting), C(rejecting), C(reconnecting) or C(resetting).
    - Null for V(dropall) (the stratifier answers by closing the connection) and in check mode.
  returned: always
  type: str
  sample: reconnecting
target:
  description: The validated redirect target, with the port as an integer.
  returned: when O(verb=redirect)
  type: dict
  contains:
    host:
      description: Host name or IPv4 address the miners are sent to.
      type: str
    port:
      description: Port the miners are sent to.
      type: int
  sample: {"host": "backup.example.com", "port": 3333}
pid:
  description:
    - The process that listens on the socket the verb went to (in check mode, the one proven to serve the socket
      directory), as the kernel names it; null when unknown. C(main.pid) is not used.
  returned: always
  type: int
  sample: 4242
sent:
  description:
    - Whether the command reached ckpool. V(false) in check mode and when the socket could not be reached; V(true)
      also when ckpool's answer then failed the module (the verb may have acted).
  returned: always
  type: bool
  sample: true
commands:
  description:
    - Every command sent to ckpool during this run, in order (none in check mode). C(reply) is null when ckpool
      closed the connection without answering.
  returned: always
  type: list
  elements: dict
  sample: [{"socket": "listener", "command": "reconnect:backup.example.com,3333", "reply": "reconnecting", "ms": 0.3}]
socket_dir:
  description: The socket directory the module worked on.
  returned: always
  type: str
  sample: /run/ckpool
'''

import os
import re

from ansible_collections.ckpool.fleet.plugins.module_utils.ckpool import CkpoolError
from ansible_collections.ckpool.fleet.plugins.module_utils.module_base import CkpoolModule

# verb -> (socket, command, the one successful reply; None = EOF is the answer)
VERBS = {
    'accept': ('listener', 'accept', 'accepting'),
    'reject': ('listener', 'reject', 'rejecting'),
    'reconnect': ('listener', 'reconnect', 'reconnecting'),
    'redirect': ('listener', None, 'reconnecting'),
    'dropall': ('stratifier', 'dropall', None),
    'resetshares': ('listener', 'resetshares', 'resetting'),
}

_LABEL = re.compile(r'^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$')
_OCTET = re.compile(r'^(?:0|[1-9][0-9]{0,2})$')
_PORT = re.compile(r'^[0-9]{1,5}$')
_ALLOWED = re.compile(r'^[A-Za-z0-9.:-]+$')


def parse_target(text):
    """Validate ``HOST:PORT`` and return ``(host, port)``; raise ValueError naming the problem."""
    if not isinstance(text, str) or not text:
        raise ValueError('target must be a non-empty HOST:PORT string')
    if len(text) > 253 + 6:
        raise ValueError('target is too long (%d characters)' % len(text))
    for char in text:
        if ord(char) < 32 or ord(char) == 127 or ord(char) > 126:
            raise ValueError('target contains a control or non-ASCII character %r' % char)
        if char.isspace():
            raise ValueError('target contains whitespace')
    if ',' in text:
        raise ValueError('target contains a comma, which would change the HOST,PORT of ckpool\'s reconnect command')
    if '[' in text or ']' in text or text.count(':') > 1:
        raise ValueError('target has brackets or more than one colon: IPv6 addresses are not supported (miners '
                         'disagree on how to read them in client.reconnect); use a host name with an AAAA record')
    if not _ALLOWED.match(text):
        raise ValueError('target may only contain letters, digits, dots, hyphens and one colon before the port')
    if text.count(':') != 1:
        raise ValueError('target must be HOST:PORT, got %r (no port)' % text)
    host, port_text = text.split(':')
    if not host:
        raise ValueError('target has an empty host')
    if not _PORT.match(port_text):
        raise ValueError('target port must be a decimal number from 1 to 65535, got %r' % port_text)
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError('target port must be from 1 to 65535, got %d' % port)
    validate_host(host)
    return host, port


def validate_host(host):
    if len(host) > 253:
        raise ValueError('target host name is longer than 253 characters')
    if host.endswith('.'):
        raise ValueError('target host must not end with a dot')
    labels = host.split('.')
    if labels[-1].isdigit():
        # all-numeric last label: it must be a dotted-quad IPv4 address
        if len(labels) != 4 or not all(_OCTET.match(octet) and int(octet) <= 255 for octet in labels):
            raise ValueError('target host %r is neither a valid IPv4 address (four octets 0-255, no leading '
                             'zeros) nor a host name' % host)
        return
    for label in labels:
        if not _LABEL.match(label):
            raise ValueError('target host %r is not a valid host name: label %r must be 1-63 letters, digits or '
                             'hyphens, not starting or ending with a hyphen' % (host, label))


def build_command(verb, target):
    sock, command, wanted = VERBS[verb]
    target_info = None
    if verb == 'redirect':
        host, port = parse_target(target)
        command = 'reconnect:%s,%d' % (host, port)
        target_info = dict(host=host, port=port)
    return sock, command, wanted, target_info


def main():
    cm = CkpoolModule(argument_spec=dict(
        verb=dict(type='str', required=True, choices=sorted(VERBS)),
        target=dict(type='str'),
    ), supports_check_mode=True, required_if=[('verb', 'redirect', ('target',))])
    client = cm.client
    verb = cm.params['verb']
    target = cm.params['target']

    result = dict(verb=verb, socket=VERBS[verb][0], command=None, reply=None, pid=None, sent=False)
    if target is not None and verb != 'redirect':
        cm.fail('target is only used with verb=redirect, not with verb=%s' % verb, **result)
    try:
        sock, command, wanted, target_info = build_command(verb, target)
    except ValueError as exc:
        cm.fail('invalid target %r: %s' % (target, exc), **result)
    result['command'] = command
    if target_info is not None:
        result['target'] = target_info

    if cm.check_mode:
        live = cm.liveness()
        result['pid'] = live['pid']
        if not live['running']:
            cm.fail('%s: %s would fail' % (cm.not_running_text(live), verb), **result)
        if not os.path.exists(client.path(sock)):
            cm.fail('socket %s does not exist: %s would fail' % (client.path(sock), verb), **result)
        cm.exit(changed=True, **result)

    try:
        if verb == 'dropall':
            client.dropall()
        elif verb == 'redirect':
            result['reply'] = client.redirect(target_info['host'], target_info['port'])
        else:
            result['reply'] = client.listener_verb(command)
    except CkpoolError as exc:
        if exc.sent and client.audit:
            result['reply'] = client.audit[-1].get('reply')
        result['sent'] = exc.sent
        result['pid'] = _peer_pid(client, sock)
        cm.fail_from(exc, prefix='%s failed' % verb, **result)
    result['sent'] = True
    result['pid'] = _peer_pid(client, sock)
    cm.exit(changed=True, **result)


def _peer_pid(client, sock):
    """The process the kernel named as listening on the socket the verb went to, or None."""
    peer = client.peers.get(sock)
    return peer[0] if peer else None


if __name__ == '__main__':
    main()
