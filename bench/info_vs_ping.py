# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: ckpool_info (gather: pool,health) per host vs ansible.builtin.ping, side by side.

Starts N simulated pools (tests/simulator/fleet.py), one per inventory host (local connection, same
Python, same forks), then runs these playbooks over all N hosts, interleaved, R rounds:

  noop   no module at all (ansible-playbook start-up, inventory, play set-up): the fixed cost
  ping   ansible.builtin.ping
  info   ckpool.fleet.ckpool_info  gather: [pool, health]   (structured data)
  naive  ansible.builtin.command: cat LOGDIR/pool/pool.status   (raw text only, the "naive" reference;
         the issue's naive approach pipes `stats` into ckpmsg, which is not installed here)

and prints median wall times and the ratios info/ping and naive/ping, both raw and per host with the
fixed cost (noop) taken out.  Target (issue 10 item 6): info <= 1.03 x ping in CPU per host.

With --payload-rounds N it also keeps the two AnsiballZ payloads of one host (ANSIBLE_KEEP_REMOTE_FILES)
and runs them directly, alternately, N times each: the module process's own CPU (interpreter start,
AnsiballZ, compiling the module and its module_utils, the work), which load on a shared machine
disturbs much less than the playbook runs.

    /root/.cache/ckpool-fleet/venv/bin/python bench/info_vs_ping.py --hosts 50 --rounds 5 --forks 5
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402 pylint: disable=wrong-import-position

PLAYS = {
    'noop': "    - name: Nothing\n      ansible.builtin.meta: noop\n",
    'ping': "    - name: Ping\n      ansible.builtin.ping:\n",
    'info': ("    - name: Pool status and health\n      ckpool.fleet.ckpool_info:\n"
             "        socket_dir: \"{{ ckpool_socket_dir }}\"\n        log_dir: \"{{ ckpool_log_dir }}\"\n"
             "        gather: [pool, health]\n"),
    'naive': ("    - name: Raw pool.status text\n      ansible.builtin.command: cat {{ ckpool_log_dir }}/pool/pool.status\n"
              "      changed_when: false\n"),
}


def payload_cpu(work, inventory, books, env, playbook, rounds):
    """Keep the AnsiballZ payloads of one host for ping and info, then run them directly, alternately."""
    keep = os.path.join(work, 'keep')
    found = {}
    for name in ('ping', 'info'):
        target = os.path.join(keep, name)
        run_env = dict(env, ANSIBLE_KEEP_REMOTE_FILES='1', ANSIBLE_REMOTE_TMP=target)
        c.run_timed([playbook, '-i', inventory, '--limit', 'all[0]', books[name]], env=run_env)
        for root, dummy, files in os.walk(target):
            for f in files:
                if f.startswith('AnsiballZ_') and f.endswith('.py'):
                    found[name] = os.path.join(root, f)
    cpus = dict(ping=[], info=[])
    for dummy in range(rounds):
        for name in ('ping', 'info'):
            before = c.cpu_children()
            subprocess.run([sys.executable, found[name]], stdout=subprocess.DEVNULL, check=True, timeout=120)
            cpus[name].append((c.cpu_children() - before) * 1000.0)
    diffs = [i - p for i, p in zip(cpus['info'], cpus['ping'])]
    return {'info_ms': c.median(cpus['info']), 'ping_ms': c.median(cpus['ping']), 'diff_ms': c.median(diffs),
            'info_bytes': os.path.getsize(found['info']), 'ping_bytes': os.path.getsize(found['ping']),
            'runs_ms': cpus}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--hosts', type=int, default=50)
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--forks', type=int, default=5)
    ap.add_argument('--strategy', default='', help='e.g. mitogen_linear (needs ANSIBLE_STRATEGY_PLUGINS)')
    ap.add_argument('--payload-rounds', type=int, default=0,
                    help='also time the two AnsiballZ payloads directly, this many times each')
    ap.add_argument('--json', help='also write the results here')
    ap.add_argument('--keep', action='store_true')
    args = ap.parse_args()

    work = c.workdir('bench-info-ping.')
    coll = c.collections_path(work)
    base = os.path.join(work, 'fleet')
    py = sys.executable
    fleet = os.path.join(c.SIMULATOR_DIR, 'fleet.py')
    subprocess.run([py, fleet, 'up', '--count', str(args.hosts), '--base', base, '--users', '3',
                    '--status-interval', '60'], check=True, stdout=subprocess.DEVNULL, timeout=600)
    try:
        inventory = os.path.join(base, 'inventory.ini')
        books = {}
        for name, task in PLAYS.items():
            path = os.path.join(work, name + '.yml')
            with open(path, 'w') as f:
                f.write('- name: %s\n  hosts: all\n  gather_facts: false\n  tasks:\n%s' % (name, task))
            books[name] = path
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=coll, ANSIBLE_FORKS=str(args.forks),
                   ANSIBLE_HOST_KEY_CHECKING='False', ANSIBLE_RETRY_FILES_ENABLED='False',
                   ANSIBLE_DEPRECATION_WARNINGS='False', ANSIBLE_NOCOLOR='1')
        if args.strategy:
            env['ANSIBLE_STRATEGY'] = args.strategy
        playbook = c.venv_bin('ansible-playbook')
        order = list(PLAYS)
        times = dict((name, []) for name in order)
        cpus = dict((name, []) for name in order)
        loads = []
        # warm-up (imports, pyc) not measured
        for name in order:
            c.run_timed([playbook, '-i', inventory, books[name]], env=env)
        for rnd in range(args.rounds):
            rotated = order[rnd % len(order):] + order[:rnd % len(order)]
            loads.append(c.load_average())
            for name in rotated:
                seconds, cpu, out = c.run_timed([playbook, '-i', inventory, books[name]], env=env, with_cpu=True)
                ok_hosts = sum(1 for line in out.splitlines() if ' ok=1 ' in line and ' failed=0 ' in line
                               and ' unreachable=0 ' in line)
                if name != 'noop' and ok_hosts != args.hosts:
                    raise SystemExit('%s run did not succeed on every host:\n%s' % (name, out[-2000:]))
                times[name].append(seconds)
                cpus[name].append(cpu)

        def per_host(values, base):
            return [(v - b) / args.hosts * 1000.0 for v, b in zip(values, base)]

        med = dict((name, c.median(v)) for name, v in times.items())
        medcpu = dict((name, c.median(v)) for name, v in cpus.items())
        # ratios per round (each round runs every play back to back), then the median of the ratios
        wall_ratio = [i / p for i, p in zip(times['info'], times['ping'])]
        cpu_ratio = [i / p for i, p in zip(cpus['info'], cpus['ping'])]
        cpu_ph = dict((name, per_host(cpus[name], cpus['noop'])) for name in order)
        cpu_ph_ratio = [i / p for i, p in zip(cpu_ph['info'], cpu_ph['ping'])]
        naive_cpu_ph_ratio = [i / p for i, p in zip(cpu_ph['naive'], cpu_ph['ping'])]
        result = {
            'command': c.command_line(), 'hosts': args.hosts, 'rounds': args.rounds, 'forks': args.forks,
            'strategy': args.strategy or 'linear', 'wall_s': times, 'cpu_s': cpus, 'load_average_1m': loads,
            'median_wall_s': med, 'median_cpu_s': medcpu,
            'ratio_info_ping_wall': c.median(wall_ratio),
            'ratio_info_ping_cpu': c.median(cpu_ratio),
            'ratio_info_ping_cpu_per_host': c.median(cpu_ph_ratio),
            'ratio_naive_ping_cpu_per_host': c.median(naive_cpu_ph_ratio),
            'cpu_ms_per_host_above_noop': dict((n, c.median(v)) for n, v in cpu_ph.items()),
        }
        print('# %s' % result['command'])
        print('# %d local-connection hosts, one simulated pool each, forks=%d, strategy=%s, %d rounds (interleaved);'
              ' 1-min load average during the rounds %s'
              % (args.hosts, args.forks, result['strategy'], args.rounds, c.spread([x for x in loads if x is not None])))
        header = ('play', 'median wall s', 'wall range s', 'median CPU s', 'CPU ms/host -noop')
        print('%-6s %12s %14s %12s %16s' % header)
        for name in order:
            row = (name, med[name], c.spread(times[name]), medcpu[name], result['cpu_ms_per_host_above_noop'][name])
            print('%-6s %12.2f %14s %12.2f %16.1f' % row)
        print('info/ping  (median of per-round ratios): wall %.3f  CPU %.3f  CPU per host above noop %.3f  (target <= 1.03)'
              % (result['ratio_info_ping_wall'], result['ratio_info_ping_cpu'], result['ratio_info_ping_cpu_per_host']))
        print('naive/ping (median of per-round ratios): CPU per host above noop %.3f' % result['ratio_naive_ping_cpu_per_host'])
        if args.payload_rounds:
            result['payload'] = payload_cpu(work, inventory, books, env, playbook, args.payload_rounds)
            pay = result['payload']
            print('module process alone (%d paired runs of the AnsiballZ payloads): info %.1f ms CPU, ping %.1f ms, '
                  'difference %.1f ms (median of per-pair differences), payloads %d / %d bytes'
                  % (args.payload_rounds, pay['info_ms'], pay['ping_ms'], pay['diff_ms'], pay['info_bytes'],
                     pay['ping_bytes']))
        if args.json:
            with open(args.json, 'w') as f:
                json.dump(result, f, indent=1)
    finally:
        subprocess.run([py, fleet, 'down', '--base', base, '--clean'], check=False, stdout=subprocess.DEVNULL,
                       timeout=600)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
