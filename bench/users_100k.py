# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: ckpool_info on a pool with 100 000 users / 300 000 workers, measured side by side.

Generates a ckpool log directory (users/<name> files in ckpool's own indented format, 3 workers each,
plus pool/pool.status) with --users users, and a small one with --small-users users, then measures,
each case in a fresh Python process (so peak RSS is per case), --rounds times, median:

  one_user_big    ckpool_info main(), gather [users], users [one name], on the big pool
  one_user_small  the same on the small pool                 -> O(1): should not depend on pool size
  all_read        status_files.read_users(logdir, ['*'])  (the module's reader, no output)
  bare            os.listdir + open().read() + json.loads over the same files (the floor)
  all_module      ckpool_info main(), gather [users], users ['*'] (reads AND serialises every user)
  all_numeric     the same with hashrate_strings: false (numbers in H/s only, no raw strings)
  all_json        the same with users_format: json and hashrate_strings: false (one JSON text, each user
                  written out as it is read): the module's full result for very large pools
  query_big       ckpool_info main(), gather [users], users ['*'], query selecting one user's hashrate
  query_one       ckpool_info main(), gather [users], users [one name], the same query
  paired          bare loop and the reader alternately in ONE process (3 each): a ratio that other load on the
                  machine disturbs much less than the separate-process cases

"inside the module" = time around the module's main() in the child process (module arguments passed
the way ansible-core 2.19 passes them, patch_module_args), so Python start-up and AnsiballZ are not
counted.  Output bytes = what the module writes to stdout, i.e. what travels back to the controller.
Targets (issue 4): one user < 50 ms and independent of pool size; all users <= 2 x bare.

    /root/.cache/ckpool-fleet/venv/bin/python bench/users_100k.py --users 100000 --rounds 5
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402 pylint: disable=wrong-import-position

NAME = 'bc1qbench%07d'
WORKERS = 3


def user_doc(index, now):
    rates = ['%.3gK' % (100 + index % 900), '%.3gM' % (1 + index % 9), '%.3gM' % (2 + index % 7),
             '%.3gK' % (500 + index % 400), '%.3gK' % (50 + index % 40)]
    doc = {'hashrate1m': rates[0], 'hashrate5m': rates[1], 'hashrate1hr': rates[2], 'hashrate1d': rates[3],
           'hashrate7d': rates[4], 'lastshare': now - index % 600, 'workers': WORKERS, 'shares': 1000 + index,
           'bestshare': 1.5 + index % 97, 'bestever': 1 + index % 50, 'authorised': now - 86400, 'worker': []}
    for w in range(WORKERS):
        doc['worker'].append({'workername': (NAME % index) + '.rig%d' % w, 'hashrate1m': rates[0],
                              'hashrate5m': rates[1], 'hashrate1hr': rates[2], 'hashrate1d': rates[3],
                              'hashrate7d': rates[4], 'lastshare': now - index % 600, 'shares': 300 + index,
                              'bestshare': 1.0 + index % 13, 'bestever': 1})
    return doc


def generate(logdir, users):
    marker = os.path.join(logdir, '.bench_users')
    if os.path.exists(marker) and open(marker).read() == str(users):
        return 0.0
    start = time.perf_counter()
    shutil.rmtree(logdir, ignore_errors=True)
    os.makedirs(os.path.join(logdir, 'users'))
    os.makedirs(os.path.join(logdir, 'pool'))
    now = int(time.time())
    with open(os.path.join(logdir, 'pool', 'pool.status'), 'w') as f:
        f.write(json.dumps({'runtime': 3600, 'lastupdate': now, 'Users': users, 'Workers': users * WORKERS,
                            'Idle': 0, 'Disconnected': 0}) + '\n')
        f.write(json.dumps(dict(('hashrate' + w, '1P') for w in ('1m', '5m', '15m', '1hr', '6hr', '1d', '7d'))) + '\n')
        f.write(json.dumps({'diff': 1.5, 'accepted': 10 ** 9, 'rejected': 10 ** 6, 'bestshare': 10 ** 8,
                            'SPS1m': 100.0, 'SPS5m': 100.0, 'SPS15m': 100.0, 'SPS1h': 100.0}) + '\n')
    udir = os.path.join(logdir, 'users')
    for index in range(users):
        with open(os.path.join(udir, NAME % index), 'w') as f:
            json.dump(user_doc(index, now), f, indent=1)  # ckpool: json_dump_file(..., JSON_INDENT(1))
    with open(marker, 'w') as f:
        f.write(str(users))
    return time.perf_counter() - start


# ------------------------------------------------------------------------------------- child side

def child(case, logdir, name, coll):
    sys.path.insert(0, coll)
    from ansible.module_utils.testing import patch_module_args  # pylint: disable=import-outside-toplevel
    from ansible_collections.ckpool.fleet.plugins.module_utils import status_files  # pylint: disable=import-outside-toplevel
    from ansible_collections.ckpool.fleet.plugins.modules import ckpool_info  # pylint: disable=import-outside-toplevel

    query = "users[?name=='%s'] | [0].hashrate" % name
    result = {'case': case}
    if case == 'bare':
        udir = os.path.join(logdir, 'users')
        start = time.perf_counter()
        count = 0
        for entry in os.listdir(udir):
            with open(os.path.join(udir, entry), 'rb') as f:
                json.loads(f.read())
            count += 1
        result['seconds'] = time.perf_counter() - start
        result['users'] = count
    elif case == 'paired':
        # bare loop and the module's reader alternately in one process, 3 times each: the ratio of the
        # medians is robust to other load on the machine, which changes between processes
        udir = os.path.join(logdir, 'users')
        bare_s, read_s = [], []
        for dummy in range(3):
            start = time.perf_counter()
            for entry in os.listdir(udir):
                with open(os.path.join(udir, entry), 'rb') as f:
                    json.loads(f.read())
            bare_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            res = status_files.read_users(logdir, ['*'])
            read_s.append(time.perf_counter() - start)
            del res
        bare_s.sort()
        read_s.sort()
        result['seconds'] = read_s[1]
        result['bare_seconds'] = bare_s[1]
        result['ratio'] = read_s[1] / bare_s[1]
    elif case == 'all_read':
        start = time.perf_counter()
        res = status_files.read_users(logdir, ['*'])
        result['seconds'] = time.perf_counter() - start
        result['users'] = len(res['users'])
    else:
        args = {'socket_dir': os.path.join(logdir, 'no-sockets'), 'log_dir': logdir, 'gather': ['users']}
        if case in ('one_user_big', 'one_user_small', 'query_one'):
            args['users'] = [name]
        else:
            args['users'] = ['*']
        if case.startswith('query'):
            args['query'] = query
        if case in ('all_numeric', 'all_json'):
            args['hashrate_strings'] = False
        if case == 'all_json':
            args['users_format'] = 'json'
        # stdout goes to a real file, as the module's output goes to a pipe under AnsiballZ (an io.StringIO
        # would hold it as 4-byte characters); the peak RSS is taken before the output is read back
        out_path = os.path.join(logdir, '..', '.bench-out-%d' % os.getpid())
        out = open(out_path, 'w')
        real_stdout = sys.stdout
        with patch_module_args(args):
            sys.stdout = out
            start = time.perf_counter()
            try:
                ckpool_info.main()
            except SystemExit:
                pass
            finally:
                elapsed = time.perf_counter() - start
                sys.stdout = real_stdout
                out.close()
        result['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        with open(out_path) as handle:
            text = handle.read()
        os.unlink(out_path)
        data = json.loads(text)
        if data.get('failed'):
            raise SystemExit('module failed: %s' % data.get('msg'))
        result['seconds'] = elapsed
        result['output_bytes'] = len(text.encode())
        result['users'] = len(data['users']) if 'users' in data else None
        if 'users_json' in data:
            result['users'] = len(json.loads(data['users_json']))
        if 'query_result' in data:
            result['query_result'] = data['query_result']
    result.setdefault('peak_rss_mb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    print(json.dumps(result))


# ------------------------------------------------------------------------------------- parent side

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--users', type=int, default=100000)
    ap.add_argument('--small-users', type=int, default=100)
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--data', default='/tmp/ckpool-fleet-bench-users', help='where the log directories are (kept)')
    ap.add_argument('--json')
    ap.add_argument('--cases', default='one_user_big,one_user_small,bare,all_read,all_module,all_numeric,all_json,'
                                       'query_big,query_one,paired',
                    help='comma-separated subset of the cases')
    ap.add_argument('--child', nargs=4, metavar=('CASE', 'LOGDIR', 'NAME', 'COLLECTIONS'), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(*args.child)

    big = os.path.join(args.data, 'big-%d' % args.users)
    small = os.path.join(args.data, 'small-%d' % args.small_users)
    gen_big = generate(big, args.users)
    gen_small = generate(small, args.small_users)
    work = c.workdir('bench-users.')
    coll = c.collections_path(work)
    middle = NAME % (args.users // 2)
    wanted = args.cases.split(',')
    cases = [(case, small if case == 'one_user_small' else big) for case in wanted]
    runs = dict((case[0], []) for case in cases)
    try:
        # warm the page cache once so every case reads the same cached files
        subprocess.run([sys.executable, __file__, '--child', 'bare', big, middle, coll], check=True,
                       stdout=subprocess.DEVNULL)
        for rnd in range(args.rounds):
            for case, logdir in cases[rnd % len(cases):] + cases[:rnd % len(cases)]:
                name = NAME % (args.small_users // 2) if logdir == small else middle
                proc = subprocess.run([sys.executable, __file__, '--child', case, logdir, name, coll],
                                      check=True, stdout=subprocess.PIPE)
                runs[case].append(json.loads(proc.stdout.decode().strip().splitlines()[-1]))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def med(case, key='seconds'):
        return c.median([r[key] for r in runs[case]])

    summary = dict((case, {'median_ms': med(case) * 1000.0,
                           'range_ms': c.spread([r['seconds'] * 1000.0 for r in runs[case]]),
                           'peak_rss_mb': max(r['peak_rss_mb'] for r in runs[case]),
                           'output_bytes': runs[case][0].get('output_bytes'),
                           'users': runs[case][0].get('users')}) for case in runs)
    ratios = {}
    if 'one_user_big' in runs and 'one_user_small' in runs:
        ratios['one_user_big_vs_small'] = med('one_user_big') / med('one_user_small')
    if 'all_read' in runs and 'bare' in runs:
        ratios['all_read_vs_bare'] = med('all_read') / med('bare')
    if 'all_module' in runs and 'bare' in runs:
        ratios['all_module_vs_bare'] = med('all_module') / med('bare')
    if 'all_numeric' in runs and 'bare' in runs:
        ratios['all_numeric_vs_bare'] = med('all_numeric') / med('bare')
    if 'all_json' in runs and 'bare' in runs:
        ratios['all_json_vs_bare'] = med('all_json') / med('bare')
    if 'query_big' in runs and 'all_module' in runs:
        ratios['query_big_output_vs_all_module_output'] = (summary['query_big']['output_bytes']
                                                           / float(summary['all_module']['output_bytes']))
    if 'paired' in runs:
        ratios['paired_read_vs_bare'] = med('paired', 'ratio')
    print('# %s' % c.command_line())
    print('# big pool: %d users x %d workers (%s), small pool: %d users; %d rounds, one process per case%s'
          % (args.users, WORKERS, big, args.small_users, args.rounds,
             '; generated in %.0f s' % gen_big if gen_big else ''))
    header = ('case', 'median ms', 'range ms', 'peak RSS MB', 'output bytes', 'users')
    print('%-15s %10s %16s %12s %14s %8s' % header)
    for case in [item[0] for item in cases]:
        s = summary[case]
        row = (case, s['median_ms'], s['range_ms'], s['peak_rss_mb'],
               s['output_bytes'] if s['output_bytes'] is not None else '-',
               s['users'] if s['users'] is not None else '-')
        print('%-15s %10.1f %16s %12.1f %14s %8s' % row)
    if 'one_user_big_vs_small' in ratios:
        print('one user, big/small pool : %.2f x  (%.1f ms; target < 50 ms, independent of pool size)'
              % (ratios['one_user_big_vs_small'], summary['one_user_big']['median_ms']))
    if 'all_read_vs_bare' in ratios:
        print('all users, reader / bare : %.2f x  (separate processes; target <= 2)' % ratios['all_read_vs_bare'])
    if 'paired_read_vs_bare' in ratios:
        print('all users, reader / bare : %.2f x  (paired in one process, median of 3 each; target <= 2)'
              % ratios['paired_read_vs_bare'])
    if 'all_module_vs_bare' in ratios:
        print('all users, module / bare : %.2f x  (module incl. building and serialising the result)'
              % ratios['all_module_vs_bare'])
    if 'all_numeric_vs_bare' in ratios:
        print('all users, module hashrate_strings=false / bare : %.2f x  (peak %.0f MB)'
              % (ratios['all_numeric_vs_bare'], summary['all_numeric']['peak_rss_mb']))
    if 'all_json_vs_bare' in ratios:
        print('all users, module users_format=json hashrate_strings=false / bare : %.2f x  (target <= 5; peak %.0f MB, '
              'target <= 300)' % (ratios['all_json_vs_bare'], summary['all_json']['peak_rss_mb']))
    if 'query_big_output_vs_all_module_output' in ratios:
        sizes = (summary['query_big']['output_bytes'], summary['all_module']['output_bytes'],
                 ratios['query_big_output_vs_all_module_output'])
        print('query output / full output: %d / %d bytes (%.6f)' % sizes)
    if 'query_big' in runs:
        print('query result: %s' % json.dumps(runs['query_big'][0].get('query_result')))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'command': c.command_line(), 'users': args.users, 'small_users': args.small_users,
                       'rounds': args.rounds, 'summary': summary, 'ratios': ratios}, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
