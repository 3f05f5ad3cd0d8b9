# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start and stop a fleet of simulated ckpool instances on this machine.

    fleet.py up --count 3 --base /tmp/ckfleet [--users 20 --workers-per-user 3] [--miners 2]
    fleet.py up --topology topology.json --base /tmp/ckfleet
    fleet.py status --base /tmp/ckfleet
    fleet.py down --base /tmp/ckfleet [--clean]

``up`` writes BASE/fleet.json (one entry per instance: name, pid, sockdir, logdir, config,
stratum_port, miner pids) and BASE/inventory.ini (one host per instance, local connection,
with ckpool_name / ckpool_socket_dir / ckpool_log_dir / ckpool_config / ckpool_stratum_port host vars;
the log of instance NAME is LOGDIR/NAME.log).
Instances are daemons (``ckpool_sim.py --sim-daemon``); ``--miners K`` also starts K live
stratum connections per instance (``miner.py``, output in BASE/NAME/miner.jsonl).

``--topology FILE`` starts a multi-tier fleet instead, in file order (an upstream before the
instances that use it).  FILE is a JSON list of instances::

    {"name": "main", "mode": "pool", "nodeserver": true, "flavour": "upstream",
     "users": 0, "workers_per_user": 1, "args": [],
     "miners": [{"worker": "alice.rig1", "interval": 1.0, "agent": "NerdMiner/1.0"}]}
    {"name": "edge", "mode": "passthrough", "upstream": "main"}
    {"name": "red", "mode": "redirector", "upstream": "main", "redirecturl": ["pool.example.com:3334"]}

``mode`` is one of pool solo proxy userproxy passthrough node redirector; ``upstream`` names an
earlier instance (its stratum port, or its nodeserver port for a node, becomes the "proxy" entry);
the inventory gets ``ckpool_mode`` and ``ckpool_tier`` host variables.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SIM = os.path.join(HERE, 'ckpool_sim.py')
MINER = os.path.join(HERE, 'miner.py')


def cmdline_has(pid, needle):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            return needle.encode() in handle.read()
    except OSError:
        return False


def terminate(pid, needle, timeout=5.0):
    """SIGTERM (then SIGKILL) pid, only if its command line contains needle."""
    if not pid or not cmdline_has(pid, needle):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not cmdline_has(pid, needle):
                return
            time.sleep(0.02)


MODE_FLAGS = {'pool': [], 'solo': ['-B'], 'proxy': ['-p'], 'userproxy': ['-u'], 'passthrough': ['-P'],
              'node': ['-N'], 'redirector': ['-R']}
TIERS = {'pool': 'pool', 'solo': 'pool', 'proxy': 'proxy', 'userproxy': 'proxy', 'passthrough': 'passthrough',
         'node': 'node', 'redirector': 'redirector'}


def start_miner(args, home, port, spec, number):
    out = open(os.path.join(home, 'miner%d.jsonl' % number), 'ab')
    cmd = [args.python, MINER, '--port', str(port), '--worker', spec['worker'],
           '--interval', str(spec.get('interval', 1.0)), '--reconnect-on-eof']
    if spec.get('agent'):
        cmd += ['--agent', spec['agent']]
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=home)
    finally:
        out.close()
    return proc.pid


def up_topology(args, base):
    with open(args.topology) as handle:
        topology = json.load(handle)
    states = {}
    instances = []
    for spec in topology:
        name, mode = spec['name'], spec.get('mode', 'pool')
        if mode not in MODE_FLAGS:
            sys.stderr.write('%s: unknown mode %r\n' % (name, mode))
            return 1
        home = os.path.join(base, name)
        os.makedirs(home, exist_ok=True)
        sockdir, logdir, config = os.path.join(home, 'run'), os.path.join(home, 'logs'), os.path.join(home, 'ckpool.conf')
        conf = {'btcd': [{'url': '127.0.0.1:8332', 'auth': 'user', 'pass': 'pass', 'notify': True}],
                'btcaddress': '14BMjogz69qe8hk9thyzbmR5pg34mVKB1e', 'serverurl': ['127.0.0.1:0'], 'logdir': logdir}
        if spec.get('nodeserver'):
            conf['nodeserver'] = ['127.0.0.1:0']
        if spec.get('upstream'):
            up_state = states[spec['upstream']]
            ports = up_state['stratum_ports']
            port = ports[1] if mode == 'node' and len(ports) > 1 else ports[0]
            conf['proxy'] = [{'url': '127.0.0.1:%d' % port, 'auth': '%s-proxy' % name, 'pass': 'x'}]
        if spec.get('redirecturl'):
            conf['redirecturl'] = spec['redirecturl']
        conf.update(spec.get('config') or {})
        with open(config, 'w') as handle:
            json.dump(conf, handle, indent=1)
        cmd = [args.python, SIM, '-c', config, '-n', name, '-s', sockdir, '-q', '-k', '--sim-daemon',
               '--sim-stratum-port=0', '--sim-status-interval=%s' % args.status_interval,
               '--sim-flavour=%s' % spec.get('flavour', 'upstream')] + MODE_FLAGS[mode]
        if spec.get('users'):
            cmd += ['--sim-users=%d' % spec['users'], '--sim-workers-per-user=%d' % spec.get('workers_per_user', 1)]
        cmd += list(spec.get('args') or [])
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False, cwd=home)
        if proc.returncode != 0 or not proc.stdout.strip():
            sys.stderr.write('%s: simulator failed: %s\n' % (name, proc.stderr.strip()))
            return 1
        with open(os.path.join(logdir, '.sim_state.json')) as handle:
            state = json.load(handle)
        states[name] = state
        miners = [start_miner(args, home, state['stratum_port'], m, n + 1)
                  for n, m in enumerate(spec.get('miners') or [])]
        instances.append({'name': name, 'mode': mode, 'tier': TIERS[mode], 'pid': state['pid'], 'sockdir': sockdir,
                          'logdir': logdir, 'logfile': state['logfile'], 'config': config,
                          'stratum_host': state['stratum_host'], 'stratum_port': state['stratum_port'],
                          'stratum_ports': state['stratum_ports'], 'command_log': state['command_log'],
                          'miner_pids': miners})
    return write_fleet(args, base, instances)


def write_fleet(args, base, instances):
    with open(os.path.join(base, 'fleet.json'), 'w') as handle:
        json.dump({'base': base, 'instances': instances}, handle, indent=1)
    with open(os.path.join(base, 'inventory.ini'), 'w') as handle:
        handle.write('[ckpool_sims]\n')
        for inst in instances:
            handle.write('%s ansible_connection=local ckpool_name=%s ckpool_socket_dir=%s ckpool_log_dir=%s '
                         'ckpool_config=%s ckpool_stratum_port=%d%s\n'
                         % (inst['name'], inst['name'], inst['sockdir'], inst['logdir'], inst['config'],
                            inst['stratum_port'], ' ckpool_mode=%s ckpool_tier=%s' % (inst['mode'], inst['tier'])
                            if 'mode' in inst else ''))
        handle.write('\n[ckpool_sims:vars]\nansible_python_interpreter=%s\n' % args.python)
    print(json.dumps({'fleet': os.path.join(base, 'fleet.json'), 'inventory': os.path.join(base, 'inventory.ini'),
                      'instances': [i['name'] for i in instances]}))
    return 0


def up(args):
    base = os.path.abspath(args.base)
    if args.topology:
        os.makedirs(base, exist_ok=True)
        return up_topology(args, base)
    os.makedirs(base, exist_ok=True)
    instances = []
    for index in range(1, args.count + 1):
        name = '%s%02d' % (args.prefix, index)
        home = os.path.join(base, name)
        os.makedirs(home, exist_ok=True)
        sockdir = os.path.join(home, 'run')
        logdir = os.path.join(home, 'logs')
        config = os.path.join(home, 'ckpool.conf')
        with open(config, 'w') as handle:
            json.dump({'btcd': [{'url': '127.0.0.1:8332', 'auth': 'user', 'pass': 'pass', 'notify': True}],
                       'btcaddress': '14BMjogz69qe8hk9thyzbmR5pg34mVKB1e', 'serverurl': ['127.0.0.1:0'],
                       'logdir': logdir}, handle, indent=1)
        cmd = [args.python, SIM, '-c', config, '-n', name, '-s', sockdir, '-k', '--sim-daemon',
               '--sim-stratum-port=0', '--sim-status-interval=%s' % args.status_interval]
        if args.users:
            cmd += ['--sim-users=%d' % args.users, '--sim-workers-per-user=%d' % args.workers_per_user]
        if args.block_every:
            cmd += ['--sim-block-every=%d' % args.block_every]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False, cwd=home)
        if proc.returncode != 0:
            sys.stderr.write('%s: simulator failed: %s\n' % (name, proc.stderr.strip()))
            return 1
        with open(os.path.join(logdir, '.sim_state.json')) as handle:
            state = json.load(handle)
        miners = []
        for number in range(args.miners):
            out = open(os.path.join(home, 'miner%d.jsonl' % (number + 1)), 'ab')
            miner = subprocess.Popen([args.python, MINER, '--port', str(state['stratum_port']),
                                      '--worker', 'miner%s.%s-rig%d' % (index, name, number + 1),
                                      '--interval', str(args.miner_interval), '--reconnect-on-eof',
                                      '--follow-reconnect'],
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=home)
            out.close()
            miners.append(miner.pid)
        instances.append({'name': name, 'pid': state['pid'], 'sockdir': sockdir, 'logdir': logdir,
                          'logfile': state['logfile'],
                          'config': config, 'stratum_host': state['stratum_host'],
                          'stratum_port': state['stratum_port'], 'command_log': state['command_log'],
                          'miner_pids': miners})
    return write_fleet(args, base, instances)


def load(base):
    with open(os.path.join(os.path.abspath(base), 'fleet.json')) as handle:
        return json.load(handle)


def down(args):
    try:
        fleet = load(args.base)
    except OSError:
        return 0
    for inst in fleet['instances']:
        for pid in inst.get('miner_pids', []):
            terminate(pid, 'miner.py')
        subprocess.run([args.python, SIM, '-s', inst['sockdir'], '--sim-stop'], check=False, timeout=30)
    if args.clean:
        shutil.rmtree(fleet['base'], ignore_errors=True)
    return 0


def status(args):
    fleet = load(args.base)
    out = []
    for inst in fleet['instances']:
        try:
            with open(os.path.join(inst['sockdir'], 'main.pid')) as handle:
                pid = int(handle.read())
        except (OSError, ValueError):
            pid = None
        out.append({'name': inst['name'], 'pid': pid, 'running': bool(pid and cmdline_has(pid, 'ckpool_sim.py')),
                    'stratum_port': inst['stratum_port']})
    print(json.dumps(out, indent=1))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description='simulated ckpool fleet')
    sub = parser.add_subparsers(dest='action', required=True)
    p_up = sub.add_parser('up')
    p_up.add_argument('--count', type=int, default=3)
    p_up.add_argument('--base', required=True)
    p_up.add_argument('--prefix', default='pool')
    p_up.add_argument('--users', type=int, default=0)
    p_up.add_argument('--workers-per-user', type=int, default=1)
    p_up.add_argument('--miners', type=int, default=0)
    p_up.add_argument('--miner-interval', type=float, default=2.0)
    p_up.add_argument('--status-interval', type=float, default=60.0)
    p_up.add_argument('--block-every', type=int, default=0)
    p_up.add_argument('--topology', default=None, help='JSON file: a multi-tier fleet (see the module docstring)')
    p_up.add_argument('--python', default=sys.executable)
    p_down = sub.add_parser('down')
    p_down.add_argument('--base', required=True)
    p_down.add_argument('--clean', action='store_true')
    p_down.add_argument('--python', default=sys.executable)
    p_status = sub.add_parser('status')
    p_status.add_argument('--base', required=True)
    args = parser.parse_args(argv)
    return {'up': up, 'down': down, 'status': status}[args.action](args)


if __name__ == '__main__':
    sys.exit(main())
