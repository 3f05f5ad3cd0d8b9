# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: rolling restart with the handover strategy: refused stratum connects and per-host overhead.

Starts --hosts simulated pools (tests/simulator/fleet.py, local-connection hosts), one live miner each,
and a probe thread that opens a TCP connection to every pool's stratum port every --probe-interval
seconds for the whole rollout, counting refused (or failed) connects.  Then runs the real
ckpool.fleet.rolling_restart playbook (serial 1, strategy handover), --rounds times, with the role's
default gates and with minimal gates (1 reading), and reports per run:

  refused        stratum connects that failed during the rollout (target: 0)
  restart s      median of ckpool's own restart time per host (ckpool_restart's `duration`: from
                 `restart` until the new process answers), from the role's JSON report
  per host s     (playbook wall time - fixed cost of a no-op run of the same inventory) / hosts
  waits s        the deliberate gate waits per host: (post-gate readings - 1) x their interval
  overhead s     per host s - restart s - waits s: what the rollout adds per host beyond ckpool's own
                 restart and the deliberate waits (target <= 1.5 s)
  cpu/host s     CPU seconds (user+system) of ansible-playbook and everything it ran, beyond the no-op run,
                 per host: the cost of the rollout's tasks, much less disturbed by other load than wall time
  tasks/host     tasks run on a host that is not the first (PLAY RECAP ok+failed, the automatic
                 argument validations included), and in brackets the skipped ones (target <= 8)

    /root/.cache/ckpool-fleet/venv/bin/python bench/rolling_restart.py --hosts 4 --rounds 2
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402 pylint: disable=wrong-import-position


class Probe(threading.Thread):
    """Connects to every stratum port in turn until stopped; counts attempts and failures per port."""

    def __init__(self, ports, interval):
        super().__init__(daemon=True)
        self.ports = ports
        self.interval = interval
        self.attempts = dict((p, 0) for p in ports)
        self.refused = dict((p, 0) for p in ports)
        self.errors = []
        self.stop_event = threading.Event()

    def run(self):
        while not self.stop_event.is_set():
            for port in self.ports:
                self.attempts[port] += 1
                try:
                    sock = socket.create_connection(('127.0.0.1', port), timeout=2.0)
                except OSError as exc:
                    self.refused[port] += 1
                    if len(self.errors) < 20:
                        self.errors.append('%d: %s' % (port, exc))
                else:
                    sock.close()
            self.stop_event.wait(self.interval)


RECAP = re.compile(r'^(\S+)\s+:\s+ok=(\d+)\s+changed=\d+\s+unreachable=\d+\s+failed=(\d+)\s+skipped=(\d+)', re.M)


def tasks_per_host(output, host):
    """(tasks run, tasks skipped) on ``host`` from the PLAY RECAP of a playbook run."""
    for name, ok, failed, skipped in RECAP.findall(output):
        if name == host:
            return int(ok) + int(failed), int(skipped)
    raise SystemExit('no PLAY RECAP line for %s' % host)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--hosts', type=int, default=4)
    ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--probe-interval', type=float, default=0.02)
    ap.add_argument('--json')
    args = ap.parse_args()

    work = c.workdir('bench-rolling.')
    coll = c.collections_path(work)
    base = os.path.join(work, 'fleet')
    py = sys.executable
    fleet_py = os.path.join(c.SIMULATOR_DIR, 'fleet.py')
    subprocess.run([py, fleet_py, 'up', '--count', str(args.hosts), '--base', base, '--users', '3',
                    '--miners', '1', '--status-interval', '60'], check=True, stdout=subprocess.DEVNULL, timeout=600)
    results = []
    try:
        with open(os.path.join(base, 'fleet.json')) as f:
            fleet = json.load(f)
        inventory = os.path.join(work, 'inventory.yml')
        with open(inventory, 'w') as f:
            f.write('ckpool:\n  vars:\n    ansible_connection: local\n    ansible_python_interpreter: %s\n  hosts:\n' % py)
            for inst in fleet['instances']:
                target = {'name': 'main', 'socket_dir': inst['sockdir'], 'log_dir': inst['logdir'],
                          'stratum_host': '127.0.0.1', 'stratum_port': inst['stratum_port']}
                f.write('    %s: {healthcheck_instances: [%s]}\n' % (inst['name'], json.dumps(target)))
        noop = os.path.join(work, 'noop.yml')
        with open(noop, 'w') as f:
            f.write('- name: noop\n  hosts: ckpool\n  gather_facts: false\n  serial: 1\n  tasks:\n'
                    '    - name: Nothing\n      ansible.builtin.meta: noop\n')
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=coll, ANSIBLE_RETRY_FILES_ENABLED='False', ANSIBLE_NOCOLOR='1',
                   ANSIBLE_DEPRECATION_WARNINGS='False')
        playbook = c.venv_bin('ansible-playbook')
        noops = [c.run_timed([playbook, '-i', inventory, noop], env=env, with_cpu=True) for dummy in range(3)]
        fixed = c.median([n[0] for n in noops])
        fixed_cpu = c.median([n[1] for n in noops])
        # the floor: one bare module task (ansible.builtin.ping) per host in the same serial-1 play
        floor_play = os.path.join(work, 'floor.yml')
        with open(floor_play, 'w') as f:
            f.write('- name: floor\n  hosts: ckpool\n  gather_facts: false\n  serial: 1\n  tasks:\n'
                    '    - name: One module task\n      ansible.builtin.ping:\n')
        floors = [c.run_timed([playbook, '-i', inventory, floor_play], env=env, with_cpu=True) for dummy in range(3)]
        floor_s = (c.median([n[0] for n in floors]) - fixed) / args.hosts
        floor_cpu = (c.median([n[1] for n in floors]) - fixed_cpu) / args.hosts
        # (label, extra vars, deliberate waits per host: (readings - 1) x interval)
        variants = [('default gates', [], (3 - 1) * 2.0),
                    ('minimal gates', ['-e', 'rolling_restart_gate_readings=1', '-e', 'rolling_restart_gate_interval=0'],
                     0.0)]
        ports = [inst['stratum_port'] for inst in fleet['instances']]
        for rnd in range(args.rounds):
            for label, extra, waits in variants[rnd % 2:] + variants[:rnd % 2]:
                report = os.path.join(work, 'rr-%d-%s.json' % (rnd, label.split()[0]))
                probe = Probe(ports, args.probe_interval)
                probe.start()
                time.sleep(0.5)
                seconds, cpu, out = c.run_timed([playbook, '-i', inventory, 'ckpool.fleet.rolling_restart',
                                                 '-e', 'ckpool_fleet_hosts=ckpool',
                                                 '-e', 'rolling_restart_report_path=' + report] + extra,
                                                env=env, with_cpu=True)
                time.sleep(0.5)
                probe.stop_event.set()
                probe.join()
                with open(report) as f:
                    rr = json.load(f)
                if rr.get('status') != 'complete' or len(rr.get('restarted', [])) != args.hosts:
                    raise SystemExit('rollout did not complete: %s\n%s' % (json.dumps(rr)[:2000], out[-2000:]))
                durations = [inst['duration'] for host in rr['results'].values() for inst in host.values()]
                pid_changes = [inst['old_pid'] != inst['new_pid'] for host in rr['results'].values()
                               for inst in host.values()]
                per_host = (seconds - fixed) / args.hosts
                ran, skipped = tasks_per_host(out, fleet['instances'][-1]['name'])
                results.append({'round': rnd, 'variant': label, 'wall_s': seconds, 'per_host_s': per_host,
                                'restart_s': c.median(durations), 'waits_s': waits,
                                'overhead_s': per_host - c.median(durations) - waits,
                                'tasks': ran, 'skipped': skipped, 'load': c.load_average(),
                                'cpu_per_host_s': (cpu - fixed_cpu) / args.hosts,
                                'refused': sum(probe.refused.values()), 'probes': sum(probe.attempts.values()),
                                'all_pids_changed': all(pid_changes), 'probe_errors': probe.errors})
    finally:
        subprocess.run([py, fleet_py, 'down', '--base', base, '--clean'], check=False, stdout=subprocess.DEVNULL,
                       timeout=600)
        shutil.rmtree(work, ignore_errors=True)

    print('# %s' % c.command_line())
    print('# %d local-connection hosts, one simulated pool + one live miner each, serial 1, strategy handover; '
          'stratum probe every %.0f ms on every pool; fixed cost of a no-op run %.2f s (%.2f s CPU)'
          % (args.hosts, args.probe_interval * 1000, fixed, fixed_cpu))
    header = ('variant', 'round', 'wall s', 'per host s', 'restart s', 'waits s', 'overhead s', 'cpu/host s',
              'tasks/host', 'load', 'refused', 'probes', 'new pids')
    print('%-14s %5s %8s %10s %9s %8s %10s %10s %10s %5s %8s %7s %9s' % header)
    for r in results:
        row = (r['variant'], r['round'], r['wall_s'], r['per_host_s'], r['restart_s'], r['waits_s'], r['overhead_s'],
               r['cpu_per_host_s'], '%d (+%d)' % (r['tasks'], r['skipped']), r['load'] or 0.0, r['refused'],
               r['probes'], 'all' if r['all_pids_changed'] else 'NOT ALL')
        print('%-14s %5d %8.2f %10.2f %9.2f %8.2f %10.2f %10.2f %10s %5.1f %8d %7d %9s' % row)
    print('one bare module task (ansible.builtin.ping) per host in the same kind of play: %.2f s wall, %.2f s CPU '
          'per host (the floor of any per-host step)' % (floor_s, floor_cpu))
    total_refused = sum(r['refused'] for r in results)
    print('refused stratum connects during all rollouts: %d of %d probes (target 0)'
          % (total_refused, sum(r['probes'] for r in results)))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'command': c.command_line(), 'hosts': args.hosts, 'fixed_s': fixed, 'floor_s': floor_s,
                       'floor_cpu_s': floor_cpu, 'runs': results}, f, indent=1)
    return 1 if total_refused else 0


if __name__ == '__main__':
    sys.exit(main())
