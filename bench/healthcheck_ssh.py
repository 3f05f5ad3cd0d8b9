# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: the health check (and the fleet report) over real SSH: default vs pipelining vs mitogen.

Builds --hosts SSH hosts with tests/testbed/testbed.sh (network namespaces, one OpenSSH server each),
starts one simulated ckpool in every host, then runs ckpool.fleet.healthcheck and ckpool.fleet.fleet_report
against all of them with forks = hosts, in three modes, interleaved, --rounds times each (after one
unmeasured warm-up run per mode, which also opens the SSH control masters):

  default     ssh connection, no pipelining (ansible-core's default)
  pipelining  ANSIBLE_PIPELINING=True
  mitogen     mitogen's mitogen_linear strategy (pip install mitogen)

and prints the median wall time of each, and the ratios to the default.  Every run must succeed
(all pools healthy), so this also proves the playbooks work in each mode.

    /root/.cache/ckpool-fleet/venv/bin/python bench/healthcheck_ssh.py --hosts 20 --rounds 3
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402 pylint: disable=wrong-import-position

TESTBED = os.path.join(c.REPO, 'tests', 'testbed', 'testbed.sh')
SIM = os.path.join(c.SIMULATOR_DIR, 'ckpool_sim.py')
START_POOL = r'''set -e
mkdir -p /var/log/ckpool/main /run/ckpool
printf '{"logdir": "/var/log/ckpool/main", "serverurl": "0.0.0.0:3333"}' > /etc/ckpool-main.conf
cd /var/log/ckpool/main
exec /usr/bin/python3 "$1" -c /etc/ckpool-main.conf -n main -s /run/ckpool/main --sim-users "$2" \
    --sim-workers-per-user 2 --sim-status-interval 60 --sim-daemon
'''


def mitogen_strategy_dir():
    try:
        import ansible_mitogen  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    return os.path.join(os.path.dirname(ansible_mitogen.__file__), 'plugins', 'strategy')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--hosts', type=int, default=20)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--users', type=int, default=5, help='simulated users per pool')
    ap.add_argument('--prefix', default='bh', help='test bed prefix')
    ap.add_argument('--json')
    args = ap.parse_args()

    strategy_dir = mitogen_strategy_dir()
    if strategy_dir is None:
        raise SystemExit('mitogen is not installed in this Python (pip install mitogen)')
    work = c.workdir('bench-ssh.')
    coll = c.collections_path(work)
    state = '/tmp/ckpool-testbed-%s' % args.prefix
    up = ['bash', TESTBED, '--prefix', args.prefix, 'up', str(args.hosts), '--bind', c.REPO]
    if not coll.startswith(c.REPO):
        up += ['--bind', coll]
    subprocess.run(up, check=True, timeout=600)
    try:
        with open(os.path.join(state, 'hosts.json')) as f:
            hosts = [h['name'] for h in json.load(f)['hosts']]
        for host in hosts:
            subprocess.run(['bash', TESTBED, '--prefix', args.prefix, 'exec', host, '--', '/bin/sh', '-c', START_POOL,
                            'start-pool', SIM, str(args.users)], check=True, timeout=60, stdout=subprocess.DEVNULL)
        extra = {
            'ckpool_fleet_hosts': 'pool', 'fleet_report_hosts': 'pool',
            'healthcheck_instances': [{'name': 'main', 'socket_dir': '/run/ckpool/main',
                                       'log_dir': '/var/log/ckpool/main', 'stratum_host': '127.0.0.1',
                                       'stratum_port': 3333}],
            'healthcheck_report_path': os.path.join(work, 'health.json'),
            'fleet_report_dir': os.path.join(work, 'report'),
        }
        extra_file = os.path.join(work, 'extra.json')
        with open(extra_file, 'w') as f:
            json.dump(extra, f)
        base_env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=coll, ANSIBLE_FORKS=str(args.hosts),
                        ANSIBLE_HOST_KEY_CHECKING='False', ANSIBLE_RETRY_FILES_ENABLED='False',
                        ANSIBLE_NOCOLOR='1', ANSIBLE_DEPRECATION_WARNINGS='False')
        modes = {
            'default': dict(base_env, ANSIBLE_PIPELINING='False'),
            'pipelining': dict(base_env, ANSIBLE_PIPELINING='True'),
            'mitogen': dict(base_env, ANSIBLE_STRATEGY_PLUGINS=strategy_dir, ANSIBLE_STRATEGY='mitogen_linear'),
        }
        playbook = c.venv_bin('ansible-playbook')
        inventory = os.path.join(state, 'inventory.ini')
        books = ('ckpool.fleet.healthcheck', 'ckpool.fleet.fleet_report')
        times = dict(('%s %s' % (m, b), []) for m in modes for b in books)
        loads = []

        def run(mode, book):
            seconds, out = c.run_timed([playbook, '-i', inventory, book, '-e', '@' + extra_file], env=modes[mode])
            if book.endswith('healthcheck'):
                ok = sum(1 for line in out.splitlines() if ' failed=0 ' in line and ' unreachable=0 ' in line)
                if ok != len(hosts):
                    raise SystemExit('%s %s: not every host passed:\n%s' % (mode, book, out[-3000:]))
            else:
                if 'FLEET (%d counted)' % len(hosts) not in out:
                    table = [line for line in out.splitlines() if line.startswith('        "')]
                    raise SystemExit('%s %s: the report did not count every pool:\n%s' % (mode, book, '\n'.join(table)))
            return seconds

        for mode in modes:
            for book in books:
                run(mode, book)  # warm-up
        order = list(modes)
        for rnd in range(args.rounds):
            loads.append(c.load_average())
            for mode in order[rnd % 3:] + order[:rnd % 3]:
                for book in books:
                    times['%s %s' % (mode, book)].append(run(mode, book))
    finally:
        subprocess.run(['bash', TESTBED, '--prefix', args.prefix, 'down'], check=False, timeout=600)
        shutil.rmtree(work, ignore_errors=True)

    med = dict((k, c.median(v)) for k, v in times.items())
    print('# %s' % c.command_line())
    load_range = c.spread([x for x in loads if x is not None])
    print('# %d SSH hosts (network namespaces, tests/testbed), one simulated ckpool each, forks=%d, %d rounds '
          '(interleaved); 1-min load average %s' % (args.hosts, args.hosts, args.rounds, load_range))
    print('%-11s %-28s %12s %14s %10s' % ('mode', 'playbook', 'median s', 'range s', 'vs default'))
    for book in books:
        for mode in modes:
            key = '%s %s' % (mode, book)
            print('%-11s %-28s %12.2f %14s %10.2f' % (mode, book, med[key], c.spread(times[key]),
                                                      med[key] / med['default %s' % book]))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'command': c.command_line(), 'hosts': args.hosts, 'rounds': args.rounds, 'seconds': times,
                       'median_s': med, 'load_average_1m': loads}, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
