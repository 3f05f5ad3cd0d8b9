# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A faithful stand-in for the ckpool binary, for tests and demos.

Every behaviour below reproduces an observation recorded in
``PROTOCOL.md`` and its captures (see ``README.md`` beside this file for the
behaviour -> source table).  Standard library only, Python 3.11.

Threads (all daemon threads; the process ends with ``os._exit``):

* one serial accept loop per control socket (``listener``, ``stratifier``,
  ``connector``, ``generator``): each socket serves ONE client at a time;
* with ``--sim-slow-connector`` a connector processor thread that handles the
  queued connector messages only on 5-second boundaries since process start;
* the stratum acceptor (``serverurl``) and one reader thread per miner;
* a ticker thread: ``pool/pool.status`` + ``users/*`` + ``Pool:`` log lines
  (first write 1 s after start, then every ``--sim-status-interval`` s), a new
  ``mining.notify`` every 30 s, and ckpool's 60 s stats update.
"""

import argparse
import ctypes
import hashlib
import json
import os
import queue
import random
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

SCRIPT = os.path.abspath(__file__)
SOCKET_NAMES = ('listener', 'stratifier', 'connector', 'generator')

LOG_EMERG, LOG_ALERT, LOG_CRIT, LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG = range(8)

IDLE_TIMEOUT = 5.0            # recv_unix_msg: 5 s for the header, 5 s for the body (UNIX_READ_TIMEOUT)
MAX_MSGLEN = 64 * 1024 * 1024  # larger length headers are refused at once (see README)
CONNECTOR_BOUNDARY = 5.0      # slow connector: messages handled on 5 s boundaries
UPDATE_INTERVAL = 30          # ckpool.conf update_interval default: new work every 30 s
STATSUPDATE_INTERVAL = 60     # ckpool's statsupdate thread runs every 60 s
HANDOVER_WAIT = 0.5           # new process waits 500 ms, then SIGTERM, 500 ms, SIGKILL
KILLOLD_STARTUP_DELAY = 1.0   # -k: extra startup delay (real ckpool: ~1.5 s refused window)
DROP_DELAY = 1.0              # message from a client whose record was dropped: TCP closed ~1 s later
UNAUTH_DROP_AGE = 60          # subscribed but never authorised: dropped by the stats update

DIFF1 = 0x00000000FFFF0000000000000000000000000000000000000000000000000000
INITIAL_PREVHASH = '6f8a5aba86c0befde0687be8d1596aee48bd3d2fbb8f475820c0203b12f48237'
INITIAL_HEIGHT = 102
NBITS = '207fffff'
NETWORK_DIFF = 4.6565423739069247e-10
BLOCK_NONCE = 'b10cb10c'       # a share with this nonce solves a block
REJECT_NONCE = '00000000'      # a share with this nonce is rejected "Above target"
COINB2 = ('0a636b706f6f6c0a2f7265616c706f6f6c2fffffffff0100f2052a010000001976a914597da9b96d3f'
          '6522535d265633ba86998130d18c88ac00000000')
POOL_DIFF_TARGET = 1000.0      # "diff" in pool.status: % of this many diff-1 shares since the last block
SYNTHETIC_DIFF = 65536         # share difficulty assumed for synthetic workers (SPS only)

PACKAGE_VERSION = 'ckpool/0.9.9'   # PACKAGE"/"VERSION sent by passthroughs/proxies upstream (value not observed)
PROXY_MODES = ('proxy', 'userproxy', 'passthrough', 'node', 'redirector')   # ckp->proxy
FORWARD_MODES = ('passthrough', 'node', 'redirector')                        # ckp->passthrough

# A payout address as the simulator recognises it (ckpool asks bitcoind's validateaddress; the
# simulator checks the form only: base58 P2PKH/P2SH of any network, bech32 bc1/tb1/bcrt1).
ADDRESS_RE = re.compile(r'^(?:[123mn][1-9A-HJ-NP-Za-km-z]{25,34}|(?:bc|tb|bcrt)1[02-9ac-hj-np-z]{8,87}|'
                        r'(?:BC|TB|BCRT)1[02-9AC-HJ-NP-Z]{8,87})$')


def is_address(name):
    return bool(ADDRESS_RE.match(name or ''))


KILL_MESSAGE = ('Process main pid %d still exists, start ckpool with -H to get a handover '
                'or -k if you wish to kill it')


# --------------------------------------------------------------------------------------
# Formatting helpers (jansson reals, ckpool's suffix_string)
# --------------------------------------------------------------------------------------

def jreal(value, precision=17):
    """Format a float like jansson's dump with JSON_REAL_PRECISION(precision)."""
    text = '%.*g' % (precision, value)
    if 'e' in text:
        mant, exp = text.split('e')
        sign = '-' if exp.startswith('-') else ''
        exp = exp.lstrip('+-').lstrip('0') or '0'
        text = '%se%s%s' % (mant, sign, exp)
    elif '.' not in text and 'inf' not in text and 'nan' not in text:
        text += '.0'
    return text


def jdumps(obj, precision=17, compact=False, indent=None, _level=0):
    """Serialize like jansson: ordered keys, jansson reals, ", "/": " unless compact."""
    item_sep, key_sep = (',', ':') if compact else (', ', ': ')
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return json.dumps(obj, ensure_ascii=False)
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, float):
        return jreal(obj, precision)
    if isinstance(obj, dict):
        items = [json.dumps(str(k), ensure_ascii=False) + key_sep +
                 jdumps(v, precision, compact, indent, _level + 1) for k, v in obj.items()]
        opener, closer = '{', '}'
    elif isinstance(obj, (list, tuple)):
        items = [jdumps(v, precision, compact, indent, _level + 1) for v in obj]
        opener, closer = '[', ']'
    else:
        raise TypeError('cannot serialize %r' % (obj,))
    if not items:
        return opener + closer
    if indent is None:
        return opener + item_sep.join(items) + closer
    pad = '\n' + ' ' * (indent * (_level + 1))
    return opener + pad + (',' + pad).join(items) + '\n' + ' ' * (indent * _level) + closer


def suffix_string(value):
    """ckpool's suffix_string(val, buf, size, 0): "%.3g" + K/M/G/T/P/E, "%d" below 1000."""
    kilo, mega, giga, tera, peta, exa = 1e3, 1e6, 1e9, 1e12, 1e15, 1e18
    if value >= exa:
        dval, suffix = value / peta / kilo, 'E'
    elif value >= peta:
        dval, suffix = value / tera / kilo, 'P'
    elif value >= tera:
        dval, suffix = value / giga / kilo, 'T'
    elif value >= giga:
        dval, suffix = value / mega / kilo, 'G'
    elif value >= mega:
        dval, suffix = value / kilo / kilo, 'M'
    elif value >= kilo:
        dval, suffix = value / kilo, 'K'
    else:
        return '%d' % int(max(value, 0))
    return '%.3g%s' % (dval, suffix)


def suffix_string_lhr(value):
    """ckpool-lhr's suffix_string(val, buf, size, 0) (src/libckpool.c): as upstream from 1000 H/s,
    "%.3g" without suffix from 1 H/s (not "%d"), "%.3g" + m/u/n (milli, micro, nano) below 1 H/s,
    "%d" (0) below 1 nH/s."""
    if value >= 1e3:
        return suffix_string(value)
    if value >= 1:
        return '%.3g' % value
    for unit, suffix in ((0.001, 'm'), (0.000001, 'u'), (0.000000001, 'n')):
        if value >= unit:
            return '%.3g%s' % (value / unit, suffix)
    return '%d' % int(max(value, 0))


def normalize_ua(text):
    """ckpool-lhr's normalize_ua_buf(): leading blanks skipped, cut at "/" or "(", 64 bytes at most."""
    text = (text or '').lstrip(' \t\n\r\f\v')
    for stop in ('/', '('):
        pos = text.find(stop)
        if pos != -1:
            text = text[:pos]
    return text[:64]


LHR_AGENTS = ('NerdMiner/1.0', 'bitaxe/BM1366/v2.4.0', 'cgminer/4.12.1', 'NMMiner/0.3')


def has_nul(value):
    """True when a decoded JSON value holds a NUL character in any string (keys included)."""
    if isinstance(value, str):
        return '\0' in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


def sha256d(data):
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def swap_words(hexhash):
    """Block hash (display order) -> stratum prevhash (4-byte words in reverse order)."""
    return ''.join(hexhash[i:i + 8] for i in range(56, -8, -8))


def sscanf_int(text):
    """C sscanf("%d"): skip white space, optional sign, digits; None when no digits."""
    i = 0
    while i < len(text) and text[i] in ' \t\n\r\f\v':
        i += 1
    j = i
    if j < len(text) and text[j] in '+-':
        j += 1
    k = j
    while k < len(text) and text[k].isdigit() and text[k] in '0123456789':
        k += 1
    if k == j:
        return None
    return int(text[i:k])


def cmdmatch(msg, cmd):
    """ckpool's cmdmatch: case-insensitive prefix match."""
    return msg[:len(cmd)].lower() == cmd


def pid_alive(pid):
    """True while pid exists and is not a zombie (an exited, unreaped process)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open('/proc/%d/stat' % pid, 'rb') as handle:
            stat = handle.read().decode('ascii', 'replace')
        state = stat.rsplit(')', 1)[1].split()[0]
        return state not in ('Z', 'X')
    except (OSError, IndexError):
        return True


def set_process_name(name):
    """Best effort: /proc/PID/comm = the instance name, cut to 14 bytes, as ckpool's main() does
    (``snprintf(buf, 15, "%s", ckp.name); prctl(PR_SET_NAME, buf)``)."""
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(15, ctypes.c_char_p(name.encode()[:14]), 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


# --------------------------------------------------------------------------------------
# Presenting as ckpool: argv[0] "ckpool", ckpool-style options only
# --------------------------------------------------------------------------------------

ARGV0 = 'ckpool'


def python_binary():
    """The interpreter running us (sys.executable is empty once argv[0] is "ckpool")."""
    try:
        return os.readlink('/proc/self/exe')
    except OSError:
        return sys.executable


def ckpool_argv(args):
    """The command line the simulator runs under: ``ckpool SCRIPT ARGS`` (no interpreter options).

    A getopt-style parser of ``cmdline[1:]`` skips SCRIPT (a non-option) and the simulator's own
    ``--sim-x=VALUE`` long options.
    """
    return [ARGV0, SCRIPT] + list(args)


def canonical_args(args):
    """``--sim-x VALUE`` -> ``--sim-x=VALUE`` so that no simulator value can look like a ckpool
    option to a getopt-style parser (e.g. ``--sim-fault -k`` would read as ckpool's ``-k``)."""
    out = []
    index = 0
    args = list(args)
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == '--':
            out.extend(args[index - 1:])
            break
        if arg.startswith('--sim-') and '=' not in arg and arg[2:] in SIM_VALUE_OPTIONS and index < len(args):
            out.append('%s=%s' % (arg, args[index]))
            index += 1
            continue
        out.append(arg)
    return out


def own_cmdline():
    try:
        with open('/proc/self/cmdline', 'rb') as handle:
            raw = handle.read()
    except OSError:
        return None
    return [a.decode('utf-8', 'surrogateescape') for a in raw.split(b'\0')[:-1]]


def present_as_ckpool(args):
    """Re-exec (same pid) as ``ckpool SCRIPT ARGS`` unless already running that way."""
    want = ckpool_argv(canonical_args(args))
    current = own_cmdline()
    if current is None or current == want:
        return
    if os.environ.get('CKPOOL_SIM_EXEC') == str(os.getpid()):
        return     # already re-executed once: never loop
    os.environ['CKPOOL_SIM_EXEC'] = str(os.getpid())
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(python_binary(), want)


# --------------------------------------------------------------------------------------
# Modes (ckpool.c main(): getopt_long cases and the default name)
# --------------------------------------------------------------------------------------

MODE_FLAGS = {'B': 'btcsolo', 'N': 'node', 'P': 'passthrough', 'p': 'proxy', 'R': 'redirector', 'u': 'userproxy',
              't': 'remote'}
LONG_MODE_FLAGS = {'btcsolo': 'B', 'node': 'N', 'passthrough': 'P', 'proxy': 'p', 'redirector': 'R',
                   'userproxy': 'u', 'trusted': 't'}
SHORT_WITH_ARG = 'cdglnSs'
DEFAULT_NAMES = {'pool': 'ckpool', 'solo': 'ckpool', 'proxy': 'ckproxy', 'userproxy': 'ckproxy',
                 'passthrough': 'ckpassthrough', 'node': 'cknode', 'redirector': 'ckredirector'}


class ModeError(Exception):
    pass


def mode_letters(args):
    """The mode flags of a ckpool command line, in order (short bundles and long names)."""
    letters = []
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == '--':
            break
        if arg.startswith('--'):
            letter = LONG_MODE_FLAGS.get(arg[2:].split('=', 1)[0])
            if letter:
                letters.append(letter)
            elif arg[2:] in ('config', 'group', 'loglevel', 'name', 'sockdir'):
                index += 1
            continue
        if arg.startswith('-') and len(arg) > 1:
            for pos, char in enumerate(arg[1:]):
                if char in SHORT_WITH_ARG:
                    if pos == len(arg) - 2:
                        index += 1
                    break
                if char in MODE_FLAGS:
                    letters.append(char)
    return letters


def ckpool_mode(args):
    """ckpool's mode from its flags, with main()'s conflict checks (ModeError = ckpool's quit(1))."""
    f = dict.fromkeys(('btcsolo', 'proxy', 'passthrough', 'node', 'redirector', 'userproxy', 'remote'), False)
    for letter in mode_letters(args):
        if letter == 'B':
            if f['proxy']:
                raise ModeError('Cannot set both proxy and btcsolo mode')
            f['btcsolo'] = True
        elif letter == 'N':
            if f['proxy'] or f['redirector'] or f['userproxy'] or f['passthrough']:
                raise ModeError('Cannot set another proxy type or redirector and node mode')
            f['proxy'] = f['passthrough'] = f['node'] = True
        elif letter == 'P':
            if f['proxy'] or f['redirector'] or f['userproxy'] or f['node']:
                raise ModeError('Cannot set another proxy type or redirector and passthrough mode')
            f['proxy'] = f['passthrough'] = True
        elif letter == 'p':
            if f['passthrough'] or f['redirector'] or f['userproxy'] or f['node']:
                raise ModeError('Cannot set another proxy type or redirector and proxy mode')
            f['proxy'] = True
        elif letter == 'R':
            if f['proxy'] or f['passthrough'] or f['userproxy'] or f['node']:
                raise ModeError('Cannot set a proxy type or passthrough and redirector modes')
            f['proxy'] = f['passthrough'] = f['redirector'] = True
        elif letter == 't':
            if f['proxy']:
                raise ModeError('Cannot set a proxy type and trusted remote mode')
            f['remote'] = True
        elif letter == 'u':
            if f['proxy'] or f['redirector'] or f['passthrough'] or f['node']:
                raise ModeError('Cannot set both userproxy and another proxy type or redirector')
            f['userproxy'] = f['proxy'] = True
    for mode in ('node', 'redirector', 'passthrough', 'userproxy', 'proxy'):
        if f[mode]:
            return mode
    return 'solo' if f['btcsolo'] else 'pool'


# --------------------------------------------------------------------------------------
# Logging and the command log
# --------------------------------------------------------------------------------------

class Logger:
    """ckpool.log writer: "[YYYY-MM-DD HH:MM:SS.mmm] message", filtered by the live level."""

    def __init__(self, path, level, console):
        self.path = path
        self.level = level
        self.console = console
        self.lock = threading.Lock()
        self.handle = open(path, 'a', encoding='utf-8', errors='replace')

    @staticmethod
    def stamp(now=None):
        now = time.time() if now is None else now
        return '%s.%03d' % (time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(now)), int(now * 1000) % 1000)

    def log(self, level, msg):
        if level > self.level:
            return
        line = '[%s] %s\n' % (self.stamp(), msg)
        with self.lock:
            self.handle.write(line)
            self.handle.flush()
            if self.console:
                try:
                    sys.stderr.write(line)
                    sys.stderr.flush()
                except (OSError, ValueError):
                    pass


class CommandLog:
    """JSON lines, one per received control message (the simulator contract)."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))   # exists from the start

    def add(self, sockname, command, reply, outcome, **extra):
        entry = {'t': round(time.time(), 6), 'pid': os.getpid(), 'socket': sockname,
                 'command': command, 'reply': reply, 'outcome': outcome}
        entry.update(extra)
        line = json.dumps(entry) + '\n'
        with self.lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode('utf-8', 'replace'))
            finally:
                os.close(fd)


# --------------------------------------------------------------------------------------
# Unix-socket framing
# --------------------------------------------------------------------------------------

class FrameError(Exception):
    def __init__(self, kind, detail):
        Exception.__init__(self, detail)
        self.kind = kind
        self.detail = detail


def recv_exact(conn, count, deadline):
    """Read exactly count bytes before deadline; returns what arrived (short on EOF)."""
    data = bytearray()
    while len(data) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError()
        ready, _wr, _ex = select.select([conn], [], [], remaining)
        if not ready:
            raise TimeoutError()
        try:
            chunk = conn.recv(min(count - len(data), 1 << 20))
        except OSError:
            chunk = b''
        if not chunk:
            break
        data += chunk
    return bytes(data)


def recv_unix_msg(conn):
    """ckpool's recv_unix_msg: 4-byte LE length (5 s), then the body (5 s)."""
    try:
        header = recv_exact(conn, 4, time.monotonic() + IDLE_TIMEOUT)
    except TimeoutError:
        raise FrameError('idle', 'Select1 failed in recv_unix_msg (0)')
    if len(header) < 4:
        raise FrameError('short_header', 'Failed to read 4 byte length in recv_unix_msg (0?)')
    msglen = struct.unpack('<I', header)[0]
    if msglen == 0 or msglen > MAX_MSGLEN:
        raise FrameError('invalid_length', 'Invalid message length %d sent to recv_unix_msg' % msglen)
    try:
        body = recv_exact(conn, msglen, time.monotonic() + IDLE_TIMEOUT)
    except TimeoutError:
        raise FrameError('body_timeout', 'Select2 failed in recv_unix_msg (0)')
    if len(body) < msglen:
        raise FrameError('short_body', 'Failed to read %d bytes in recv_unix_msg (0?)' % msglen)
    body = body.split(b'\0', 1)[0]  # a C string
    return body.decode('utf-8', 'replace')


def send_unix_msg(conn, text):
    data = text.encode('utf-8') if isinstance(text, str) else text
    try:
        conn.sendall(struct.pack('<I', len(data)) + data)
    except OSError:
        pass


def close_quietly(sock):
    try:
        sock.close()
    except OSError:
        pass


def unix_request(path, message, timeout=IDLE_TIMEOUT, want_fd=False):
    """Client side, used for the handover: one framed request, one framed reply.

    ckpool's send_recv_path() waits for the reply with recv_unix_msg(), i.e. UNIX_READ_TIMEOUT (5 s):
    a busy old process that answers within that still hands over."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        data = message.encode()
        sock.sendall(struct.pack('<I', len(data)) + data)
        if want_fd:
            msg, fds, _flags, _addr = socket.recv_fds(sock, 2, 1)
            return fds[0] if fds else None
        header = b''
        while len(header) < 4:
            chunk = sock.recv(4 - len(header))
            if not chunk:
                return None
            header += chunk
        length = struct.unpack('<I', header)[0]
        body = b''
        while len(body) < length:
            chunk = sock.recv(length - len(body))
            if not chunk:
                break
            body += chunk
        return body.decode('utf-8', 'replace')
    finally:
        sock.close()


# --------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------

class Fault:
    KINDS = ('hang', 'garbage', 'rawgarbage', 'truncated', 'huge', 'slow', 'unreadable')

    def __init__(self, spec):
        parts = spec.split(':')
        kind = parts[0]
        self.seconds = 3.0
        if '=' in kind:
            kind, value = kind.split('=', 1)
            self.seconds = float(value)
        if kind not in self.KINDS:
            raise ValueError('unknown fault kind %r (one of %s)' % (kind, ', '.join(self.KINDS)))
        self.kind = kind
        self.socket = parts[1] if len(parts) > 1 and parts[1] else 'listener'
        if self.socket not in SOCKET_NAMES:
            raise ValueError('unknown socket %r in fault %r' % (self.socket, spec))
        self.prefix = ':'.join(parts[2:]).lower() if len(parts) > 2 else ''

    def matches(self, sockname, command):
        return sockname == self.socket and (not self.prefix or command.lower().startswith(self.prefix))


# --------------------------------------------------------------------------------------
# Pool state
# --------------------------------------------------------------------------------------

class Worker:
    def __init__(self, name, rate=0.0):
        self.name = name
        self.rate = rate          # synthetic constant H/s (0 for real workers)
        self.shares = 0
        self.lastshare = 0
        self.bestshare = 0.0
        self.bestever = 0
        self.history = []         # (time, diff) of accepted shares, pruned to 7 days
        self.started = 0          # ckpool-lhr: last connect time of the worker
        self.useragent = ''       # ckpool-lhr: last user agent seen for the worker (raw)


class User:
    def __init__(self, name, synthetic=False):
        self.name = name
        self.synthetic = synthetic
        self.workers = {}
        self.authorised = 0
        self.active = synthetic   # authorised in this process with >= 1 accepted share
        self.shares = 0
        self.lastshare = 0
        self.bestshare = 0.0
        self.bestever = 0
        self.static = None        # synthetic users: precomputed parts of the users/ file
        self.static_rate = ''


class Client:
    def __init__(self, cid, sock, addr, fdno):
        self.id = cid
        self.sock = sock
        self.addr = addr
        self.fd = fdno
        self.connected = time.time()
        self.record = False       # the stratifier knows this client (first message seen)
        self.subscribed = False
        self.authorised = False
        self.user = None
        self.workername = None
        self.diff = 1
        self.lock = threading.Lock()
        self.closed = False
        self.seen = set()
        self.last_share = 0
        self.identity = str(cid)  # ckpool's client->identity: "ID", "passthrough:P subclient:S", ...
        self.passthrough = False  # this TCP connection is a downstream passthrough (pool side)
        self.parent = None        # subclient of a passthrough: the passthrough's connection
        self.sub_id = None        # ... and its id on the passthrough
        self.virtual = False      # no TCP connection of its own (a passthrough subclient)
        self.useragent = None
        self.shares_sent = {}     # redirector: share request id -> time
        self.redirected = False
        self.fwd_authorised = False
        self.auth_id = None
        self.server = 0           # index in ckp->serverurl (serverurl entries, then nodeserver entries)


class UpstreamLink:
    """A proxy type's connection to its upstream pool (the config's first "proxy" entry).

    proxy/userproxy: a stratum client (mining.subscribe, mining.authorize with the entry's auth/pass,
    generator.c subscribe_stratum/auth_stratum); passthrough/redirector: the "mining.passthrough"
    handshake answered {"result":true} (passthrough_stratum), then every line both ways is forwarded;
    node: the same with "mining.node" (node_stratum).  Reconnects every 5 s while the pool is away.
    """

    def __init__(self, sim, subid):
        self.sim = sim
        self.subid = subid
        url, self.auth, self.password = sim.proxies()[0]
        self.url = url
        host, _sep, port = url.rpartition(':')
        self.host = host.strip('[]') or '127.0.0.1'
        self.port = int(port) if port.isdigit() else 3333
        self.sock = None
        self.connected = False
        self.stop = False
        self.lock = threading.Lock()
        self.notifies = 0
        self.shares = 0
        self.buf = b''

    def start(self):
        threading.Thread(target=self.run, name='ckp@passrecv', daemon=True).start()

    def reconnect(self):
        sock = self.sock
        if sock is not None:
            close_quietly(sock)

    def send_line(self, text):
        with self.lock:
            sock = self.sock
            if sock is None or not self.connected:
                return False
            try:
                sock.sendall(text.encode('utf-8', 'surrogateescape') + b'\n')
                return True
            except OSError:
                return False

    def read_line(self, timeout):
        deadline = time.monotonic() + timeout
        while b'\n' not in self.buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _w, _x = select.select([self.sock], [], [], remaining)
            if not ready:
                return None
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b''
            if not chunk:
                raise EOFError()
            self.buf += chunk
        line, self.buf = self.buf.split(b'\n', 1)
        return line.decode('utf-8', 'replace')

    def handshake(self):
        sim, mode = self.sim, self.sim.mode
        if mode in FORWARD_MODES:
            method = 'mining.node' if mode == 'node' else 'mining.passthrough'
            self.sock.sendall(jdumps({'method': method, 'params': [PACKAGE_VERSION]}, compact=True).encode() + b'\n')
            what = 'node_stratum' if mode == 'node' else 'passthrough_stratum'
            try:
                line = self.read_line(10)
            except EOFError:
                line = None
            if line is None:
                sim.log.log(LOG_WARNING, 'Failed to receive line in %s' % what)
                sim.log.log(LOG_WARNING, 'Failed initial %s to %s:%d !' % (
                    'node setup' if mode == 'node' else 'passthrough', self.host, self.port))
                return False
            try:
                ok = line is not None and json.loads(line).get('result') is True
            except (ValueError, AttributeError):
                ok = False
            if not ok:
                sim.log.log(LOG_WARNING, 'Denied %s for stratum' % ('node setup' if mode == 'node' else 'passthrough'))
                return False
            sim.log.log(LOG_WARNING, 'Passthrough proxy %d:%s connection established' % (self.subid, self.url))
            return True
        self.sock.sendall(jdumps({'id': 0, 'method': 'mining.subscribe', 'params': [PACKAGE_VERSION]},
                                 compact=True).encode() + b'\n')
        enonce1, nonce2len = None, None
        while enonce1 is None:
            line = self.read_line(10)
            if line is None:
                return False
            msg = json.loads(line)
            result = msg.get('result') if isinstance(msg, dict) else None
            if isinstance(result, list) and len(result) >= 3:
                enonce1, nonce2len = result[1], result[2]
        sim.log.log(LOG_NOTICE, 'Found notify for new proxy %d:%d with enonce %s nonce2len %s'
                    % (0, self.subid, enonce1, nonce2len))
        self.sock.sendall(jdumps({'id': 42, 'method': 'mining.authorize', 'params': [self.auth, self.password]},
                                 compact=True).encode() + b'\n')
        while True:
            line = self.read_line(10)
            if line is None:
                return False
            msg = json.loads(line)
            if isinstance(msg, dict) and msg.get('method') == 'mining.notify':
                self.notifies += 1
            if isinstance(msg, dict) and msg.get('id') == 42 and 'method' not in msg:
                if msg.get('result') is not True:
                    sim.log.log(LOG_WARNING, 'Proxy %d:%d %s failed to authorise in auth_stratum, got: %s'
                                % (0, self.subid, self.url, line))
                    return False
                return True

    def run(self):
        sim = self.sim
        first = True
        while not self.stop:
            self.buf = b''
            try:
                self.sock = socket.create_connection((self.host, self.port), timeout=10)
                self.sock.settimeout(None)
                ok = self.handshake()
            except (OSError, ValueError, EOFError):
                ok = False
            if not ok:
                if self.sock is not None:
                    close_quietly(self.sock)
                    self.sock = None
                sim.log.log(LOG_INFO, 'Failed to connect to %s:%d in proxy_mode!' % (self.host, self.port))
                time.sleep(5)
                continue
            with self.lock:
                self.connected = True
            if self.subid == 0:
                sim.log.log(LOG_WARNING, 'Successfully connected to pool %d %s as proxy%s'
                            % (0, self.url, ' in passthrough mode' if sim.mode in FORWARD_MODES else ''))
                if first:
                    sim.log.log(LOG_WARNING, '%s generator ready' % sim.name)
                    first = False
                sim.upstream_ready(self)
            try:
                while not self.stop:
                    line = self.read_line(5)
                    if line is None:
                        continue
                    if sim.mode in FORWARD_MODES:
                        sim.from_upstream(line)
                    elif '"mining.notify"' in line:
                        self.notifies += 1
            except (EOFError, OSError):
                pass
            with self.lock:
                self.connected = False
                close_quietly(self.sock)
                self.sock = None
            if sim.mode in FORWARD_MODES:
                sim.log.log(LOG_WARNING, 'Passthrough %d:%s failed to read_socket_line in passthrough_recv, '
                            'attempting reconnect' % (self.subid, self.url))
            else:
                sim.log.log(LOG_WARNING, 'Proxy %d:%s failed to read from upstream, reconnecting' % (self.subid, self.url))
            time.sleep(1)


WINDOWS_POOL = (('hashrate1m', 60), ('hashrate5m', 300), ('hashrate15m', 900), ('hashrate1hr', 3600),
                ('hashrate6hr', 21600), ('hashrate1d', 86400), ('hashrate7d', 604800))
WINDOWS_USER = (('hashrate1m', 60), ('hashrate5m', 300), ('hashrate1hr', 3600), ('hashrate1d', 86400),
                ('hashrate7d', 604800))
WINDOWS_SPS = (('SPS1m', 60), ('SPS5m', 300), ('SPS15m', 900), ('SPS1h', 3600))


class Sim:
    def __init__(self, args, argv):
        self.args = args
        self.argv = argv
        self.mode = ckpool_mode(argv)
        self.lhr = args.sim_flavour == 'lhr'
        self.suffix = suffix_string_lhr if self.lhr else suffix_string
        self.name = args.name or DEFAULT_NAMES[self.mode]
        self.pid = os.getpid()
        self.start_time = time.time()
        self.start_mono = time.monotonic()
        self.config = read_config(args.config)
        startdiff = self.config.get('startdiff', 1)
        self.startdiff = float(startdiff) if isinstance(startdiff, (int, float)) and startdiff > 0 else 1.0
        self.sockdir = args.sockdir if args.sockdir else '/tmp/%s/' % self.name
        self.sockdir = os.path.abspath(self.sockdir)
        logdir = self.config.get('logdir', 'logs')
        self.logdir = os.path.abspath(logdir)
        self.pidfile = os.path.join(self.sockdir, 'main.pid')
        self.faults = [Fault(spec) for spec in args.sim_fault or ()]
        self.lock = threading.RLock()
        self.clients = {}
        self.next_client_id = 1
        self.clients_generated = 0
        self.dead_generated = 0
        self.dead = 0
        self.disconnected = []           # times of dropped authorised records
        self.disconnected_generated = 0
        self.users = {}
        self.loaded_users = set()
        self.sends = 0
        self.recvs = 0
        self.shares_generated = 0
        self.accepting = True
        self.accept_cond = threading.Condition(self.lock)
        self.wake_r, self.wake_w = os.pipe()
        self.leaked = []                 # fds held forever (listener JSON, hang faults)
        self.pool_history = []           # (time, diff) accepted, all real clients
        self.accepted = 0
        self.rejected = 0
        self.accepted_count = 0          # ckpool-lhr: shares (not difficulty) since the last block
        self.rejected_count = 0
        self.bestshare = 0
        self.since_block = 0.0
        self.block_counter = 0
        self.height = INITIAL_HEIGHT
        self.prevhash = INITIAL_PREVHASH
        self.wb_generated = 0
        self.job_seq = 0
        self.jobs = {}                   # job id -> (prevhash, ntime, coinb1)
        self.stratum = None
        self.stratum_host = '127.0.0.1'
        self.stratum_port = 0
        self.control = {}
        self.upstream = None             # proxy types: the link to the upstream pool (UpstreamLink)
        self.extra_upstreams = []        # proxy: one more upstream connection per failed share (observed)
        self.generator_waiting = []      # proxy types: generator requests held until upstream is connected
        self.userwbs_generated = 0
        self.status_written = False
        self.redirects = {}              # redirector: miner IP -> redirecturl index
        self.redirect_next = 0
        self.server_urls = []            # serverurl entries then nodeserver entries (ckp->serverurl)
        self.listen_socks = []           # one listening socket per entry of server_urls
        self.connector_queue = queue.Queue()
        self.log = None
        self.cmdlog = None
        self.rand = random.Random(self.pid)

    # ---- helpers -------------------------------------------------------------------
    def fault_for(self, sockname, command):
        for fault in self.faults:
            if fault.kind != 'unreadable' and fault.matches(sockname, command):
                return fault
        return None

    def wake(self):
        try:
            os.write(self.wake_w, b'x')
        except OSError:
            pass

    def runtime(self):
        return max(int(time.time() - self.start_time), 0)

    # ---- startup -------------------------------------------------------------------
    def check_config(self):
        """ckpool.c main(): config entries a mode cannot start without (quit(0, ...): exit status 0)."""
        path = self.args.config or '%s.conf' % self.name
        if self.mode in PROXY_MODES and not self.proxies():
            return 'No proxy entries found in config file %s' % path
        if self.mode == 'redirector' and not self.redirect_urls():
            return 'No redirect entries found in config file %s' % path
        return None

    def proxies(self):
        """The config's "proxy" entries as (url, auth, pass) (parse_proxies)."""
        entries = self.config.get('proxy')
        out = []
        if isinstance(entries, list):
            for item in entries:
                if isinstance(item, dict):
                    out.append((str(item.get('url') or ''), str(item.get('auth') or ''), str(item.get('pass') or '')))
        return out

    def redirect_urls(self):
        entries = self.config.get('redirecturl')
        out = []
        if isinstance(entries, list):
            for item in entries:
                host, _sep, port = str(item).rpartition(':')
                if host and port:
                    out.append((host, port))
        return out

    def prepare_dirs(self):
        if not os.path.isdir(self.sockdir):
            os.makedirs(self.sockdir, 0o750, exist_ok=True)
            os.chmod(self.sockdir, 0o750)
        for path in (self.logdir, os.path.join(self.logdir, 'pool'), os.path.join(self.logdir, 'users')):
            if not os.path.isdir(path):
                os.makedirs(path, 0o750, exist_ok=True)
                os.chmod(path, 0o750)
        # ckpool.c: ASPRINTF(&ckp.logfilename, "%s%s.log", ckp.logdir, ckp.name)
        self.logfile = os.path.join(self.logdir, '%s.log' % self.name)
        self.log = Logger(self.logfile, self.args.loglevel,
                          console=not self.args.quiet and not os.environ.get('CKPOOL_SIM_READY_FD'))
        cmdlog = self.args.sim_command_log or os.path.join(self.logdir, 'sim_commands.jsonl')
        self.cmdlog = CommandLog(os.path.abspath(cmdlog))

    def check_old_process(self):
        """Returns the old pid to hand over from (-H), or None.  Exits 1 when refused."""
        if not os.path.exists(self.pidfile):
            return None
        self.log.log(LOG_INFO, 'File %s exists' % self.pidfile)
        try:
            with open(self.pidfile) as handle:
                oldpid = int(handle.read().strip() or '0')
        except (OSError, ValueError):
            return None
        if oldpid == self.pid or not pid_alive(oldpid):
            return None
        self.log.log(LOG_INFO, 'Old process main pid %d still exists' % oldpid)
        if self.args.handover:
            self.log.log(LOG_INFO, 'Saving pid to be handled at handover')
            return oldpid
        if self.args.killold:
            self.terminate_old(oldpid, first_message=True)
            time.sleep(KILLOLD_STARTUP_DELAY)
            return None
        self.log.log(LOG_EMERG, KILL_MESSAGE % oldpid)
        fail_startup(KILL_MESSAGE % oldpid, 1)
        return None

    def wait_gone(self, pid, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return True
            time.sleep(0.005)
        return not pid_alive(pid)

    def terminate_old(self, oldpid, first_message=False):
        if not first_message and self.wait_gone(oldpid, HANDOVER_WAIT):
            return
        if not first_message:
            self.log.log(LOG_WARNING, 'Old process pid %d failed to shutdown cleanly, terminating' % oldpid)
        self.log.log(LOG_WARNING, 'Terminating old process main pid %d' % oldpid)
        self.log.log(LOG_WARNING, 'Terminating old process main pid %d' % oldpid)
        try:
            os.kill(oldpid, signal.SIGTERM)
        except OSError:
            return
        if self.wait_gone(oldpid, HANDOVER_WAIT):
            return
        self.log.log(LOG_WARNING, 'Old process main pid %d failed to respond to terminate request, killing' % oldpid)
        try:
            os.kill(oldpid, signal.SIGKILL)
        except OSError:
            pass
        self.wait_gone(oldpid, 2.0)

    def handover(self, oldpid):
        """-H: take the old process's stratum sockets (getxfd0, getxfd1 ... one per server url), then
        make it reject/reconnect/exit."""
        path = os.path.join(self.sockdir, 'listener')
        inherited = {}
        try:
            answered = unix_request(path, 'ping') == 'pong'
        except OSError as exc:
            self.log.log(LOG_WARNING, 'Handover with old process %d failed: %s' % (oldpid, exc))
            answered = False
        if answered:
            self.log.log(LOG_INFO, 'Received: pong in response to ping request')
            for index in range(len(self.configured_urls())):
                try:
                    fd = unix_request(path, 'getxfd%d' % index, want_fd=True)
                except OSError as exc:
                    self.log.log(LOG_WARNING, 'Handover with old process %d failed: %s' % (oldpid, exc))
                    fd = None
                if fd is None:
                    break
                sock = socket.socket(fileno=fd)
                inherited[index] = sock
                host, port = sock.getsockname()[:2]
                self.log.log(LOG_WARNING, 'Inherited old server socket %d url %s:%d !' % (index, host, port))
            # ckpool sends each of these whatever became of the one before (send_recv_path)
            for cmd in ('reject', 'reconnect', 'shutdown'):
                try:
                    reply = unix_request(path, cmd)
                except OSError:
                    reply = None
                if reply is None:
                    self.log.log(LOG_WARNING, 'Received no response to %s request' % cmd)
                else:
                    self.log.log(LOG_INFO, 'Received: %s in response to %s request' % (reply, cmd))
        self.terminate_old(oldpid)
        return inherited

    def write_pidfile(self):
        with open(self.pidfile, 'w') as handle:
            handle.write('%d' % self.pid)
        os.chmod(self.pidfile, 0o644)

    def open_control_sockets(self):
        group = self.args.group
        gid = None
        if group:
            import grp
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
            os.chown(self.sockdir, -1, gid)
        for name in ('listener', 'generator', 'stratifier', 'connector'):
            path = os.path.join(self.sockdir, name)
            self.log.log(LOG_DEBUG, 'Opening %s' % path)
            # ckpool unlinks the old file and binds SOCKDIR/NAME: the bound path (what
            # /proc/net/unix shows) is the real one.  The old file is first moved aside and
            # removed only after the bind, so the new socket always gets a new inode (a plain
            # unlink + bind may get the same inode number back).
            aside = None
            if os.path.exists(path) or os.path.islink(path):
                self.log.log(LOG_DEBUG, 'Unlinked %s to recreate socket' % path)
                aside = os.path.join(self.sockdir, '.%s.old.%d' % (name, self.pid))
                os.rename(path, aside)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            mode = 0o770
            if any(f.kind == 'unreadable' and f.socket == name for f in self.faults):
                mode = 0o000
            old_umask = os.umask(0o777 & ~mode)
            try:
                sock.bind(path)
            finally:
                os.umask(old_umask)
            if aside is not None:
                os.unlink(aside)
            sock.listen(4096)
            if gid is not None:
                os.chown(path, -1, gid)
            os.chmod(path, mode)
            self.log.log(LOG_DEBUG, 'Opened server path %s successfully on socket %d' % (path, sock.fileno()))
            self.control[name] = sock

    def configured_urls(self):
        """ckp->serverurl: the serverurl entries, then the nodeserver entries (parse_nodeservers).
        Without serverurl ckpool binds port 3333 (3334 in proxy types) on all interfaces; the
        simulator binds 127.0.0.1."""
        urls = self.config.get('serverurl') or ['127.0.0.1:%d' % (3334 if self.mode in PROXY_MODES else 3333)]
        if isinstance(urls, str):
            urls = [urls]
        nodes = self.config.get('nodeserver') or []
        if isinstance(nodes, str):
            nodes = [nodes]
        return [str(u) for u in urls] + [str(u) for u in nodes]

    def open_stratum(self, inherited):
        self.server_urls = self.configured_urls()
        for index, url in enumerate(self.server_urls):
            host, _colon, port = url.rpartition(':')
            host = host.strip('[]') or '0.0.0.0'
            port = int(port or 3333)
            if index == 0 and self.args.sim_stratum_port is not None:
                port = self.args.sim_stratum_port
            sock = (inherited or {}).get(index)
            if sock is None:
                family = socket.AF_INET6 if ':' in host else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((host, port))
                sock.listen(4096)
            sock.setblocking(False)
            self.listen_socks.append(sock)
        self.stratum = self.listen_socks[0]
        self.stratum_host, self.stratum_port = self.stratum.getsockname()[:2]

    def load_users(self):
        users_dir = os.path.join(self.logdir, 'users')
        try:
            names = os.listdir(users_dir)
        except OSError:
            names = []
        self.loaded_users = set(n for n in names if not n.startswith('.'))
        if self.loaded_users:
            workers = len(self.loaded_users)
            self.log.log(LOG_INFO, 'Loaded %d users and %d workers' % (len(self.loaded_users), workers))
        status = os.path.join(self.logdir, 'pool', 'pool.status')
        try:
            with open(status) as handle:
                lines = handle.read().splitlines()
            third = json.loads(lines[2])
            number = float if self.lhr else int
            self.accepted = number(third.get('accepted', 0))
            self.rejected = number(third.get('rejected', 0))
            self.bestshare = number(third.get('bestshare', 0))
            self.log.log(LOG_DEBUG, 'Successfully read pool sps: %s' % lines[2])
        except (OSError, ValueError, IndexError, AttributeError):
            pass

    def make_synthetic(self):
        for i in range(1, self.args.sim_users + 1):
            uname = 'user%04d' % i
            user = User(uname, synthetic=True)
            user.authorised = int(self.start_time)
            for j in range(1, self.args.sim_workers_per_user + 1):
                rate = (10 + ((i * 37 + j * 11) % 131)) * 1e12
                worker = Worker('%s.rig%d' % (uname, j), rate)
                worker.started = int(self.start_time)
                worker.useragent = LHR_AGENTS[(i + j) % len(LHR_AGENTS)]
                user.workers[worker.name] = worker
            self.users[uname] = user

    def write_state(self):
        state = {'pid': self.pid, 'name': self.name, 'mode': self.mode, 'logfile': self.logfile,
                 'sockdir': self.sockdir, 'logdir': self.logdir,
                 'stratum_ports': [s.getsockname()[1] for s in self.listen_socks],
                 'stratum_host': self.stratum_host, 'stratum_port': self.stratum_port,
                 'command_log': self.cmdlog.path, 'started': self.start_time, 'argv': self.argv}
        path = os.path.join(self.logdir, '.sim_state.json')
        tmp = path + '.%d' % self.pid
        with open(tmp, 'w') as handle:
            json.dump(state, handle)
        os.rename(tmp, path)

    def run(self):
        set_process_name(self.name)
        self.prepare_dirs()
        oldpid = self.check_old_process()
        inherited = self.handover(oldpid) if oldpid else {}
        if oldpid and self.args.sim_handover_delay > 0:
            # --sim-handover-delay: the new process answers no earlier than S seconds after it
            # started (real ckpool: ~1.9 s from "restart" to a new process answering, issue #9)
            time.sleep(max(self.start_mono + self.args.sim_handover_delay - time.monotonic(), 0))
        self.write_pidfile()
        self.open_control_sockets()
        self.open_stratum(inherited)
        self.log.log(LOG_WARNING, '%s generator starting' % self.name)
        self.log.log(LOG_WARNING, '%s stratifier starting' % self.name)
        self.log.log(LOG_WARNING, '%s connector starting' % self.name)
        if self.mode not in FORWARD_MODES or self.mode == 'node':
            self.load_users()
        self.make_synthetic()
        self.new_workbase(clean=True, broadcast=False)
        for name in SOCKET_NAMES:
            threading.Thread(target=self.serve_control, args=(name,), name='ckp@' + name, daemon=True).start()
        if self.args.sim_slow_connector:
            threading.Thread(target=self.connector_processor, name='ckp@cmpq', daemon=True).start()
        threading.Thread(target=self.stratum_acceptor, name='ckp@creceiver', daemon=True).start()
        threading.Thread(target=self.ticker, name='ckp@statsupdat', daemon=True).start()
        if self.args.sim_exit_with:
            threading.Thread(target=self.watch_owner, name='ckp@owner', daemon=True).start()
        self.log.log(LOG_WARNING, '%s stratifier ready' % self.name)
        self.log.log(LOG_WARNING, '%s connector ready' % self.name)
        if self.mode in PROXY_MODES:
            # the generator is ready only once an upstream pool is connected (proxy_loop)
            self.upstream = UpstreamLink(self, 0)
            self.upstream.start()
        else:
            self.log.log(LOG_WARNING, '%s generator ready' % self.name)
        if inherited:
            self.log.log(LOG_DEBUG, 'Connector received message: accept')
            self.log.log(LOG_DEBUG, 'Connector received accept signal')
        self.write_state()
        signal_ready('OK %d' % self.pid)
        while True:
            signal.pause()

    # ---- exits ---------------------------------------------------------------------
    def on_signal(self, signum, _frame):
        """SIGTERM/SIGINT: exit at once; main.pid and the socket files are left behind."""
        self.log.log(LOG_WARNING, 'Process %s received signal %d, shutting down' % (self.name, signum))
        os._exit(0)

    def watch_owner(self):
        """--sim-exit-with PID: a test harness that dies without stopping us does not leak us."""
        while pid_alive(self.args.sim_exit_with):
            time.sleep(0.5)
        self.log.log(LOG_WARNING, 'Process %s owner %d is gone, shutting down' % (self.name, self.args.sim_exit_with))
        os._exit(0)

    def shutdown_exit(self):
        """Listener "shutdown": pid file removed, socket files stay (ECONNREFUSED)."""
        try:
            os.unlink(self.pidfile)
        except OSError:
            pass
        listener = self.control.get('listener')
        if listener is not None:
            self.log.log(LOG_NOTICE, 'Closing unix socket %d %s' % (listener.fileno(), os.path.join(self.sockdir, 'listener')))
        time.sleep(0.002)
        os._exit(0)

    def restart(self):
        """Listener "restart": fork + exec a copy of ourselves with -H (same argv otherwise)."""
        argv = list(self.argv)
        if '-H' not in argv and '--handover' not in argv:
            argv.append('-H')
        env = dict(os.environ)
        env.pop('CKPOOL_SIM_READY_FD', None)
        fds = self.miner_fd_copies()
        try:
            # ckpool: fork() + execv(initial_args[0], initial_args + "-H"); argv[0] stays "ckpool"
            subprocess.Popen(ckpool_argv(argv), executable=python_binary(), pass_fds=fds, env=env,
                             stdin=subprocess.DEVNULL, close_fds=True)
        except OSError as exc:
            self.log.log(LOG_ERR, 'Failed to restart: %s' % exc)
        finally:
            for fd in fds:
                os.close(fd)

    def miner_fd_copies(self):
        """Copies of the open miner sockets for the restarted process: ckpool's miner fds are
        inherited by it (never serviced there).  Each is duplicated under its client's lock, so a
        miner that disconnects meanwhile cannot leave a closed (or reused) number to pass on: a
        closed one made the fork fail with EBADF and the restart never happened."""
        with self.lock:
            clients = [c for c in self.clients.values() if c.sock is not None]
        fds = []
        for client in clients:
            with client.lock:
                if client.closed:
                    continue
                try:
                    fds.append(os.dup(client.sock.fileno()))
                except (OSError, ValueError):
                    pass
        return fds

    # ---- control sockets -----------------------------------------------------------
    def serve_control(self, name):
        srv = self.control[name]
        while True:
            try:
                conn, _addr = srv.accept()
            except OSError:
                time.sleep(0.05)
                continue
            try:
                self.handle_control(name, conn)
            except Exception as exc:  # keep the accept loop alive whatever happens
                self.log.log(LOG_ERR, 'Simulator error on %s: %r' % (name, exc))
                close_quietly(conn)

    def handle_control(self, name, conn):
        try:
            msg = recv_unix_msg(conn)
        except FrameError as err:
            self.log.log(LOG_WARNING, err.detail)
            self.log.log(LOG_WARNING, 'Failure in recv_unix_msg')
            if name == 'listener':
                self.log.log(LOG_WARNING, 'Failed to get message in listener')
                self.cmdlog.add(name, None, 'failed', 'reply', error=err.kind)
                send_unix_msg(conn, 'failed')
            else:
                self.cmdlog.add(name, None, None, 'eof', error=err.kind)
            close_quietly(conn)
            return
        fault = self.fault_for(name, msg)
        if fault is not None:
            self.apply_fault(fault, name, conn, msg)
            return
        if name == 'connector' and self.args.sim_slow_connector:
            self.connector_queue.put((conn, msg))
            return
        handler = getattr(self, 'cmd_' + name)
        reply = handler(conn, msg)
        if reply is Ellipsis:        # handled (hang / fd passing)
            return
        # log before answering: a client that reads the log right after its reply must see the entry
        self.cmdlog.add(name, msg, reply, 'reply' if reply is not None else 'eof')
        if reply is not None:
            send_unix_msg(conn, reply)
        close_quietly(conn)
        if reply == 'exiting':
            self.shutdown_exit()
        if reply == 'restarting':
            self.restart()

    def apply_fault(self, fault, name, conn, msg):
        kind = fault.kind
        if kind == 'hang':
            self.cmdlog.add(name, msg, None, 'hang', fault=kind)
            self.leaked.append(conn)
            threading.Event().wait()   # this socket's only thread never returns
        elif kind == 'slow':
            time.sleep(fault.seconds)
            reply = getattr(self, 'cmd_' + name)(conn, msg)
            if reply is Ellipsis:
                return
            self.cmdlog.add(name, msg, reply, 'fault', fault=kind, delay=fault.seconds)
            if reply is not None:
                send_unix_msg(conn, reply)
            close_quietly(conn)
            if reply == 'exiting':
                self.shutdown_exit()
            if reply == 'restarting':
                self.restart()
            return
        self.cmdlog.add(name, msg, None, 'fault', fault=kind)
        if kind == 'garbage':
            payload = b'\xff\xfe\x00garbage\x9c{"not json'
            conn.sendall(struct.pack('<I', len(payload)) + payload)
        elif kind == 'rawgarbage':
            conn.sendall(b'HTTP/1.0 500 garbage\r\n\r\n\xff\xfe')
        elif kind == 'truncated':
            conn.sendall(struct.pack('<I', 1000) + b'{"workbases": {"count"')
        elif kind == 'huge':
            conn.sendall(struct.pack('<I', 0xFFFFFFF0) + b'{"clients": ' + b'x' * 4096)
        close_quietly(conn)

    def set_loglevel_unchecked(self, msg):
        level = sscanf_int(msg[len('loglevel='):]) if msg.startswith('loglevel=') else None
        if level is not None:
            self.log.level = level

    def cmd_listener(self, conn, msg):
        log = self.log.log
        if msg.startswith('{'):
            # JSON goes to the (stubbed) API queue with the fd: never answered, never closed.
            log(LOG_INFO, 'Listener received API message: %s' % msg)
            self.leaked.append(conn)
            self.cmdlog.add('listener', msg, None, 'hang')
            return Ellipsis
        if cmdmatch(msg, 'shutdown'):
            log(LOG_WARNING, 'Listener received shutdown message, terminating ckpool')
            return 'exiting'
        if cmdmatch(msg, 'ping'):
            log(LOG_DEBUG, 'Listener received ping request')
            return 'pong'
        if cmdmatch(msg, 'loglevel'):
            level = sscanf_int(msg[len('loglevel='):]) if msg.startswith('loglevel=') else None
            if level is None:
                log(LOG_WARNING, 'Failed to parse loglevel message %s' % msg)
                return 'Failed'
            if level < LOG_EMERG or level > LOG_DEBUG:
                log(LOG_WARNING, 'Invalid loglevel %d sent' % level)
                return 'Invalid'
            self.log.level = level
            return 'success'
        if cmdmatch(msg, 'getxfd'):
            fdno = sscanf_int(msg[len('getxfd'):])
            if fdno is not None and 0 <= fdno < len(self.listen_socks):
                self.cmdlog.add('listener', msg, None, 'fd')
                try:
                    socket.send_fds(conn, [b'\0\0'], [self.listen_socks[fdno].fileno()])
                except OSError:
                    pass
            else:
                self.cmdlog.add('listener', msg, None, 'eof')
            close_quietly(conn)
            return Ellipsis
        if cmdmatch(msg, 'accept'):
            log(LOG_INFO, 'Listener received accept message, accepting clients')
            self.set_accepting(True)
            return 'accepting'
        if cmdmatch(msg, 'reject'):
            log(LOG_INFO, 'Listener received reject message, rejecting clients')
            self.set_accepting(False)
            return 'rejecting'
        if self.lhr and cmdmatch(msg, 'dropall'):
            # ckpool-lhr's listener handles dropall (PROTOCOL.md: "dropping all")
            log(LOG_WARNING, 'Listener received dropall message, disconnecting all clients')
            self.dropall()
            return 'dropping all'
        if cmdmatch(msg, 'reconnect'):
            log(LOG_INFO, 'Listener received request to send reconnect to clients')
            self.stratifier_reconnect(msg)
            return 'reconnecting'
        if cmdmatch(msg, 'restart'):
            log(LOG_WARNING, 'Listener received restart message, attempting handover')
            return 'restarting'
        if cmdmatch(msg, 'stratifierstats'):
            log(LOG_DEBUG, 'Listener received stratifierstats request')
            reply = jdumps(self.stratifier_stats())
            log(LOG_DEBUG, 'Stratifier stats: %s' % reply)
            return reply
        if cmdmatch(msg, 'connectorstats'):
            log(LOG_DEBUG, 'Listener received connectorstats request')
            reply = jdumps(self.connector_stats())
            log(LOG_DEBUG, 'Connector stats: %s' % reply)
            return reply
        if cmdmatch(msg, 'resetshares'):
            self.reset_shares()
            return 'resetting'
        log(LOG_INFO, 'Listener received unhandled message: %s' % msg)
        return 'unknown'

    def cmd_stratifier(self, conn, msg):
        self.log.log(LOG_DEBUG, 'Stratifier received request: %s' % msg)
        if cmdmatch(msg, 'ping'):
            return 'pong'
        if cmdmatch(msg, 'stats'):
            return jdumps(self.stratifier_stats())
        if cmdmatch(msg, 'loglevel'):
            self.set_loglevel_unchecked(msg)
        elif cmdmatch(msg, 'dropclient'):
            cid = sscanf_int(msg[len('dropclient='):]) if msg.startswith('dropclient=') else None
            if cid is not None:
                self.log.log(LOG_DEBUG, 'Stratifier asked to drop client %d' % cid)
                self.stratifier_drop(cid)
        elif cmdmatch(msg, 'dropall'):
            self.dropall()
        elif cmdmatch(msg, 'reconnect'):
            self.stratifier_reconnect(msg, log_request=False)
        elif cmdmatch(msg, 'resetshares'):
            self.reset_shares(log_request=False)
        elif cmdmatch(msg, 'getuser') or cmdmatch(msg, 'userclients'):
            # The API is stubbed upstream (no reply) but the user record is created.
            try:
                value = json.loads(msg.split('=', 1)[1])
                uname = value.get('user') if isinstance(value, dict) else None
            except (ValueError, IndexError):
                uname = None
            if isinstance(uname, str) and uname:
                self.get_user(uname)
        elif not any(cmdmatch(msg, c) for c in ('users', 'workers', 'clients', 'poolstats', 'uptime',
                                                'getclient', 'ucinfo', 'wcinfo')):
            self.log.log(LOG_INFO, 'Unhandled stratifier message: %s' % msg)
        return None

    def cmd_connector(self, conn, msg):
        self.log.log(LOG_DEBUG, 'Connector received message: %s' % msg)
        if cmdmatch(msg, 'ping'):
            return 'pong'
        if cmdmatch(msg, 'stats'):
            return jdumps(self.connector_stats())
        if cmdmatch(msg, 'loglevel'):
            self.set_loglevel_unchecked(msg)
        elif cmdmatch(msg, 'dropclient'):
            cid = sscanf_int(msg[len('dropclient='):]) if msg.startswith('dropclient=') else None
            if cid is not None:
                self.connector_drop(cid)
        elif cmdmatch(msg, 'accept'):
            self.log.log(LOG_DEBUG, 'Connector received accept signal')
            self.set_accepting(True, log_connector=False)
        elif cmdmatch(msg, 'reject'):
            self.log.log(LOG_DEBUG, 'Connector received reject signal')
            self.set_accepting(False, log_connector=False)
        return None

    def cmd_generator(self, conn, msg):
        if self.mode in PROXY_MODES:
            with self.lock:
                connected = self.upstream is not None and self.upstream.connected
                if not connected:
                    # proxy_loop() reads no socket message before an upstream pool is connected:
                    # the request waits (answered once connected, like ckpool's queued message)
                    self.generator_waiting.append((conn, msg))
                    self.cmdlog.add('generator', msg, None, 'held')
                    return Ellipsis
            return self.proxy_generator(msg)
        self.log.log(LOG_DEBUG, 'Generator received request: %s' % msg)
        if cmdmatch(msg, 'ping'):
            return 'pong'
        if cmdmatch(msg, 'getbase'):
            return jdumps(self.template())
        if cmdmatch(msg, 'getbest') or cmdmatch(msg, 'getlast'):
            return self.prevhash
        if cmdmatch(msg, 'loglevel'):
            self.set_loglevel_unchecked(msg)
        elif cmdmatch(msg, 'reconnect'):
            self.log.log(LOG_INFO, 'Attempting to connect to bitcoind')
            self.log.log(LOG_INFO, 'Connected to live server 127.0.0.1:8332')
        return None

    def proxy_generator(self, msg):
        """generator.c proxy_loop(): the generator of every proxy type."""
        self.log.log(LOG_DEBUG, 'Proxy received request: %s' % msg)
        if cmdmatch(msg, 'stats'):
            return jdumps(self.proxy_stats())
        if cmdmatch(msg, 'reconnect'):
            if self.upstream is not None:
                self.upstream.reconnect()
            return None
        if cmdmatch(msg, 'loglevel'):
            self.set_loglevel_unchecked(msg)
            return None
        if cmdmatch(msg, 'ping'):
            self.log.log(LOG_DEBUG, 'Proxy received ping request')
            return 'pong'
        self.log.log(LOG_WARNING, 'Generator received unrecognised message: %s' % msg)
        return None

    def proxy_stats(self):
        """send_stats() of generator.c in proxy types (keys and order from the source)."""
        links = [self.upstream] + list(self.extra_upstreams) if self.upstream else []
        alive = sum(1 for link in links if link.connected)
        return {'proxies': {'count': 1, 'memory': 1256, 'generated': 1},
                'dead_proxies': {'count': 0, 'memory': 0},
                'subproxies': {'count': alive, 'memory': alive * 1256, 'generated': len(links)},
                'notifies': {'count': 0, 'memory': 0, 'generated': self.upstream.notifies if self.upstream else 0},
                'shares': {'count': 0, 'memory': 0, 'generated': self.upstream.shares if self.upstream else 0},
                'psends': {'count': 0, 'memory': 0, 'generated': self.upstream.shares if self.upstream else 0}}

    def upstream_ready(self, link):
        """The upstream pool answered the handshake: held generator requests are answered now."""
        with self.lock:
            waiting, self.generator_waiting = self.generator_waiting, []
        for conn, msg in waiting:
            reply = self.proxy_generator(msg)
            self.cmdlog.add('generator', msg, reply, 'reply' if reply is not None else 'eof')
            if reply is not None:
                send_unix_msg(conn, reply)
            close_quietly(conn)

    def connector_processor(self):
        """--sim-slow-connector: queued messages are handled on 5 s boundaries since start."""
        while True:
            item = self.connector_queue.get()
            elapsed = time.monotonic() - self.start_mono
            boundary = (int(elapsed // CONNECTOR_BOUNDARY) + 1) * CONNECTOR_BOUNDARY
            time.sleep(max(boundary - elapsed, 0))
            items = [item]
            while True:
                try:
                    items.append(self.connector_queue.get_nowait())
                except queue.Empty:
                    break
            for conn, msg in items:
                try:
                    reply = self.cmd_connector(conn, msg)
                    self.cmdlog.add('connector', msg, reply, 'reply' if reply is not None else 'eof')
                    if reply is not None:
                        send_unix_msg(conn, reply)
                finally:
                    close_quietly(conn)

    # ---- stats ---------------------------------------------------------------------
    def stratifier_stats(self):
        with self.lock:
            records = sum(1 for c in self.clients.values() if c.record)
            users = len(set(self.users) | self.loaded_users)
            wb_count = min(self.wb_generated, 20)
            self.prune_disconnected()
            disc = len(self.disconnected)
            stats = {
                'workbases': {'count': wb_count, 'memory': wb_count * 2436, 'generated': self.wb_generated},
                'remote_workbases': {'count': 0, 'memory': 0},
            }
            if self.mode == 'solo':
                # stratifier_stats(): btcsolo adds "userwbs" (one coinbase per user per workbase)
                solo_users = len(set(c.user for c in self.clients.values() if c.authorised and not c.closed))
                count = solo_users * wb_count
                stats['userwbs'] = {'count': count, 'memory': count * 88, 'generated': self.userwbs_generated}
            stats.update({
                'users': {'count': users, 'memory': users * 1072},
                'clients': {'count': records, 'memory': records * 344, 'generated': self.clients_generated},
                'disconnected': {'count': disc, 'memory': disc * 488, 'generated': self.disconnected_generated},
                'shares': {'count': 0, 'memory': 0, 'generated': self.shares_generated},
                'transactions': {'count': 0, 'memory': 0, 'generated': 0},
                'ssends': {'count': 0, 'memory': 0, 'generated': self.sends},
                'srecvs': {'count': 0, 'memory': 0, 'generated': self.recvs},
                'stxnq': {'count': 0, 'memory': 0, 'generated': 0},
            })
            return stats

    def connector_stats(self):
        with self.lock:
            count = sum(1 for c in self.clients.values() if not c.closed and not c.virtual)
            return {
                'clients': {'count': count, 'memory': count * 712, 'generated': self.clients_generated},
                'dead': {'count': self.dead, 'memory': self.dead * 368, 'generated': self.dead_generated},
                'sends': {'count': 0, 'memory': 0, 'generated': self.sends},
                'delays': {'count': 0, 'memory': 0, 'generated': 0},
            }

    def template(self):
        now = int(time.time())
        return {
            'capabilities': ['proposal'], 'version': 536870912, 'previousblockhash': self.prevhash,
            'transactions': [], 'coinbaseaux': {'flags': ''}, 'coinbasevalue': 5000000000,
            'longpollid': self.prevhash + str(self.height),
            'target': '7fffff0000000000000000000000000000000000000000000000000000000000',
            'mintime': int(self.start_time) - 29, 'mutable': ['time', 'transactions', 'prevblock'],
            'noncerange': '00000000ffffffff', 'sizelimit': 128000000, 'curtime': now, 'bits': NBITS,
            'height': self.height, 'diff': NETWORK_DIFF, 'ntime': '%08x' % now, 'bbversion': '20000000',
            'nbit': NBITS,
        }

    def prune_disconnected(self):
        cutoff = time.time() - 600
        self.disconnected = [t for t in self.disconnected if t >= cutoff]

    # ---- accept / reject -----------------------------------------------------------
    def set_accepting(self, value, log_connector=True):
        if log_connector:
            self.log.log(LOG_DEBUG, 'Connector received message: %s' % ('accept' if value else 'reject'))
            self.log.log(LOG_DEBUG, 'Connector received %s signal' % ('accept' if value else 'reject'))
        with self.lock:
            self.accepting = value
            local = [c for c in self.clients.values() if not c.closed and not c.virtual]
        self.wake()
        if not value and self.mode in FORWARD_MODES:
            # connector.c: "reject" in a passthrough drops every client (drop_all_clients)
            for client in local:
                self.close_client(client)

    def stratum_acceptor(self):
        """Accept miners while accepting; while rejecting, connections wait in the backlog."""
        while True:
            with self.lock:
                accepting = self.accepting
            watch = [self.wake_r] + self.listen_socks if accepting else [self.wake_r]
            try:
                ready, _wr, _ex = select.select(watch, [], [])
            except (OSError, ValueError):
                time.sleep(0.1)
                continue
            if self.wake_r in ready:
                try:
                    os.read(self.wake_r, 4096)
                except OSError:
                    pass
            for server, listen in enumerate(self.listen_socks):
                if listen not in ready:
                    continue
                with self.lock:
                    if not self.accepting:
                        break
                try:
                    sock, addr = listen.accept()
                except (BlockingIOError, InterruptedError, OSError):
                    continue
                self.new_client(sock, addr, server)

    # ---- stratum -------------------------------------------------------------------
    def new_client(self, sock, addr, server=0):
        with self.lock:
            cid = self.next_client_id
            self.next_client_id += 1
            self.clients_generated += 1
            client = Client(cid, sock, addr, sock.fileno())
            client.server = server
            self.clients[cid] = client
            active = sum(1 for c in self.clients.values() if not c.closed) - 1
        self.log.log(LOG_INFO, 'Connector created new client instance')
        self.log.log(LOG_INFO, 'Connected new client %d on socket %d to %d active clients from %s:%d'
                     % (cid - 1, sock.fileno(), active, addr[0], addr[1]))
        threading.Thread(target=self.client_reader, args=(client,), name='ckp@c%d' % cid, daemon=True).start()

    def client_send(self, client, line):
        if client.parent is not None:
            # a passthrough subclient: the message goes down the passthrough's connection with the
            # subclient's id on the passthrough (connector.c client_message_processor)
            try:
                obj = json.loads(line)
            except ValueError:
                return
            if client.closed or not isinstance(obj, dict):
                return
            obj['client_id'] = client.sub_id
            self.client_send(client.parent, jdumps(obj, compact=True))
            return
        with client.lock:
            if client.closed:
                return
            try:
                client.sock.sendall(line.encode() + b'\n')
                with self.lock:
                    self.sends += 1
            except OSError:
                pass

    def client_reader(self, client):
        buf = b''
        while True:
            try:
                data = client.sock.recv(65536)
            except OSError:
                data = b''
            if not data:
                break
            buf += data
            while b'\n' in buf:
                line, buf = buf.split(b'\n', 1)
                line = line.strip()
                if line:
                    try:
                        self.client_message(client, line.decode('utf-8', 'replace'))
                    except Exception as exc:  # a bad miner must not kill the simulator
                        self.log.log(LOG_INFO, 'Client %d message error %r' % (client.id, exc))
            if len(buf) > 1 << 20:
                break
        # EOF from the miner (or our own close)
        if not client.closed:
            self.log.log(LOG_INFO, 'Client id %d fd %d RDHUP in epoll' % (client.id, client.fd))
            self.log.log(LOG_DEBUG, 'Connector dropped fd %d' % client.fd)
            self.close_client(client)
            if self.mode in FORWARD_MODES:
                self.upstream_term(client)
            self.stratifier_drop(client.id)
            with self.lock:
                if client.closed and not client.record:
                    self.clients.pop(client.id, None)

    def close_client(self, client):
        with client.lock:
            if client.closed:
                return
            client.closed = True
            try:
                client.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            close_quietly(client.sock)
        with self.lock:
            self.dead += 1
            self.dead_generated += 1

    def client_message(self, client, line):
        with self.lock:
            self.recvs += 1
        try:
            req = json.loads(line)
            if has_nul(req):      # jansson refuses \u0000 in strings (no JSON_ALLOW_NUL)
                raise ValueError('NUL in a string')
        except ValueError:
            self.log.log(LOG_INFO, 'Client %s %s sent invalid json message %s' % (client.identity, client.addr[0], line))
            if self.mode in FORWARD_MODES:
                # connector.c parse_client_msg(): "Invalid JSON, disconnecting"
                self.client_send(client, 'Invalid JSON, disconnecting')
                self.connector_drop(client.id)
            return
        if not isinstance(req, dict):
            return
        if self.mode in FORWARD_MODES and client.parent is None:
            self.forward_upstream(client, req, line)
            return
        if client.passthrough:
            self.passthrough_message(client, req)
            return
        method = req.get('method')
        msgid = req.get('id')
        params = req.get('params') if isinstance(req.get('params'), list) else []
        if not client.record:
            with self.lock:
                client.record = True
            self.log.log(LOG_INFO, 'Stratifier added instance %d server 0' % client.id)
        if method == 'mining.subscribe':
            self.subscribe(client, msgid, params)
            return
        if method in ('mining.passthrough', 'mining.node'):
            self.add_downstream(client, method)
            return
        if method == 'mining.configure':
            self.client_send(client, jdumps({'result': {'version-rolling': True, 'version-rolling.mask': '1fffe000'},
                                             'error': None, 'id': msgid}, compact=True))
            return
        if not client.subscribed:
            self.log.log(LOG_INFO, 'Dropping %s from unsubscribed client %d %s' % (method, client.id, client.addr[0]))
            timer = threading.Timer(DROP_DELAY, self.connector_drop, args=(client.id,))
            timer.daemon = True
            timer.start()
            return
        if method == 'mining.authorize':
            self.authorise(client, msgid, params)
        elif method == 'mining.submit':
            self.submit(client, msgid, params)
        elif method in ('mining.suggest_difficulty', 'mining.extranonce.subscribe'):
            return
        elif msgid is not None and method is None:
            return   # a reply from the miner (e.g. to mining.ping)
        else:
            self.log.log(LOG_INFO, 'Unhandled client %d method %s' % (client.id, method))

    # ---- downstream passthroughs (this pool's side) -------------------------------------
    def add_downstream(self, client, method):
        """stratifier.c parse_method(): "mining.passthrough" / "mining.node" from a connection."""
        addr = client.addr[0]
        if method == 'mining.node':
            if client.server == 0 or self.mode in PROXY_MODES:
                self.log.log(LOG_NOTICE, 'Dropping client %s %s trying to authorise as node on non node server %d'
                             % (client.identity, addr, client.server))
                self.connector_drop(client.id)
                return
            self.log.log(LOG_WARNING, 'Added client %s %s as mining node on server %d:%s'
                         % (client.identity, addr, client.server, self.server_urls[client.server]))
            client.identity = 'node:%d' % client.id
        else:
            if self.mode in PROXY_MODES:
                self.log.log(LOG_NOTICE, 'Dropping client %s %s trying to connect as passthrough on unsupported '
                             'server %d' % (client.identity, addr, client.server))
                self.connector_drop(client.id)
                return
            self.log.log(LOG_NOTICE, 'Adding passthrough client %s %s' % (client.identity, addr))
            client.identity = 'passthrough:%d' % client.id
        client.passthrough = True
        self.log.log(LOG_INFO, 'Connector adding passthrough client %d' % client.id)
        self.client_send(client, '{"result":true}')

    def passthrough_message(self, conn, req):
        """A message of a miner behind a passthrough: its id there is "client_id"; here it is
        (passthrough id << 32) | that id, identity "passthrough:P subclient:S" (__stratum_add_instance)."""
        sub = req.pop('client_id', None)
        address = req.pop('address', None)
        req.pop('server', None)
        if isinstance(sub, bool) or not isinstance(sub, int) or not 0 <= sub <= 0xFFFFFFFF:
            self.log.log(LOG_INFO, 'Passthrough %s sent a message without a valid client_id' % conn.identity)
            return
        full = (conn.id << 32) | sub
        with self.lock:
            client = self.clients.get(full)
            if client is None:
                client = Client(full, None, (str(address or conn.addr[0]), 0), -1)
                client.virtual = True
                client.parent = conn
                client.sub_id = sub
                kind = 'node' if conn.identity.startswith('node:') else 'passthrough'
                client.identity = '%s:%d subclient:%d' % (kind, conn.id, sub)
                self.clients[full] = client
                self.clients_generated += 1
        if req.get('method') == 'mining.term':
            self.log.log(LOG_DEBUG, 'Mining terminate requested from %s %s' % (client.identity, client.addr[0]))
            self.drop_subclient(client)
            return
        self.client_message(client, jdumps(req, compact=True))

    def drop_subclient(self, client):
        with self.lock:
            client.closed = True
        self.stratifier_drop(client.id)
        with self.lock:
            self.clients.pop(client.id, None)

    # ---- this instance is a passthrough / node / redirector ------------------------------
    def forward_upstream(self, client, req, line):
        """connector.c parse_client_msg() in a passthrough: the miner's message goes upstream with its
        client_id, address and server; this instance's stratifier never sees it (a node's does)."""
        obj = dict(req)
        obj['client_id'] = client.id
        obj['address'] = client.addr[0]
        obj['server'] = 0
        method = req.get('method')
        if method == 'mining.authorize':
            client.auth_id = req.get('id')
            if isinstance(req.get('params'), list) and req['params'] and isinstance(req['params'][0], str):
                client.workername = req['params'][0]
        if self.mode == 'redirector' and not client.redirected and 'mining.submit' in line:
            client.shares_sent[json.dumps(req.get('id'))] = time.time()
            self.log.log(LOG_INFO, 'Redirector adding client %d share id: %s' % (client.id, req.get('id')))
        if self.mode == 'node' and method == 'mining.submit':
            client.shares_sent[json.dumps(req.get('id'))] = time.time()
        if self.upstream is None or not self.upstream.send_line(jdumps(obj, compact=True)):
            self.log.log(LOG_DEBUG, 'Dropping send to dead proxy of upstream json msg: %s' % line)

    def from_upstream(self, line):
        """generator.c passthrough_recv() -> connector: a line from the upstream pool."""
        if line.startswith('dropclient='):
            cid = sscanf_int(line[len('dropclient='):])
            self.log.log(LOG_DEBUG, 'Connector received message: %s' % line)
            if cid is not None:
                self.connector_drop(cid)
            return
        try:
            obj = json.loads(line)
        except ValueError:
            self.log.log(LOG_WARNING, 'Received non-json msg from upstream pool %s' % line)
            return
        if not isinstance(obj, dict):
            return
        cid = obj.pop('client_id', None)
        obj.pop('node.method', None)
        with self.lock:
            client = self.clients.get(cid) if isinstance(cid, int) else None
        if client is None or client.closed:
            self.log.log(LOG_INFO, 'Connector failed to find client id %s to send to' % cid)
            return
        self.client_send(client, jdumps(obj, compact=True))
        key = json.dumps(obj.get('id'))
        accepted = obj.get('result') is True and obj.get('error') is None
        if obj.get('id') is not None and obj.get('id') == getattr(client, 'auth_id', None) and accepted:
            client.fwd_authorised = True
            if self.mode == 'node':
                self.node_authorised(client)
        if self.mode == 'node' and key in client.shares_sent:
            client.shares_sent.pop(key, None)
            if accepted and client.user:
                self.account_share(client, float(client.diff))
        if self.mode == 'redirector' and client.fwd_authorised and not client.redirected:
            if key in client.shares_sent and accepted:
                self.log.log(LOG_NOTICE, 'Found accepted share for client %d - redirecting' % client.id)
                self.redirect_client(client)
            elif client.addr[0] in self.redirects:
                self.redirect_client(client)

    def node_authorised(self, client):
        """A node keeps local statistics of its miners (its stratifier gets a copy of every message)."""
        workername = client.workername or ''
        cut = min([p for p in (workername.find('.'), workername.find('_')) if p != -1] or [len(workername)])
        uname = workername[:cut] or workername
        user = self.get_user(uname, quiet=True)
        with self.lock:
            if not user.authorised:
                user.authorised = int(time.time())
            user.workers.setdefault(workername, Worker(workername))
            client.authorised = True
            client.user = uname

    def redirect_client(self, client):
        """connector.c redirect_client(): client.reconnect to one of the redirecturl entries."""
        urls = self.redirect_urls()
        with self.lock:
            found = client.addr[0] in self.redirects
            if not found:
                self.redirects[client.addr[0]] = self.redirect_next
                self.redirect_next = (self.redirect_next + 1) % max(len(urls), 1)
            number = self.redirects[client.addr[0]]
            client.redirected = True
        self.log.log(LOG_NOTICE, 'Redirecting client %d from %s IP %s to redirecturl %d'
                     % (client.id, 'matching' if found else 'new', client.addr[0], number))
        host, port = urls[number]
        self.client_send(client, jdumps({'id': None, 'method': 'client.reconnect', 'params': [host, port, 0]},
                                        compact=True))

    def upstream_term(self, client):
        """connector.c generator_drop_client(): tell the upstream pool a miner is gone."""
        if self.upstream is not None:
            self.upstream.send_line(jdumps({'id': 42, 'client_id': client.id, 'address': client.addr[0], 'server': 0,
                                            'method': 'mining.term', 'params': []}, compact=True))

    def session_id(self, client):
        return (int(self.start_time) + client.id) & 0xFFFFFFFF

    def diff_message(self, client):
        """mining.set_difficulty: an integer upstream ([1]); a double in ckpool-lhr ([0.005], [1.0])."""
        value = json.dumps(float(client.diff)) if self.lhr else '%d' % client.diff
        return '{"params":[%s],"id":null,"method":"mining.set_difficulty"}' % value

    def subscribe(self, client, msgid, params=()):
        if params and isinstance(params[0], str):
            client.useragent = params[0]        # stratifier.c parse_subscribe(): the user agent
        if self.lhr:
            client.diff = self.startdiff
        sid = self.session_id(client)
        enonce1 = struct.pack('<I', sid).hex()
        with self.lock:
            client.subscribed = True
        self.log.log(LOG_DEBUG, 'Set new subscription %d to new enonce1 %08x string %s' % (client.id, sid, enonce1))
        self.client_send(client, '{"result":[[["mining.notify","%08x"]],"%s",8],"id":%s,"error":null}'
                         % (sid, enonce1, json.dumps(msgid)))
        self.client_send(client, self.diff_message(client))
        if self.mode != 'solo':
            # init_client(): in solo mode work is sent after the authorisation (update_solo_client)
            self.client_send(client, self.notify_line(self.current_job(), clean=True))

    def get_user(self, uname, quiet=False):
        with self.lock:
            user = self.users.get(uname)
            if user is None:
                user = User(uname)
                self.users[uname] = user
                if uname not in self.loaded_users and not quiet:
                    # stratifier.c generate_user(): LOGNOTICE, suffixed when bitcoind validates the
                    # user name as an address (the simulator checks the form, see ADDRESS_RE)
                    self.log.log(LOG_NOTICE, 'Added new user %s%s' % (
                        uname, ' as address based registration' if self.mode not in PROXY_MODES and is_address(uname)
                        else ''))
            return user

    def authorise(self, client, msgid, params):
        workername = params[0] if params and isinstance(params[0], str) else ''
        if not workername:
            self.client_send(client, jdumps({'result': False, 'error': 'Invalid username parameter', 'id': msgid},
                                            compact=True))
            return
        if self.lhr and (workername[0] in '._' or '/' in workername):
            # ckpool-lhr parse_authorise(): refused before any user is created
            error = 'Invalid character in username' if '/' in workername else 'Empty username parameter'
            self.client_send(client, jdumps({'result': False, 'error': error, 'id': msgid}, compact=True))
            return
        cut = len(workername)
        for sep in '._':
            pos = workername.find(sep)
            if pos != -1:
                cut = min(cut, pos)
        uname = workername[:cut] or workername
        user = self.get_user(uname)
        if self.mode == 'solo' and not is_address(uname):
            # parse_authorise(): btcsolo authorises only address user names (client_auth failure)
            self.log.log(LOG_NOTICE, 'Client %s %s worker %s failed to authorise as user %s'
                         % (client.identity, client.addr[0], workername, uname))
            self.client_send(client, '{"result":false,"error":null,"id":%s}' % json.dumps(msgid))
            return
        with self.lock:
            if not user.authorised:
                user.authorised = int(time.time())
            if workername not in user.workers:
                user.workers[workername] = Worker(workername)
            worker = user.workers[workername]
            worker.started = int(time.time())            # ckpool-lhr: worker->last_connect
            if client.useragent:
                worker.useragent = client.useragent
            client.authorised = True
            client.user = uname
            client.workername = workername
            if self.mode == 'solo':
                self.userwbs_generated += 1      # __generate_userwb() at authorisation
        if self.mode in PROXY_MODES:
            # client_auth(): proxy types log the proxy/subproxy ids instead of the address
            self.log.log(LOG_NOTICE, 'Authorised client %s to proxy %d:%d, worker %s as user %s'
                         % (client.identity, 0, 0, workername, uname))
        else:
            self.log.log(LOG_NOTICE, 'Authorised client %s %s worker %s as user %s'
                         % (client.identity, client.addr[0], workername, uname))
        self.client_send(client, '{"result":true,"error":null,"id":%s}' % json.dumps(msgid))
        if self.mode == 'solo':
            # parse_authorise(): update_solo_client() (the user's own coinbase), then the diff
            self.client_send(client, self.notify_line(self.current_job(), clean=True))
            self.client_send(client, self.diff_message(client))

    def submit(self, client, msgid, params):
        idjson = json.dumps(msgid)
        if not client.authorised:
            self.client_send(client, '{"result":false,"error":["24","Unauthorised worker",null],"id":%s}' % idjson)
            return
        if len(params) < 5 or not all(isinstance(p, str) for p in params[:5]):
            self.client_send(client, '{"result":false,"error":"Invalid parameters","id":%s}' % idjson)
            return
        _worker, jobid, nonce2, ntime, nonce = params[:5]
        nonce = nonce.lower()
        with self.lock:
            job = self.jobs.get(jobid)
            self.shares_generated += 1
        reason = None
        if job is None:
            reason = 'Invalid JobID'
        elif job[0] != self.prevhash:
            reason = 'Stale'
        else:
            key = (jobid, nonce2, ntime, nonce)
            if key in client.seen:
                reason = 'Duplicate'
            client.seen.add(key)
        share_hash = self.share_hash(client, job, nonce2, ntime, nonce)
        if reason is None and nonce == REJECT_NONCE:
            reason = 'Above target'
        if reason is not None:
            with self.lock:
                self.rejected += client.diff
                self.rejected_count += 1
            what = 'high diff' if reason == 'Above target' else reason.lower()
            self.log.log(LOG_INFO, 'Rejected client %s %s %.1f/%d/0: %s'
                         % (client.identity, what, 0.0, client.diff, share_hash))
            self.client_send(client, '{"reject-reason":%s,"result":false,"error":null,"id":%s}'
                             % (json.dumps(reason), idjson))
            return
        sdiff = client.diff * (1.0 + (int(share_hash[-8:], 16) % 100000) / 100000.0)
        block = nonce == BLOCK_NONCE
        if self.args.sim_block_every:
            with self.lock:
                self.block_counter += 1
                if self.block_counter % self.args.sim_block_every == 0:
                    block = True
        if block:
            share_hash = '00000000' + share_hash[8:]
            self.solve_block(client, sdiff, share_hash)
        self.account_share(client, sdiff)
        self.log.log(LOG_INFO, 'Accepted client %s share diff %.1f/%d/0: %s'
                     % (client.identity, sdiff, client.diff, share_hash))
        self.client_send(client, '{"result":true,"error":null,"id":%s}' % idjson)
        if self.mode in ('proxy', 'userproxy'):
            self.proxy_send_failure(client)

    def proxy_send_failure(self, client):
        """Observed on 60768aeb (PROTOCOL.md, proxy mode): forwarding the share upstream fails with
        "failed to find matching jobid in proxysend", the miner is dropped (generator.c proxy_send():
        stratifier_reconnect_client -> client.reconnect) and one more upstream connection is opened."""
        link = self.upstream
        url = link.url if link is not None else ''
        self.log.log(LOG_NOTICE, 'Proxy %d:%s failed to find matching jobid in proxysend' % (0, url))
        self.client_send(client, jdumps({'id': None, 'method': 'client.reconnect', 'params': []}, compact=True))
        timer = threading.Timer(0.05, self.connector_drop, args=(client.id,))
        timer.daemon = True
        timer.start()
        if link is not None and len(self.extra_upstreams) < 64:
            extra = UpstreamLink(self, len(self.extra_upstreams) + 1)
            self.extra_upstreams.append(extra)
            extra.start()

    def share_hash(self, client, job, nonce2, ntime, nonce):
        try:
            coinb1 = job[2] if job else ''
            coinbase = bytes.fromhex(coinb1 + struct.pack('<I', self.session_id(client)).hex() + nonce2 + COINB2)
            merkle = sha256d(coinbase)
            prev = bytes.fromhex(job[0] if job else self.prevhash)[::-1]
            header = (struct.pack('<I', 0x20000000) + prev + merkle + struct.pack('<I', int(ntime, 16)) +
                      bytes.fromhex(NBITS)[::-1] + struct.pack('<I', int(nonce, 16)))
            return sha256d(header)[::-1].hex()
        except (ValueError, TypeError, struct.error):
            return hashlib.sha256(('%s%s%s%s' % (client.id, nonce2, ntime, nonce)).encode()).hexdigest()

    def account_share(self, client, sdiff):
        now = time.time()
        with self.lock:
            user = self.users.get(client.user)
            if user is None:
                return
            worker = user.workers.setdefault(client.workername, Worker(client.workername))
            user.active = True
            for rec in (user, worker):
                rec.shares += client.diff
                rec.lastshare = int(now)
                rec.bestshare = max(rec.bestshare, sdiff)
                rec.bestever = max(rec.bestever, sdiff if self.lhr else int(sdiff))
            worker.history.append((now, client.diff))
            self.pool_history.append((now, client.diff))
            self.accepted += client.diff
            self.accepted_count += 1
            self.bestshare = max(self.bestshare, sdiff if self.lhr else int(sdiff))
            self.since_block += client.diff
            client.last_share = now

    def solve_block(self, client, sdiff, block_hash):
        log = self.log.log
        with self.lock:
            height = self.height
        log(LOG_WARNING, 'Possible block solve diff %f !' % sdiff)
        log(LOG_WARNING, 'BLOCK ACCEPTED!')
        log(LOG_NOTICE, 'Block hash changed to %s' % block_hash)
        log(LOG_WARNING, 'Solved and confirmed block %d by %s' % (height, client.workername))
        log(LOG_INFO, 'User %s worker %s client %d new best diff %f' % (client.user, client.workername, client.id, sdiff))
        log(LOG_NOTICE, 'Submitting possible block solve share diff %f !' % sdiff)
        with self.lock:
            self.prevhash = block_hash
            self.height += 1
            self.since_block = 0.0
            self.accepted_count = self.rejected_count = 0     # ckpool-lhr: reset when a block is found
        self.new_workbase(clean=True, broadcast=True)

    # ---- work ----------------------------------------------------------------------
    def current_job(self):
        with self.lock:
            return '%08x%08x' % (int(self.start_time) & 0xFFFFFFFF, self.job_seq)

    def new_workbase(self, clean, broadcast):
        now = int(time.time())
        with self.lock:
            self.job_seq += 1
            self.wb_generated += 1
            jobid = '%08x%08x' % (int(self.start_time) & 0xFFFFFFFF, self.job_seq)
            height_push = self.height.to_bytes((self.height.bit_length() + 8) // 8, 'little')
            script = (bytes([len(height_push)]) + height_push + b'\x00' + b'\x04' + struct.pack('<I', now) +
                      b'\x04' + self.rand.getrandbits(32).to_bytes(4, 'little') + b'\x0c')
            sig = bytes.fromhex(COINB2[:36])
            coinb1 = ('01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff' +
                      '%02x' % (len(script) + 12 + len(sig)) + script.hex())
            self.jobs[jobid] = (self.prevhash, now, coinb1)
            if len(self.jobs) > 40:
                for old in sorted(self.jobs)[:len(self.jobs) - 40]:
                    del self.jobs[old]
            targets = [c for c in self.clients.values() if c.subscribed and c.record and not c.closed
                       and (c.authorised or self.mode != 'solo')]
            if self.mode == 'solo':
                self.userwbs_generated += len(set(c.user for c in targets if c.authorised))
        if broadcast:
            line = self.notify_line(jobid, clean)
            for client in targets:
                self.client_send(client, line)

    def notify_line(self, jobid, clean):
        with self.lock:
            prevhash, now, coinb1 = self.jobs[jobid]
        return jdumps({'params': [jobid, swap_words(prevhash), coinb1, COINB2, [], '20000000', NBITS,
                                  '%08x' % now, bool(clean)],
                       'id': None, 'method': 'mining.notify'}, compact=True)

    # ---- drops / reconnect / reset -------------------------------------------------
    def stratifier_drop(self, cid, log_drop=True):
        """Remove the stratifier record; TCP stays open (closed at the next message)."""
        with self.lock:
            client = self.clients.get(cid)
            if client is None or not client.record:
                return False
            client.record = False
            client.subscribed = False
            was_auth = client.authorised
            client.authorised = False
            if was_auth:
                self.disconnected.append(time.time())
                self.disconnected_generated += 1
            if client.closed:
                del self.clients[cid]
        if was_auth and log_drop:
            self.log.log(LOG_NOTICE, 'Dropped client %s %s user %s worker %s '
                         % (client.identity, client.addr[0], client.user, client.workername))
        if client.passthrough:
            # the passthrough is gone: so are the miners behind it
            with self.lock:
                subs = [c for c in self.clients.values() if c.parent is client]
            for sub in subs:
                self.drop_subclient(sub)
        return True

    def connector_drop(self, cid):
        """Connector dropclient=ID: close the miner's TCP connection at once."""
        if cid >> 32:
            # a passthrough subclient: forwarded to the passthrough (connector.c drop_passthrough_client)
            with self.lock:
                parent = self.clients.get(cid >> 32)
            self.log.log(LOG_INFO, 'Asked to drop passthrough client %d, forwarding to passthrough' % cid)
            if parent is not None and parent.passthrough and not parent.closed:
                with parent.lock:
                    try:
                        parent.sock.sendall(b'dropclient=%d\n' % (cid & 0xFFFFFFFF))
                    except OSError:
                        pass
            return
        with self.lock:
            client = self.clients.get(cid)
        if client is None or client.closed:
            self.log.log(LOG_INFO, 'Connector failed to find client id %d to drop' % cid)
            with self.lock:
                if client is not None and not client.record:
                    self.clients.pop(cid, None)
            return
        self.log.log(LOG_DEBUG, 'Connector dropped fd %d' % client.fd)
        self.close_client(client)
        if self.mode in FORWARD_MODES:
            self.upstream_term(client)
        self.log.log(LOG_INFO, 'Connector dropped client id: %d' % cid)
        self.log.log(LOG_DEBUG, 'Stratifier received request: dropclient=%d' % cid)
        self.log.log(LOG_DEBUG, 'Stratifier asked to drop client %d' % cid)
        self.stratifier_drop(cid)
        with self.lock:
            if cid in self.clients and not self.clients[cid].record:
                del self.clients[cid]

    def dropall(self):
        with self.lock:
            targets = [c for c in self.clients.values() if c.record]
        for client in targets:
            self.stratifier_drop(client.id, log_drop=False)
        if targets:
            self.log.log(LOG_NOTICE, 'Dropped %d instances for dropall request' % len(targets))
        for client in targets:
            self.connector_drop(client.id)

    def stratifier_reconnect(self, msg, log_request=True):
        if log_request:
            self.log.log(LOG_DEBUG, 'Stratifier received request: %s' % msg)
        params = []
        if len(msg) > len('reconnect') and msg[len('reconnect')] == ':':
            target = msg[len('reconnect:'):]
            url, sep, port = target.partition(',')
            if sep and url and port:
                params = [url, port, 0]
        line = jdumps({'id': None, 'method': 'client.reconnect', 'params': params}, compact=True)
        with self.lock:
            targets = [c for c in self.clients.values() if c.record and not c.closed and not c.passthrough]
        for client in targets:
            self.client_send(client, line)

    def reset_shares(self, log_request=True):
        self.log.log(LOG_INFO, 'Resetting best shares')
        if log_request:
            self.log.log(LOG_DEBUG, 'Stratifier received request: resetshares')
        with self.lock:
            self.bestshare = 0
            for user in self.users.values():
                user.bestshare = 0.0
                for worker in user.workers.values():
                    worker.bestshare = 0.0

    # ---- status files --------------------------------------------------------------
    def ticker(self):
        next_status = self.start_mono + 1.0
        next_work = time.monotonic() + UPDATE_INTERVAL
        next_stats = time.monotonic() + STATSUPDATE_INTERVAL
        interval = max(float(self.args.sim_status_interval), 0.05)
        while True:
            now = time.monotonic()
            wait = min(next_status, next_work, next_stats) - now
            if wait > 0:
                time.sleep(wait)
                continue
            try:
                if now >= next_status:
                    next_status += interval
                    if self.mode in ('passthrough', 'redirector'):
                        # no statsupdate thread in a passthrough: the connector logs its stats instead
                        stats = {'runtime': self.runtime()}
                        stats.update(self.connector_stats())
                        self.log.log(LOG_NOTICE, 'Passthrough:%s' % jdumps(stats))
                    else:
                        self.write_status()
                if now >= next_work:
                    next_work += UPDATE_INTERVAL
                    if self.mode not in FORWARD_MODES:
                        self.new_workbase(clean=False, broadcast=True)
                if now >= next_stats:
                    next_stats += STATSUPDATE_INTERVAL
                    if self.mode not in FORWARD_MODES:
                        self.stats_update()
            except Exception as exc:  # keep ticking
                self.log.log(LOG_ERR, 'Simulator ticker error: %r' % exc)

    def stats_update(self):
        now = time.time()
        with self.lock:
            stale = [c for c in self.clients.values()
                     if c.record and c.subscribed and not c.authorised and not c.closed
                     and now - c.connected >= UNAUTH_DROP_AGE]
        for client in stale:
            self.log.log(LOG_INFO, 'Stratifier requesting connector drop client %d' % client.id)
            self.connector_drop(client.id)

    @staticmethod
    def rate(history, window, now):
        return sum(d for t, d in history if t >= now - window) * 4294967296.0 / window

    def write_status(self):
        now = time.time()
        # Observed: the first pool.status of a process (1 s after start, also after a handover) says
        # Users 0, Workers 0; the counts show from the next update on.  --sim-zero-first-status
        # reproduces it (off by default: many tests read counts from the first write).
        first = not self.status_written and self.args.sim_zero_first_status
        self.status_written = True
        with self.lock:
            cutoff = now - 604800
            self.pool_history = [h for h in self.pool_history if h[0] >= cutoff]
            synthetic_rate = 0.0
            users = workers = idle = 0
            user_records = []
            for user in self.users.values():
                connected = [c for c in self.clients.values()
                             if c.authorised and c.user == user.name and not c.closed]
                if first:
                    synthetic_rate += sum(w.rate for w in user.workers.values()) if user.synthetic else 0.0
                elif user.synthetic:
                    users += 1
                    workers += len(user.workers)
                    synthetic_rate += sum(w.rate for w in user.workers.values())
                elif connected:
                    users += 1
                    workers += len(connected)
                    idle += sum(1 for c in connected if now - c.last_share > 600)
                if user.active:
                    user_records.append(user)
            self.prune_disconnected()
            first_line = {'runtime': self.runtime(), 'lastupdate': int(now), 'Users': users, 'Workers': workers,
                          'Idle': idle, 'Disconnected': len(self.disconnected)}
            if self.lhr:
                agents = self.user_agents(now)
                if agents:
                    first_line['UserAgents'] = agents
            line1 = jdumps(first_line, precision=3)
            rates = {}
            for key, window in WINDOWS_POOL:
                rates[key] = self.suffix(self.rate(self.pool_history, window, now) + synthetic_rate)
            line2 = jdumps(rates, precision=3)
            sps = {}
            for key, window in WINDOWS_SPS:
                sps[key] = (sum(1 for t, _d in self.pool_history if t >= now - window) / float(window) +
                            synthetic_rate / 4294967296.0 / SYNTHETIC_DIFF)
            if self.lhr:
                # ckpool-lhr: netdiff, doubles for accepted/rejected/bestshare, counts since the last
                # block, JSON_REAL_PRECISION(6)
                third = {'diff': float(round(100.0 * self.since_block / POOL_DIFF_TARGET, 4)),
                         'netdiff': POOL_DIFF_TARGET, 'accepted': float(self.accepted),
                         'rejected': float(self.rejected), 'bestshare': float(self.bestshare)}
                third.update(sps)
                third.update({'accepted_count': self.accepted_count, 'rejected_count': self.rejected_count})
                line3 = jdumps(third, precision=6)
            else:
                third = {'diff': float(100.0 * self.since_block / POOL_DIFF_TARGET), 'accepted': self.accepted,
                         'rejected': self.rejected, 'bestshare': self.bestshare}
                third.update(sps)
                line3 = jdumps(third, precision=3)
        # In place, not atomically, as ckpool does: a reader can see a torn file.
        path = os.path.join(self.logdir, 'pool', 'pool.status')
        with open(path, 'w') as handle:
            handle.write(line1 + '\n')
            handle.write(line2 + '\n')
            handle.write(line3 + '\n')
        users_dir = os.path.join(self.logdir, 'users')
        user_lines = []
        for user in user_records:
            if user.synthetic and not self.lhr:   # immutable: rendered without holding the pool lock
                name, text = self.synthetic_record(user, now)
            else:
                with self.lock:
                    name, text = self.user_record(user, now)
                # statsupdate(): "User NAME:{...}" at notice level, the name verbatim (real users only:
                # 100 000 synthetic users would write 100 000 lines a minute)
                if not user.synthetic:
                    record = json.loads(text)
                    record.pop('worker', None)
                    compact = json.dumps(record, separators=(',', ':'), ensure_ascii=False)
                    user_lines.append('User %s:%s' % (name, compact))
            try:
                with open(os.path.join(users_dir, name), 'w') as handle:
                    handle.write(text)
            except OSError:
                pass
        for line in user_lines:
            self.log.log(LOG_NOTICE, line)
        for line in (line1, line2, line3):
            self.log.log(LOG_NOTICE, 'Pool:%s' % line)
        if self.mode in ('proxy', 'userproxy') and self.upstream is not None and self.upstream.connected:
            links = 1 + sum(1 for link in self.extra_upstreams if link.connected)
            self.log.log(LOG_NOTICE, 'Proxy:%s' % jdumps({'current': 0, 'active': 1, 'total': 1}))
            self.log.log(LOG_INFO, 'Proxies:%s' % jdumps({'id': 0, 'subproxies': links, 'clients': len(
                [c for c in self.clients.values() if c.authorised and not c.closed]), 'alive': True}))

    def user_agents(self, now):
        """ckpool-lhr's UserAgents: devices (connected clients), summed 5-minute hashrate and best
        share per normalised agent, most devices first, at most max_pool_useragents (100) entries.
        Caller holds self.lock."""
        table = {}
        for client in self.clients.values():
            if not client.authorised or client.closed or not client.useragent:
                continue
            ua = normalize_ua(client.useragent)
            if not ua:
                continue
            entry = table.setdefault(ua, [0, 0.0, 0.0])
            entry[0] += 1
            worker = self.users[client.user].workers.get(client.workername) if client.user in self.users else None
            if worker is not None:
                entry[1] += self.rate(worker.history, 300, now)
                entry[2] = max(entry[2], float(worker.bestshare))
        for user in self.users.values():
            if not user.synthetic:
                continue
            for worker in user.workers.values():
                entry = table.setdefault(normalize_ua(worker.useragent), [0, 0.0, 0.0])
                entry[0] += 1
                entry[1] += worker.rate
        cap = int(self.config.get('max_pool_useragents', 100) or 0)
        ordered = sorted(table.items(), key=lambda item: (-item[1][0], item[0]))[:cap]
        return [{'ua': ua, 'devices': n, 'hashrate5m': self.suffix(rate), 'bestshare': best}
                for ua, (n, rate, best) in ordered]

    SYN_USER = ('{\n "hashrate1m": "%(r)s",\n "hashrate5m": "%(r)s",\n "hashrate1hr": "%(r)s",\n'
                ' "hashrate1d": "%(r)s",\n "hashrate7d": "%(r)s",\n "lastshare": %(last)d,\n "workers": %(n)d,\n'
                ' "shares": %(shares)d,\n "bestshare": %(best)s,\n "bestever": %(bestever)d,\n'
                ' "authorised": %(auth)d,\n "worker": [\n%(workers)s\n ]\n}\n')
    SYN_WORKER = ('  {\n   "workername": %(name)s,\n   "hashrate1m": "%(r)s",\n   "hashrate5m": "%(r)s",\n'
                  '   "hashrate1hr": "%(r)s",\n   "hashrate1d": "%(r)s",\n   "hashrate7d": "%(r)s",\n'
                  '   "lastshare": %(last)d,\n   "shares": %(shares)d,\n   "bestshare": %(best)s,\n'
                  '   "bestever": %(bestever)d\n  }')

    def synthetic_record(self, user, now):
        """Fast path of user_record for synthetic users (same text; 100 000 users must stay cheap)."""
        runtime = max(now - self.start_time, 1.0)
        if user.static is None:
            static = []
            for worker in user.workers.values():
                seed = int(hashlib.md5(worker.name.encode()).hexdigest()[:8], 16)
                best = 1000.0 + seed % 1000000 + 0.5
                static.append((json.dumps(worker.name), worker.rate, suffix_string(worker.rate), seed, best))
            user.static = static
            user.static_rate = suffix_string(sum(w.rate for w in user.workers.values()))
        blocks = []
        ushares, ulast, ubest = user.shares, user.lastshare, user.bestshare
        for name, rate, rate_text, seed, best in user.static:
            shares = int(rate * runtime / 4294967296.0) + seed % 1000
            last = int(now) - seed % 20
            ushares += shares
            ulast = max(ulast, last)
            ubest = max(ubest, best)
            blocks.append(self.SYN_WORKER % {'name': name, 'r': rate_text, 'last': last, 'shares': shares,
                                             'best': jreal(best, 16), 'bestever': int(best)})
        text = self.SYN_USER % {'r': user.static_rate, 'last': ulast, 'n': len(blocks), 'shares': ushares,
                                'best': jreal(float(ubest), 16), 'bestever': max(user.bestever, int(ubest)),
                                'auth': user.authorised, 'workers': ',\n'.join(blocks)}
        return user.name, text

    def user_record(self, user, now):
        """(name, file text) in ckpool's users/<name> format (JSON_INDENT(1), reals %.16g)."""
        runtime = max(now - self.start_time, 1.0)
        workers = []
        urates = dict((k, 0.0) for k, _w in WINDOWS_USER)
        ushares = user.shares
        ulast = user.lastshare
        ubest = user.bestshare
        for worker in user.workers.values():
            if worker.rate:
                seed = int(hashlib.md5(worker.name.encode()).hexdigest()[:8], 16)
                shares = int(worker.rate * runtime / 4294967296.0) + seed % 1000
                last = int(now) - seed % 20
                best = 1000.0 + seed % 1000000 + 0.5
                wrates = dict((k, worker.rate) for k, _w in WINDOWS_USER)
                ushares += shares
                ulast = max(ulast, last)
                ubest = max(ubest, best)
            else:
                worker.history = [h for h in worker.history if h[0] >= now - 604800]
                shares, last, best = worker.shares, worker.lastshare, worker.bestshare
                wrates = dict((k, self.rate(worker.history, w, now)) for k, w in WINDOWS_USER)
            for key in urates:
                urates[key] += wrates[key]
            entry = {'workername': worker.name}
            for key, _w in WINDOWS_USER:
                entry[key] = self.suffix(wrates[key])
            if self.lhr:
                # ckpool-lhr statsupdate(): "started" after lastshare, "useragent" last
                entry.update({'lastshare': last, 'started': worker.started, 'shares': float(shares),
                              'bestshare': float(best), 'bestever': float(max(worker.bestever, best)),
                              'useragent': worker.useragent or ''})
            else:
                entry.update({'lastshare': last, 'shares': shares, 'bestshare': float(best),
                              'bestever': max(worker.bestever, int(best))})
            workers.append(entry)
        record = {}
        for key, _w in WINDOWS_USER:
            record[key] = self.suffix(urates[key])
        if self.lhr:
            # ckpool-lhr: shares and bests are doubles (1.572999999999992)
            record.update({'lastshare': ulast, 'workers': len(workers), 'shares': float(ushares),
                           'bestshare': float(ubest), 'bestever': float(max(user.bestever, ubest)),
                           'authorised': user.authorised, 'worker': workers})
        else:
            record.update({'lastshare': ulast, 'workers': len(workers), 'shares': ushares,
                           'bestshare': float(ubest), 'bestever': max(user.bestever, int(ubest)),
                           'authorised': user.authorised, 'worker': workers})
        return user.name, jdumps(record, precision=16, indent=1) + '\n'


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------

def read_config(path):
    if not path:
        return {}
    with open(path) as handle:
        data = json.load(handle)
    if not isinstance(data, dict):
        raise ValueError('%s: not a JSON object' % path)
    return data


# simulator options that take a value (written --sim-x=VALUE on the command line it runs under)
SIM_VALUE_OPTIONS = frozenset(['sim-flavour', 'sim-users', 'sim-workers-per-user', 'sim-fault', 'sim-command-log',
                               'sim-status-interval', 'sim-stratum-port', 'sim-block-every', 'sim-exit-with',
                               'sim-handover-delay'])


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='ckpool_sim.py', description='ckpool simulator (tests/demo)')
    parser.add_argument('-c', '--config', default=None)
    parser.add_argument('-n', '--name', default=None)
    parser.add_argument('-s', '--sockdir', default=None)
    parser.add_argument('-H', '--handover', action='store_true')
    parser.add_argument('-k', '--killold', action='store_true')
    parser.add_argument('-l', '--loglevel', type=int, default=LOG_NOTICE)
    parser.add_argument('-g', '--group', default=None)
    parser.add_argument('-D', '--daemonise', action='store_true')
    parser.add_argument('-q', '--quiet', action='store_true')
    parser.add_argument('-d', default=None, help=argparse.SUPPRESS)   # in ckpool's getopt string, unused
    parser.add_argument('-S', default=None, help=argparse.SUPPRESS)   # in ckpool's getopt string, unused
    for flag, long_name in (('-B', '--btcsolo'), ('-p', '--proxy'), ('-P', '--passthrough'), ('-N', '--node'),
                            ('-R', '--redirector'), ('-u', '--userproxy'), ('-L', '--log-shares'),
                            ('-t', '--trusted')):
        parser.add_argument(flag, long_name, action='store_true')
    parser.add_argument('--sim-users', type=int, default=0)
    parser.add_argument('--sim-workers-per-user', type=int, default=1)
    parser.add_argument('--sim-slow-connector', action='store_true')
    parser.add_argument('--sim-fault', action='append', default=[])
    parser.add_argument('--sim-command-log', default=None)
    parser.add_argument('--sim-status-interval', type=float, default=60.0)
    parser.add_argument('--sim-stratum-port', type=int, default=None)
    parser.add_argument('--sim-block-every', type=int, default=0)
    parser.add_argument('--sim-daemon', action='store_true')
    parser.add_argument('--sim-flavour', choices=('upstream', 'lhr'), default='upstream',
                        help='lhr: the ckpool-lhr fork (Z3r0XG/ckpool-lhr) formats and replies')
    parser.add_argument('--sim-zero-first-status', action='store_true',
                        help="the first pool.status says Users 0, Workers 0 (as observed on ckpool)")
    parser.add_argument('--sim-handover-delay', type=float, default=0.0, metavar='S',
                        help='a -H / restart copy answers no earlier than S s after it started')
    parser.add_argument('--sim-exit-with', type=int, default=0, metavar='PID',
                        help='exit (like SIGTERM) once process PID is gone (test harness safety net)')
    parser.add_argument('--sim-stop', action='store_true',
                        help='stop the simulator of -s/-n (SIGTERM, then SIGKILL) and remove its socket files')
    args = parser.parse_args(argv)
    for spec in args.sim_fault:
        try:
            Fault(spec)
        except ValueError as exc:
            parser.error(str(exc))
    return args


def signal_ready(message):
    fd = os.environ.get('CKPOOL_SIM_READY_FD')
    if not fd:
        return
    try:
        os.write(int(fd), (message + '\n').encode())
        os.close(int(fd))
    except (OSError, ValueError):
        pass
    os.environ.pop('CKPOOL_SIM_READY_FD', None)


def fail_startup(message, code):
    sys.stderr.write(message + '\n')
    sys.stderr.flush()
    signal_ready('ERR %d %s' % (code, message))
    os._exit(code)


def daemonize(argv):
    """--sim-daemon / -D: start a detached copy; return once it has its sockets and main.pid.

    The copy keeps ckpool's ``-D`` in its command line (ckpool's daemon is a fork of the process
    started with -D, so a later ``restart`` re-executes with -D and daemonises again, in a new
    session); ``--sim-daemon`` is dropped (a restart of that copy stays in its process group).
    """
    child_argv = [a for a in argv if a != '--sim-daemon']
    read_fd, write_fd = os.pipe()
    env = dict(os.environ)
    env['CKPOOL_SIM_READY_FD'] = str(write_fd)
    env.pop('CKPOOL_SIM_EXEC', None)
    proc = subprocess.Popen(ckpool_argv(child_argv), executable=python_binary(), pass_fds=[write_fd], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, close_fds=True)
    os.close(write_fd)
    data = b''
    while True:
        chunk = os.read(read_fd, 4096)
        if not chunk:
            break
        data += chunk
    os.close(read_fd)
    text = data.decode(errors='replace').strip()
    if text.startswith('OK'):
        print(text.split()[1])
        return 0
    if text.startswith('ERR'):
        parts = text.split(' ', 2)
        sys.stderr.write((parts[2] if len(parts) > 2 else text) + '\n')
        return int(parts[1])
    code = proc.wait()
    sys.stderr.write('ckpool_sim: daemon failed to start (exit %s)\n' % code)
    return code or 1


def is_simulator(pid):
    """True when pid runs this simulator script (``ckpool SCRIPT ARGS``) or any ckpool_sim.py."""
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            args = handle.read().split(b'\0')
    except OSError:
        return False
    return SCRIPT.encode() in args or any(os.path.basename(a) == b'ckpool_sim.py' for a in args)


def stop_instance(sockdir, timeout=5.0):
    """--sim-stop: SIGTERM the simulator named by SOCKDIR/main.pid (then SIGKILL); 0 when stopped.

    Only a pid whose command line is this simulator is signalled.  Like SIGTERM on ckpool, the
    socket files and main.pid are left behind; --sim-stop removes them afterwards.
    """
    pidfile = os.path.join(sockdir, 'main.pid')
    try:
        with open(pidfile) as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return 0
    if pid_alive(pid) and is_simulator(pid):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + timeout
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            if not pid_alive(pid):
                break
    if pid_alive(pid) and is_simulator(pid):
        return 1
    for name in SOCKET_NAMES + ('main.pid',):
        try:
            os.unlink(os.path.join(sockdir, name))
        except OSError:
            pass
    return 0


def main(argv=None):
    argv = canonical_args(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    try:
        mode = ckpool_mode(argv)
    except ModeError as exc:
        fail_startup(str(exc), 1)
    if args.sim_stop:
        return stop_instance(os.path.abspath(args.sockdir or '/tmp/%s/' % (args.name or DEFAULT_NAMES[mode])))
    present_as_ckpool(argv)
    if (args.sim_daemon or args.daemonise) and not os.environ.get('CKPOOL_SIM_READY_FD'):
        return daemonize(argv)
    try:
        sim = Sim(args, argv)
    except (OSError, ValueError) as exc:
        fail_startup('ckpool_sim: %s' % exc, 1)
    refused = sim.check_config()
    if refused:
        fail_startup(refused, 0)
    signal.signal(signal.SIGTERM, sim.on_signal)
    signal.signal(signal.SIGINT, sim.on_signal)
    try:
        sim.run()
    except (OSError, ValueError) as exc:
        if sim.log is not None:
            sim.log.log(LOG_EMERG, 'ckpool_sim startup failed: %s' % exc)
        fail_startup('ckpool_sim: %s' % exc, 1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
