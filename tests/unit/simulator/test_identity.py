# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulator presents itself the way ckpool does (issue #8/#9): argv[0] "ckpool" and ckpool-style
options, its listener socket held like ckpool's, the log named LOGDIR/NAME.log, worker names logged
verbatim (newlines included), and a handover that can be as slow as the real one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from ansible_collections.ckpool.fleet.tests.simulator import ckpool_sim
from ansible_collections.ckpool.fleet.tests.simulator.fixture import MINER_SCRIPT, SIM_SCRIPT, SOCKETS, pid_alive

# captures/log_injection.txt: the worker name a miner authorised with on a real ckpool
INJECTED = 'mallory.w1\n[2026-12-01 21:00:00.000] Authorised client 1 127.0.0.1 worker w as user alice\nz'


def cmdline(pid):
    with open('/proc/%d/cmdline' % pid, 'rb') as handle:
        return [a.decode() for a in handle.read().split(b'\0')[:-1]]


def getopt_ckpool(args):
    """ckpool's getopt_long over cmdline[1:] as a production parser would do it: non-options and unknown
    long options are skipped; returns {letter: value} for c, n, s and the flags seen."""
    with_arg = set('cdglnSs')
    longs = {'config': 'c', 'name': 'n', 'sockdir': 's', 'loglevel': 'l', 'group': 'g', 'handover': 'H',
             'killold': 'k', 'quiet': 'q', 'daemonise': 'D', 'btcsolo': 'B', 'proxy': 'p', 'passthrough': 'P'}
    seen = {}
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg.startswith('--'):
            name, _eq, value = arg[2:].partition('=')
            letter = longs.get(name)
            if letter is None:
                continue                      # unknown long option (--sim-x=VALUE): skipped
            if letter in with_arg and not _eq:
                value = args[index]
                index += 1
            seen[letter] = value if letter in with_arg else True
        elif arg.startswith('-') and len(arg) > 1:
            for pos, char in enumerate(arg[1:]):
                if char in with_arg:
                    value = arg[pos + 2:] or args[index]
                    if not arg[pos + 2:]:
                        index += 1
                    seen[char] = value
                    break
                seen[char] = True
    return seen


def unix_listeners(pid):
    """Paths of the listening unix sockets pid holds (/proc/PID/fd inodes matched in /proc/net/unix)."""
    inodes = set()
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            target = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            continue
        if target.startswith('socket:['):
            inodes.add(target[8:-1])
    paths = []
    with open('/proc/net/unix') as handle:
        next(handle)
        for line in handle:
            fields = line.split()
            # Flags 00010000 = __SO_ACCEPTCON (listening), St 01 = SS_UNCONNECTED
            if len(fields) >= 8 and fields[6] in inodes and fields[3] == '00010000':
                paths.append(fields[7])
    return paths


def assert_ckpool_shape(pid, sockdir, name, extra=()):
    argv = cmdline(pid)
    assert argv[0] == 'ckpool' and argv[1] == SIM_SCRIPT, argv
    assert not any(a.startswith('--sim-') and '=' not in a and a[2:] in ckpool_sim.SIM_VALUE_OPTIONS
                   for a in argv), argv
    opts = getopt_ckpool(argv[1:])
    assert opts.get('s') == sockdir and opts.get('n', 'ckpool') == name
    for flag in extra:
        assert opts.get(flag) is True, (flag, argv)
    with open('/proc/%d/comm' % pid) as handle:
        assert handle.read().strip() == name[:14]          # prctl(PR_SET_NAME) with ckp.name, 14 chars
    assert os.path.join(sockdir, 'listener') in unix_listeners(pid)


def test_runs_as_ckpool_and_holds_its_listener(make_sim):
    sim = make_sim(name='a-long-instance-name')
    pid = sim.pid
    assert pid == sim.first_pid                             # re-executed in place: same pid
    assert_ckpool_shape(pid, sim.sockdir, 'a-long-instance-name')
    assert sorted(unix_listeners(pid)) == sorted(os.path.join(sim.sockdir, n) for n in SOCKETS)
    before = cmdline(pid)
    assert sim.request('listener', 'restart').reply == 'restarting'
    new = sim.wait_pid_change(pid)
    sim.wait_ready(new, 10)
    assert_ckpool_shape(new, sim.sockdir, 'a-long-instance-name', extra='H')
    assert cmdline(new) == before + ['-H']                  # ckpool: execv(initial_args + "-H")
    assert not pid_alive(pid)


def test_space_separated_sim_values_are_rewritten(tmp_path):
    """A simulator value that looks like a ckpool option never reaches the command line as one."""
    assert ckpool_sim.canonical_args(['-n', 'x', '--sim-fault', 'hang:connector', '--sim-users', '3', '-k']) == \
        ['-n', 'x', '--sim-fault=hang:connector', '--sim-users=3', '-k']
    assert ckpool_sim.canonical_args(['--sim-command-log', '-k']) == ['--sim-command-log=-k']


@pytest.mark.parametrize('args, mode, name', [
    ([], 'pool', 'ckpool'),
    (['-B'], 'solo', 'ckpool'),
    (['-p'], 'proxy', 'ckproxy'),
    (['--proxy'], 'proxy', 'ckproxy'),
    (['-u'], 'userproxy', 'ckproxy'),
    (['-P'], 'passthrough', 'ckpassthrough'),
    (['-N'], 'node', 'cknode'),
    (['-R'], 'redirector', 'ckredirector'),
    (['-qkR', '-l', '7'], 'redirector', 'ckredirector'),
    (['-n', '-p'], 'pool', 'ckpool'),          # "-p" is the value of -n here
    (['-c', 'x.conf', '-B', '-H'], 'solo', 'ckpool'),
])
def test_mode_and_default_name(args, mode, name):
    assert ckpool_sim.ckpool_mode(args) == mode
    assert ckpool_sim.DEFAULT_NAMES[mode] == name


@pytest.mark.parametrize('args, message', [
    (['-p', '-B'], 'Cannot set both proxy and btcsolo mode'),
    (['-P', '-N'], 'Cannot set another proxy type or redirector and node mode'),
    (['-p', '-P'], 'Cannot set another proxy type or redirector and passthrough mode'),
    (['-u', '-p'], 'Cannot set another proxy type or redirector and proxy mode'),
    (['-N', '-R'], 'Cannot set a proxy type or passthrough and redirector modes'),
    (['-p', '-t'], 'Cannot set a proxy type and trusted remote mode'),
    (['-R', '-u'], 'Cannot set both userproxy and another proxy type or redirector'),
])
def test_mode_conflicts_refused_like_ckpool(args, message):
    with pytest.raises(ckpool_sim.ModeError, match=message):
        ckpool_sim.ckpool_mode(args)


UPSTREAM = {'proxy': [{'url': '127.0.0.1:9', 'auth': 'x', 'pass': 'x'}]}   # nothing listens: never connected


@pytest.mark.parametrize('extra, name, logname, config', [
    (['-B'], None, 'ckpool.log', None),
    (['-B'], 'cksolo', 'cksolo.log', None),          # observed: -n cksolo writes LOGDIR/cksolo.log
    (['-P'], None, 'ckpassthrough.log', UPSTREAM),
])
def test_log_is_named_after_the_instance(make_sim, extra, name, logname, config):
    sim = make_sim(name=name, extra_args=extra, config=config)
    assert sim.logfile == os.path.join(sim.logdir, logname)
    # ckpool.c: LOGWARNING("%s stratifier ready", ckp->name)
    assert sim.wait_for_log(r'\] %s stratifier ready$' % logname[:-4])
    logs = sorted(f for f in os.listdir(sim.logdir) if f.endswith('.log'))
    assert logs == [logname]


def test_worker_names_are_logged_verbatim(sim):
    """captures/log_injection.txt: a newline in a worker name makes extra physical lines."""
    miner = sim.miner(INJECTED)
    line = sim.wait_for_log(r'Authorised client \d+ 127\.0\.0\.1 worker mallory\.w1$')
    cid = int(re.search(r'Authorised client (\d+) ', line).group(1))
    lines = sim.log_lines()
    index = lines.index(line)
    assert lines[index + 1:index + 3] == [INJECTED.split('\n')[1], 'z as user mallory']
    assert miner.submit()['result'] is True                 # submits under the same (multi-line) name
    miner.close()
    sim.wait_for_log(r'^z $')                               # "Dropped client ... worker mallory.w1\n[...]\nz "
    text = '\n'.join(sim.log_lines()) + '\n'
    assert 'Dropped client %d 127.0.0.1 user mallory worker mallory.w1\n%s\nz \n' % (cid, INJECTED.split('\n')[1]) \
        in text


def test_block_line_carries_the_worker_name_verbatim(sim):
    forged = 'eve.x\n[2026-12-01 21:00:00.000] Solved and confirmed block 999999 by eve.x'
    miner = sim.miner(forged)
    miner.submit(nonce='b10cb10c')
    sim.wait_for_log(r'^\[2026-12-01 21:00:00\.000\] Solved and confirmed block 999999 by eve\.x$')
    sim.wait_for_log(r'Solved and confirmed block 102 by eve\.x$')


def test_nul_in_a_worker_name_is_invalid_json(make_sim):
    sim = make_sim(loglevel=6)
    miner = sim.miner()
    msgid = miner.send('mining.authorize', ['nul\u0000.x', 'x'])
    with pytest.raises(TimeoutError):
        miner.response(msgid, timeout=0.5)
    sim.wait_for_log(r'sent invalid json message')


def test_miner_cli_authorises_with_a_newline_name(sim):
    proc = subprocess.run([sys.executable, MINER_SCRIPT, '--port', str(sim.stratum_port), '--worker', INJECTED,
                           '--interval', '0.2', '--duration', '1.5'],
                          capture_output=True, text=True, timeout=30, check=True)
    assert '"event": "sent"' in proc.stdout
    sim.wait_for_log(r'^z as user mallory$')


def test_handover_delay_like_the_real_one(make_sim):
    """--sim-handover-delay=1.9: from "restart" to the new process answering takes >= 1.9 s; meanwhile
    main.pid is missing and the listener refuses or is missing (real ckpool: ~1.9 s, issue #9)."""
    sim = make_sim(extra_args=['--sim-handover-delay=1.9'])
    old = sim.pid
    start = time.monotonic()
    assert sim.request('listener', 'restart').reply == 'restarting'
    seen = set()
    answered = answered_at = None
    while time.monotonic() - start < 12:
        got = sim.request('listener', 'ping', timeout=0.5)
        if got.outcome == 'reply' and sim.pid not in (None, old):
            answered, answered_at = time.monotonic() - start, time.time()
            break
        seen.add((got.outcome, sim.pid is None))
        time.sleep(0.01)
    assert answered is not None and answered >= 1.9, (answered, seen)
    # The delay counts from the new process's start (as ckpool's own start-up does); the interpreter's
    # start before it is load, not the delay: the new process answered 1.9 s after it started, not much later.
    new = sim.pid
    deadline = time.monotonic() + 5   # the state file is written just after the sockets serve
    while sim.state().get('pid') != new:
        assert time.monotonic() < deadline, sim.state()
        time.sleep(0.02)
    started = sim.state()['started']
    assert 1.9 - 0.05 <= answered_at - started < 1.9 + 1.5, (answered_at - started, answered, seen)
    assert ('refused', True) in seen or ('missing', True) in seen
    assert not pid_alive(old)


def test_daemon_keeps_ckpool_shape_with_D(tmp_path):
    conf = tmp_path / 'c.conf'
    conf.write_text('{"serverurl": "127.0.0.1:0", "logdir": "%s"}' % (tmp_path / 'logs'))
    sockdir = '/tmp/cks-D-%d' % os.getpid()
    proc = subprocess.run([sys.executable, SIM_SCRIPT, '-c', str(conf), '-n', 'dd', '-s', sockdir, '-q', '-D',
                           '--sim-stratum-port', '0'], capture_output=True, text=True, timeout=20, check=False)
    try:
        assert proc.returncode == 0, proc.stderr
        pid = int(proc.stdout.strip())
        assert_ckpool_shape(pid, sockdir, 'dd', extra='Dq')
        assert os.getsid(pid) == pid
        assert os.path.exists(tmp_path / 'logs' / 'dd.log')
    finally:
        subprocess.run([sys.executable, SIM_SCRIPT, '-s', sockdir, '--sim-stop'], timeout=20, check=False)
        os.rmdir(sockdir)
