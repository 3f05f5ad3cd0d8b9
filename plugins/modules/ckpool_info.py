#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: ckpool_info
short_description: Gather facts about a ckpool instance without changing it
version_added: 0.1.0
description:
  - Reads the process, health, pool status, stratifier and connector statistics, users and workers of one
    ckpool instance on the managed host.
  - Strictly read-only. It sends only C(ping), C(stratifierstats) and C(connectorstats) (and C(getbase),
    C(getbest) for O(gather=workbase)) and never a command that creates or changes anything in the pool.
    In particular it never sends C(getuser=) or C(userclients=), which create the user they ask about.
  - Per-user and per-worker statistics come from the files ckpool writes in its C(logdir)
    (C(pool/pool.status), C(users/NAME)); ckpool's socket API for users is stubbed upstream and never answers.
  - A stopped pool is not a failure. RV(process.running) is V(false), socket sections are V(null) and the
    file data (last pool status, users) is still returned when the log directory is known.
  - Whether the pool runs comes from its listener (a C(ping); a listener that accepts the connection means
    running, whatever C(main.pid) says), and the process serving O(socket_dir) is the one the kernel names as
    holding the listening socket C(SOCKET_DIR/listener).
  - All socket work of a run shares one deadline, O(timeout) (plus O(connector_timeout) with O(connector_ping));
    against hung sockets the module ends within that and about a second more.
  - Block records in the log next to lines a miner may have forged (a worker name with line breaks) are not
    reported as blocks but in RV(suspicious_blocks); see M(ckpool.fleet.ckpool_dropuser) for how they are told
    apart and the limits of that.
author:
  - ckpool.fleet contributors (@ckpool-fleet)
extends_documentation_fragment:
  - ckpool.fleet.ckpool
  - ckpool.fleet.ckpool.files
  - ckpool.fleet.ckpool.attributes
attributes:
  check_mode:
    support: full
    details: The module never changes anything; it runs the same way in check mode.
  diff_mode:
    support: none
  action_group:
    support: full
options:
  gather:
    description:
      - Which subsets to gather, like community.postgresql's C(postgresql_info) O(gather) filter.
      - A list of subset names. V(all) means every subset. A name prefixed with C(!) is excluded.
        Shell-style wildcards are accepted (V(work*)). When only exclusions are given, every default subset
        except those is gathered.
      - Subsets are C(process) (pid, running), C(health) (ping listener and stratifier, optionally
        connector), C(pool) (C(pool/pool.status) with hashrates in H/s beside ckpool's raw strings, its age
        and a stale flag), C(stratifier) (stratifier stats JSON), C(connector) (connector stats JSON, asked
        through the listener so a slow connector does not delay it), C(users) and C(workers) (from the
        C(users/) files, filtered by O(users)), C(workbase) (the generator's current work template and best
        block hash) and C(blocks) (blocks the pool solved, from the instance's log C(LOGDIR/NAME.log)).
      - C(workbase) costs ckpool one bitcoind RPC and is not part of the default set; ask for it by name.
    type: list
    elements: str
    default: [process, health, pool, stratifier, connector]
  users:
    description:
      - User names or shell-style globs selecting which users (and their workers) O(gather=users) and
        O(gather=workers) return. Exact names are read directly, without listing the directory.
      - Each follows the user-name rule of M(ckpool.fleet.ckpool_dropuser) (1 to 127 bytes; no C(.) or C(..),
        C(/), backslash, whitespace at the ends, control, format or separator characters), except that the glob
        characters C(*), C(?), C([) and C(]) are allowed here.
      - This replaces the C(user.info=NAME) command popular guides show, which ckpool does not have.
    type: list
    elements: str
    default: ['*']
  users_limit:
    description:
      - Return at most this many users (sorted by name), from V(0) to 1000000000. V(0) means no limit.
      - RV(users_truncated) tells when the limit cut the list.
    type: int
    default: 0
  users_format:
    description:
      - How O(gather=users) and O(gather=workers) are returned.
      - V(list) returns the lists RV(users) and RV(workers).
      - V(json) returns the same data as one JSON text each, RV(users_json) and RV(workers_json) (parse them with
        C(from_json) where needed). Every value of a module result is inspected by Ansible one by one (no_log
        masking, serialisation) at a few microseconds each, so a list of 100 000 users with their workers costs
        minutes and gigabytes there; one text costs nothing extra, and the module writes each user out as it reads
        it instead of holding them all. Use it for pools with tens of thousands of users; not with O(query).
      - In the text, the ckpool-lhr worker keys C(started) and C(useragent) are left out where they are null (on
        upstream ckpool); everything else is as in the lists.
    type: str
    choices: [list, json]
    default: list
  hashrate_strings:
    description:
      - Also return ckpool's own hashrate strings (C(hashrate_raw)) beside the numbers in H/s for users and workers.
      - V(false) roughly halves the size of a result with many users.
    type: bool
    default: true
  stale_after:
    description:
      - C(pool.status) older than this many seconds is flagged C(stale) in RV(pool). ckpool rewrites it every
        60 seconds. From V(0) to ten years.
    type: int
    default: 180
  connector_ping:
    description:
      - Also ping the connector in O(gather=health).
      - The connector of a freshly started ckpool answers only on 5-second boundaries, so it gets its own
        deadline O(connector_timeout) and is not part of the health verdict unless this is V(true).
    type: bool
    default: false
  connector_timeout:
    description: Deadline in seconds for the connector ping (more than 0, at most 3600).
    type: float
    default: 6.0
  blocks_limit:
    description: With O(gather=blocks), return at most this many solved blocks (and suspicious records), newest
      first, from V(1) to V(100000).
    type: int
    default: 20
  query:
    description:
      - A JMESPath expression evaluated on the managed host over the gathered result. Only its value is
        returned (RV(query_result)), not the gathered data, so a small answer about a large pool travels
        back small.
      - Requires the C(jmespath) Python library on the managed host.
    type: str
requirements:
  - C(jmespath) on the managed host, only when O(query) is used.
notes:
  - The current log level cannot be read from ckpool; it is not reported.
seealso:
  - module: ckpool.fleet.ckpool_loglevel
  - module: ckpool.fleet.ckpool_dropuser
  - module: ckpool.fleet.ckpool_shutdown
'''

EXAMPLES = r'''
- name: Health and pool status of the default instance (/tmp/ckpool)
  ckpool.fleet.ckpool_info:
  register: pool

- name: Everything about an instance started with -s /run/ckpool and -c /etc/ckpool/ckpool.conf
  ckpool.fleet.ckpool_info:
    socket_dir: /run/ckpool
    config: /etc/ckpool/ckpool.conf
    gather: all

- name: Only the numbers needed for an alert, everything but users and workers
  ckpool.fleet.ckpool_info:
    socket_dir: /run/ckpool
    gather: ['!users', '!workers']

- name: One user's workers (O(1) even with 100 000 users)
  ckpool.fleet.ckpool_info:
    socket_dir: /run/ckpool
    log_dir: /var/log/ckpool
    gather: [workers]
    users: [bc1qexampleuser]

- name: Ship back only the 1-minute hashrate of users whose name starts with bc1q
  ckpool.fleet.ckpool_info:
    socket_dir: /run/ckpool
    log_dir: /var/log/ckpool
    gather: [users]
    users: ['bc1q*']
    query: "users[].{name: name, h1m: hashrate.\"1m\"}"
  register: top

- name: Set module defaults once for every ckpool module
  module_defaults:
    group/ckpool.fleet.ckpool:
      socket_dir: /run/ckpool
      timeout: 2
  block:
    - name: Gather
      ckpool.fleet.ckpool_info:
'''

RETURN = r'''
gathered:
  description: The subsets that were gathered, after resolving O(gather).
  returned: always
  type: list
  elements: str
  sample: [process, health, pool]
log_dir:
  description: The log directory used for file data, or null when it is unknown.
  returned: always
  type: str
  sample: /var/log/ckpool
log_file:
  description: The instance's log C(LOGDIR/NAME.log), or null when the log directory is unknown.
  returned: when file data was gathered
  type: str
  sample: /var/log/ckpool/ckpool.log
instance_name:
  description: The instance name the log is named after (see O(instance_name)).
  returned: when file data was gathered
  type: str
  sample: ckpool
process:
  description: Process facts, from the sockets and /proc (C(main.pid) is reported, not trusted).
  returned: when O(gather) contains C(process) and O(query) is not set
  type: dict
  contains:
    pid:
      description: The process proven to serve O(socket_dir) (it holds the listening socket), null when none is.
      type: int
    running:
      description:
        - Whether a process listens on C(SOCKET_DIR/listener). The socket files stay after a shutdown, so their
          presence is no proof; C(main.pid) is no proof either.
      type: bool
    answering:
      description: Whether the listener answered C(ping) within the deadline.
      type: bool
    pid_file:
      description: Path of C(main.pid).
      type: str
    pid_file_pid:
      description: The pid C(main.pid) holds (a hint), null when the file is missing.
      type: int
    owner_problem:
      description: Why no process could be proven to serve the directory although it runs (for example another
        user's process that this user may not inspect), or null.
      type: str
    sockets:
      description: Which of the four socket files exist.
      type: dict
    started:
      description: Start time of the process (unix time), when running.
      type: float
    cmdline:
      description: Command line of the process, when running and readable.
      type: list
      elements: str
    mode:
      description:
        - The instance's mode from the serving process's command line, with ckpool's own precedence
          (C(pool), C(solo), C(proxy), C(userproxy), C(passthrough), C(node), C(redirector)); null when no
          process is proven to serve the directory or its command line is unreadable.
        - The filter P(ckpool.fleet.fleet_summary#filter) takes the tier from it (passthrough, node, proxy and
          redirector miners are not counted twice).
      type: str
      sample: pool
      version_added: 0.2.0
    name:
      description: The instance name (C(-n NAME), else the mode's default name), which the log is named after;
        null when the mode is.
      type: str
      sample: ckpool
      version_added: 0.2.0
health:
  description: Result of pinging the sockets, each with its own verdict.
  returned: when O(gather) contains C(health) and O(query) is not set
  type: dict
  contains:
    healthy:
      description: True when the listener and the stratifier answered C(pong) (and the connector, with O(connector_ping)).
      type: bool
    listener:
      description: "C(ok), C(ms) and, on failure, C(error) (an error kind) and C(message)."
      type: dict
    stratifier:
      description: Same as RV(health.listener) for the stratifier.
      type: dict
    connector:
      description: Same for the connector; only with O(connector_ping).
      type: dict
  sample: {"healthy": true, "listener": {"ok": true, "ms": 0.3}, "stratifier": {"ok": true, "ms": 0.4}}
pool:
  description:
    - Contents of C(pool/pool.status), with hashrates converted to H/s floats in C(hashrate) beside ckpool's own
      strings in C(hashrate_raw). Null when the file is missing, unreadable or the log directory is unknown
      (see RV(file_errors) and the warnings).
  returned: when O(gather) contains C(pool) and O(query) is not set
  type: dict
  sample:
    path: /var/log/ckpool/pool/pool.status
    runtime: 300
    lastupdate: 1795502476
    age_seconds: 12.5
    stale: false
    users: 1
    workers: 1
    idle: 0
    disconnected: 0
    hashrate: {"1m": 114.0, "5m": 1740000.0}
    hashrate_raw: {"1m": "114", "5m": "1.74M"}
    diff: 100.0
    accepted: 1
    rejected: 0
    bestshare: 0
    sps: {"1m": 2.66e-8}
    netdiff: null
    accepted_count: null
    rejected_count: null
    user_agents: null
  contains:
    netdiff:
      description: Network difficulty (ckpool-lhr fork only, else null).
      type: float
    accepted_count:
      description: Accepted shares since the last block (ckpool-lhr only, else null); C(accepted) is their difficulty sum.
      type: int
    rejected_count:
      description: Rejected shares since the last block (ckpool-lhr only, else null).
      type: int
    user_agents:
      description:
        - The ckpool-lhr fork's C(UserAgents) list, one entry per normalised user agent (C(ua), C(devices),
          C(hashrate5m) in H/s, C(hashrate5m_raw), C(bestshare)). Null for upstream ckpool and when no miner
          sent a user agent.
      type: list
      elements: dict
stratifier:
  description: The stratifier's stats JSON (C(workbases), C(users), C(clients), C(shares), ...). Null when not running.
  returned: when O(gather) contains C(stratifier) and O(query) is not set
  type: dict
connector:
  description: The connector's stats JSON; C(clients.count) is the number of open miner connections.
  returned: when O(gather) contains C(connector) and O(query) is not set
  type: dict
users:
  description:
    - Users selected by O(users), from C(users/NAME), hashrates as in RV(pool).
    - Each worker also has C(started) (connect time) and C(useragent) (the raw user agent string the miner sent,
      miner-controlled text) with the ckpool-lhr fork, null otherwise.
  returned: when O(gather) contains C(users), O(users_format=list) and O(query) is not set
  type: list
  elements: dict
workers:
  description: Workers of the selected users, flattened, each with its C(user).
  returned: when O(gather) contains C(workers), O(users_format=list) and O(query) is not set
  type: list
  elements: dict
users_json:
  description: RV(users) as one JSON text (an array), with O(users_format=json).
  returned: when O(gather) contains C(users) and O(users_format=json)
  type: str
  sample: '[{"name":"bc1qexampleuser","hashrate":{"1m":114.0,"5m":1740000.0},"worker":[]}]'
workers_json:
  description: RV(workers) as one JSON text (an array), with O(users_format=json).
  returned: when O(gather) contains C(workers) and O(users_format=json)
  type: str
  sample: '[{"workername":"bc1qexampleuser.rig1","user":"bc1qexampleuser","hashrate":{"1m":114.0}}]'
users_truncated:
  description: True when O(users_limit) cut the user list.
  returned: when O(gather) contains C(users) or C(workers)
  type: bool
users_total:
  description: How many users matched O(users) before O(users_limit).
  returned: when O(gather) contains C(users) or C(workers)
  type: int
users_missing:
  description: Exact user names from O(users) that have no file (no accepted share in this process or an earlier one).
  returned: when O(gather) contains C(users) or C(workers)
  type: list
  elements: str
file_errors:
  description:
    - Files that could not be read or parsed (for example a user file or C(pool.status) still torn after the
      retries, as ckpool rewrites them in place), each with C(name), C(path) and C(error).
  returned: when O(gather) contains C(users) or C(workers), or when a file could not be read
  type: list
  elements: dict
workbase:
  description:
    - Summary of the generator's current work template (C(getbase)) and the best block hash (C(getbest)).
      The transactions themselves are not returned, only their number. Null when not running.
  returned: when O(gather) contains C(workbase) and O(query) is not set
  type: dict
  contains:
    height:
      description: Height of the block being worked on.
      type: int
    previousblockhash:
      description: Hash of the previous block.
      type: str
    coinbasevalue:
      description: Coinbase value in satoshis (subsidy plus fees).
      type: int
    diff:
      description: Network difficulty.
      type: float
    ntime:
      description: Block time ckpool uses, hex.
      type: str
    curtime:
      description: Template time, unix seconds.
      type: int
    version:
      description: Block version.
      type: int
    bits:
      description: Compact target, hex.
      type: str
    transactions:
      description: Number of transactions in the template.
      type: int
    best:
      description: Best block hash bitcoind reports (C(getbest)).
      type: str
  sample: {"height": 102, "previousblockhash": "6f8a5aba...", "coinbasevalue": 5000000000, "diff": 4.66e-10,
           "ntime": "6b052a52", "curtime": 1795500626, "version": 536870912, "bits": "207fffff", "transactions": 0,
           "best": "6f8a5aba..."}
blocks:
  description:
    - Blocks the pool solved according to its log (C(Solved and confirmed block H by WORKER) and
      C(BLOCK ACCEPTED!) records), newest first, at most O(blocks_limit), read from the end of the log with
      the O(log_max_bytes) bound. Times are the log's local time converted to unix time.
    - Records within 2 KiB of a sign of tampering are left out (see RV(suspicious_blocks)).
  returned: when O(gather) contains C(blocks) and O(query) is not set
  type: list
  elements: dict
  sample: [{"time": 1795500700.123, "height": 103, "worker": "alice.rig1", "user": "alice", "accepted": true,
            "line": "[2026-11-24 06:11:40.123] Solved and confirmed block 103 by alice.rig1"}]
suspicious_blocks:
  description:
    - Block records that lie next to lines a miner may have forged (a line without a valid time stamp, a cut
      C(Authorised)/C(Dropped) record, a time stamp out of order), in the shape of RV(blocks) with a C(reason).
      They are not counted as blocks.
  returned: when O(gather) contains C(blocks) and O(query) is not set
  type: list
  elements: dict
  sample: [{"time": 1795500700.1, "height": 999999, "worker": "mallory.x", "user": "mallory", "accepted": true,
            "line": "[2026-11-24 06:11:40.100] Solved and confirmed block 999999 by mallory.x",
            "reason": "within 2048 bytes of a line without a valid time stamp"}]
query_result:
  description: Value of O(query) over the gathered result.
  returned: when O(query) is set
  type: raw
commands:
  description:
    - Every command sent to ckpool during this run, in order. C(reply) is null when ckpool closed the connection
      without answering.
  returned: always
  type: list
  elements: dict
  sample: [{"socket": "listener", "command": "ping", "reply": "pong", "ms": 0.21}]
socket_dir:
  description: The socket directory the module worked on.
  returned: always
  type: str
  sample: /run/ckpool
'''

import fnmatch
import json
import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.ckpool.fleet.plugins.module_utils.ckpool import (
    CkpoolError,
    CkpoolPermissionDenied,
)
from ansible_collections.ckpool.fleet.plugins.module_utils.module_base import CkpoolModule


def import_jmespath():
    """Import jmespath only when a query needs it (it costs every run otherwise).

    Returns (module, None) or (None, traceback text)."""
    try:
        import jmespath
    except ImportError:
        return None, traceback.format_exc()
    return jmespath, None


WORKBASE_KEYS = ('height', 'previousblockhash', 'coinbasevalue', 'diff', 'ntime', 'curtime', 'version',
                 'bbversion', 'bits', 'target', 'mintime', 'sizelimit')
SUBSETS = ('process', 'health', 'pool', 'stratifier', 'connector', 'users', 'workers', 'workbase', 'blocks')
DEFAULT_SUBSETS = ('process', 'health', 'pool', 'stratifier', 'connector')
LHR_WORKER_KEYS = ('started', 'useragent')
"""Worker keys only ckpool-lhr writes; with users_format=json they are left out when null."""

NUMBERS = {
    'users_limit': dict(low=0, high=10 ** 9, low_inclusive=True, integer=True),
    'stale_after': dict(low=0, high=10 * 365 * 86400, low_inclusive=True, integer=True),
    'blocks_limit': dict(low=1, high=100000, low_inclusive=True, integer=True),
}


def resolve_gather(items):
    """postgresql_info-style subset filter: names, !excludes, 'all', wildcards.

    Returns (subsets, unknown)."""
    include = set()
    exclude = set()
    unknown = []
    only_excludes = True
    for raw in items:
        item = (raw or '').strip()
        negate = item.startswith('!')
        name = item[1:].strip() if negate else item
        if name == 'all':
            matched = list(SUBSETS)
        else:
            matched = [s for s in SUBSETS if fnmatch.fnmatchcase(s, name)]
        if not matched:
            unknown.append(raw)
            continue
        if negate:
            exclude.update(matched)
        else:
            only_excludes = False
            include.update(matched)
    if only_excludes:
        include = set(DEFAULT_SUBSETS)
    return [s for s in SUBSETS if s in include and s not in exclude], unknown


class Pieces(object):
    """A JSON array built from element texts, joined in batches so that few objects are held."""

    def __init__(self, batch=1000):
        self.batch = batch
        self.joined = []
        self.pending = []

    def append(self, text):
        self.pending.append(text)
        if len(self.pending) >= self.batch:
            self.joined.append(','.join(self.pending))
            self.pending = []

    def text(self):
        if self.pending:
            self.joined.append(','.join(self.pending))
            self.pending = []
        text = '[%s]' % ','.join(self.joined)
        self.joined = []
        return text


class Gatherer:
    """Gathers each subset once; socket work goes through the module's one deadline."""

    def __init__(self, cm):
        self.cm = cm
        self.client = cm.client
        self.params = cm.params
        self.file_errors = []

    def process(self):
        import os
        from ansible_collections.ckpool.fleet.plugins.module_utils.ckpool import SOCKETS
        live = self.cm.liveness()
        owner = live['owner'] or {}
        if live.get('pid_file_problem'):
            self.cm.warn(live['pid_file_problem'])
        described = {}
        if owner.get('cmdline'):
            from ansible_collections.ckpool.fleet.plugins.module_utils.process import describe_instance
            described = describe_instance(owner, self.client.socket_dir)
        return dict(
            pid=live['pid'],
            running=live['running'],
            answering=live['answering'],
            pid_file=self.client.pid_file,
            pid_file_pid=live['pid_file_pid'],
            sockets=dict((name, os.path.exists(self.client.path(name))) for name in SOCKETS),
            started=owner.get('start_time'),
            cmdline=owner.get('cmdline'),
            mode=described.get('mode'),
            name=described.get('name'),
            owner_problem=live['owner_problem'],
        )

    def log_dir(self, log=False):
        found = self.cm.instance(log=log)
        if found['problem']:
            self.cm.warn('file data unavailable: %s' % found['problem'])
        return found['log_dir']

    def health(self):
        live = self.cm.liveness(prove=False)
        result = dict(healthy=True)
        # the listener was pinged once by liveness()
        listener = dict(ok=live['answering'])
        if live['error'] is not None:
            listener.update(error=live['error'].kind, message=str(live['error']))
        listener['ms'] = live['ms']
        result['listener'] = listener
        targets = [('stratifier', None)]
        if self.params['connector_ping']:
            targets.append(('connector', self.params['connector_timeout']))
        for sock, timeout in targets:
            entry = dict(ok=False)
            try:
                self.client.ping(sock, timeout=timeout)
                entry['ok'] = True
            except CkpoolPermissionDenied:
                raise
            except CkpoolError as exc:
                entry['error'] = exc.kind
                entry['message'] = str(exc)
            entry['ms'] = self.client.audit[-1]['ms'] if self.client.audit else None
            result[sock] = entry
        result['healthy'] = all(result[sock]['ok'] for sock in result if sock != 'healthy')
        return result

    def stats(self, which):
        if not self.cm.liveness(prove=False)['running']:
            return None
        try:
            return self.client.stats(which)
        except CkpoolPermissionDenied:
            raise
        except CkpoolError as exc:
            self.cm.warn('%s stats unavailable: %s' % (which, exc))
            return None

    def pool(self):
        from ansible_collections.ckpool.fleet.plugins.module_utils import status_files
        from ansible_collections.ckpool.fleet.plugins.module_utils.safe_files import CkpoolFileError
        log_dir = self.log_dir()
        if not log_dir:
            return None
        try:
            return status_files.read_pool_status(log_dir, stale_after=self.params['stale_after'])
        except CkpoolFileError as exc:
            # missing, unsafe, or still torn after the retries (ckpool rewrites it in place): the
            # other gathered data stays useful, so report it instead of failing
            self.cm.warn('pool status unavailable: %s' % exc)
            self.file_errors.append(dict(name='pool.status', path=exc.path, error=exc.reason))
            return None

    def users(self):
        from ansible_collections.ckpool.fleet.plugins.module_utils import status_files
        from ansible_collections.ckpool.fleet.plugins.module_utils.safe_files import CkpoolFileError, CkpoolFileMissing
        empty = dict(users=[], errors=[], missing=[], total=0, truncated=False)
        log_dir = self.log_dir()
        if not log_dir:
            return empty
        limit = self.params['users_limit'] or None
        try:
            return status_files.read_users(log_dir, self.params['users'], limit=limit,
                                           raw=self.params['hashrate_strings'])
        except CkpoolFileMissing as exc:
            self.cm.warn(str(exc))
            return empty
        except (CkpoolFileError, ValueError) as exc:
            self.cm.fail('cannot read users: %s' % exc)

    def users_as_json(self, want_users, want_workers):
        """Read the selected users one at a time and write each out at once as JSON text."""
        from ansible_collections.ckpool.fleet.plugins.module_utils import status_files
        from ansible_collections.ckpool.fleet.plugins.module_utils.safe_files import CkpoolFileError, CkpoolFileMissing
        found = dict(users_json='[]', workers_json='[]', errors=[], missing=[], total=0, truncated=False)
        log_dir = self.log_dir()
        if not log_dir:
            return found
        dumps = json.JSONEncoder(separators=(',', ':')).encode
        # per 1000 users the texts are joined into one piece: fewer, larger objects to hold
        users = Pieces()
        workers = Pieces()
        try:
            with status_files.UserReader(log_dir, self.params['users'], limit=self.params['users_limit'] or None,
                                         raw=self.params['hashrate_strings']) as reader:
                for user in reader:
                    for worker in user['worker']:
                        # ckpool-lhr's keys, null on upstream ckpool: left out of the text
                        for key in LHR_WORKER_KEYS:
                            if worker.get(key, 0) is None:
                                del worker[key]
                    if want_users:
                        users.append(dumps(user))
                    if want_workers:
                        for worker in user['worker']:
                            item = dict(worker)
                            item['user'] = user['name']
                            workers.append(dumps(item))
                found.update(errors=reader.errors, missing=reader.missing, total=reader.total,
                             truncated=reader.truncated)
        except CkpoolFileMissing as exc:
            self.cm.warn(str(exc))
            return found
        except (CkpoolFileError, ValueError) as exc:
            self.cm.fail('cannot read users: %s' % exc)
        found['users_json'] = users.text()
        del users
        found['workers_json'] = workers.text()
        return found

    def workbase(self):
        if not self.cm.liveness(prove=False)['running']:
            return None
        base = self.client.query_json('generator', 'getbase')
        best = self.client.send('generator', 'getbest', expect_reply=True)
        # the template carries every transaction (megabytes on mainnet): keep the summary only
        summary = dict((key, base.get(key)) for key in WORKBASE_KEYS)
        txns = base.get('transactions')
        summary['transactions'] = len(txns) if isinstance(txns, list) else None
        summary['best'] = best
        return summary

    def blocks(self):
        from ansible_collections.ckpool.fleet.plugins.module_utils import ckpool_log
        from ansible_collections.ckpool.fleet.plugins.module_utils.safe_files import CkpoolFileError, CkpoolFileMissing
        if not self.log_dir(log=True):
            return [], []
        found = self.cm.instance()
        path = found['log_file']
        try:
            result = ckpool_log.solved_blocks(path, limit=self.params['blocks_limit'],
                                              max_bytes=self.params['log_max_bytes'], opener=self.cm.log_opener())
        except CkpoolFileMissing as exc:
            self.cm.warn(str(exc))
            return [], []
        except CkpoolFileError as exc:
            self.cm.fail('cannot read blocks from %s: %s' % (path, exc.reason))
        if result['bound_hit'] and len(result['blocks']) < self.params['blocks_limit']:
            self.cm.warn('read only the last %d bytes of %s: older blocks are not listed'
                         % (self.params['log_max_bytes'], path))
        if result['suspicious']:
            self.cm.warn('%d block record(s) in %s lie next to lines a miner may have forged (a worker name with '
                         'line breaks): not reported as blocks, see suspicious_blocks'
                         % (len(result['suspicious']), path))
        return result['blocks'], result['suspicious']


def main():
    argument_spec = dict(
        gather=dict(type='list', elements='str', default=list(DEFAULT_SUBSETS)),
        users=dict(type='list', elements='str', default=['*']),
        users_limit=dict(type='int', default=0),
        users_format=dict(type='str', default='list', choices=['list', 'json']),
        hashrate_strings=dict(type='bool', default=True),
        stale_after=dict(type='int', default=180),
        connector_ping=dict(type='bool', default=False),
        connector_timeout=dict(type='float', default=6.0),
        blocks_limit=dict(type='int', default=20),
        query=dict(type='str'),
    )
    cm = CkpoolModule(argument_spec=argument_spec, supports_check_mode=True, log_options=True, numbers=NUMBERS)
    params = cm.params

    subsets, unknown = resolve_gather(params['gather'])
    if unknown:
        cm.fail('unknown gather subset(s) %s; valid: all, %s (prefix ! to exclude)'
                % (', '.join(repr(u) for u in unknown), ', '.join(SUBSETS)))
    if 'users' in subsets or 'workers' in subsets:
        from ansible_collections.ckpool.fleet.plugins.module_utils.usernames import check_pattern
        for pattern in params['users']:
            try:
                check_pattern(pattern)
            except ValueError as exc:
                cm.fail(str(exc))
    if params['query'] is not None and params['users_format'] == 'json' and (
            'users' in subsets or 'workers' in subsets):
        cm.fail('query works on the gathered data itself: use users_format=list with it')
    jmespath = None
    if params['query'] is not None:
        jmespath, import_error = import_jmespath()
        if jmespath is None:
            cm.fail(missing_required_lib('jmespath'), exception=import_error)
    if params['connector_ping'] and 'health' in subsets:
        cm.extend_deadline(params['connector_timeout'], 'timeout + connector_timeout')

    g = Gatherer(cm)
    data = dict(gathered=subsets)
    try:
        if 'process' in subsets:
            data['process'] = g.process()
        if 'health' in subsets:
            data['health'] = g.health()
        if 'pool' in subsets:
            data['pool'] = g.pool()
        if 'stratifier' in subsets:
            data['stratifier'] = g.stats('stratifier')
        if 'connector' in subsets:
            data['connector'] = g.stats('connector')
        if 'users' in subsets or 'workers' in subsets:
            as_json = params['users_format'] == 'json'
            found = g.users_as_json('users' in subsets, 'workers' in subsets) if as_json else g.users()
            data['users_truncated'] = found['truncated']
            data['users_total'] = found['total']
            data['users_missing'] = found['missing']
            g.file_errors.extend(found['errors'])
            if 'users' in subsets:
                key = 'users_json' if as_json else 'users'
                data[key] = found[key]
            if 'workers' in subsets and as_json:
                data['workers_json'] = found['workers_json']
            elif 'workers' in subsets:
                from ansible_collections.ckpool.fleet.plugins.module_utils.status_files import flatten_workers
                data['workers'] = flatten_workers(found['users'])
        if 'workbase' in subsets:
            data['workbase'] = g.workbase()
        if 'blocks' in subsets:
            data['blocks'], data['suspicious_blocks'] = g.blocks()
    except CkpoolError as exc:
        cm.fail_from(exc, prefix='ckpool_info could not gather %s' % ', '.join(subsets),
                     log_dir=cm.instance()['log_dir'] if cm._instance else None)
    if g.file_errors or 'users' in subsets or 'workers' in subsets:
        data['file_errors'] = g.file_errors
    data['log_dir'] = cm._instance['log_dir'] if cm._instance else None
    if cm._instance and cm._instance['resolved_log']:
        data['log_file'] = cm._instance['log_file']
        data['instance_name'] = cm._instance['name']

    if params['query'] is not None:
        try:
            value = jmespath.search(params['query'], data)
        except Exception as exc:  # jmespath raises several exception types for bad expressions
            cm.fail('query %r failed: %s' % (params['query'], exc), gathered=subsets)
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            cm.fail('query %r does not select data (it evaluates to %s, which cannot be returned); select values, '
                    'for example users[].name' % (params['query'], type(value).__name__), gathered=subsets)
        cm.exit(query_result=value, gathered=subsets, log_dir=data['log_dir'])
    cm.exit(**data)


if __name__ == '__main__':
    main()
