"""Validate a Prometheus textfile: exposition syntax, ckpool_ prefix, HELP/TYPE before samples,
_total only on counters, required series present. Exit 1 with a message otherwise.

    python3 check_prom.py FILE INSTANCE [--per-user]
"""
import re
import sys

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
                    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$')


def main(argv):
    path, instance = argv[1], argv[2]
    per_user = '--per-user' in argv
    types = {}
    names = set()
    with open(path) as handle:
        for number, line in enumerate(handle.read().splitlines(), 1):
            if line.startswith('# HELP '):
                continue
            if line.startswith('# TYPE '):
                dummy, dummy2, name, kind = line.split(' ', 3)
                types[name] = kind
                continue
            match = SAMPLE.match(line)
            if not match:
                sys.exit('%s:%d: not an exposition line: %r' % (path, number, line))
            name = match.group(1)
            if not name.startswith('ckpool_'):
                sys.exit('%s:%d: %s lacks the ckpool_ prefix' % (path, number, name))
            if name not in types:
                sys.exit('%s:%d: %s has no TYPE line before it' % (path, number, name))
            if name.endswith('_total') != (types[name] == 'counter'):
                sys.exit('%s:%d: %s: _total must mark exactly the counters' % (path, number, name))
            # every series but the run's own (ckpool_healthcheck_*) names its instance
            if not name.startswith('ckpool_healthcheck_') and 'ckpool_instance="%s"' % instance not in (match.group(3) or ''):
                sys.exit('%s:%d: no ckpool_instance="%s" label' % (path, number, instance))
            names.add(name)
    wanted = {'ckpool_healthcheck_success', 'ckpool_healthcheck_last_run_timestamp_seconds', 'ckpool_healthy',
              'ckpool_up', 'ckpool_check_ok', 'ckpool_status_age_seconds', 'ckpool_hashrate_hashes_per_second',
              'ckpool_workers', 'ckpool_shares_accepted_total'}
    if per_user:
        wanted.add('ckpool_user_hashrate_hashes_per_second')
    missing = wanted - names
    if missing:
        sys.exit('%s: missing series %s' % (path, ', '.join(sorted(missing))))
    print('%s: %d series ok' % (path, len(names)))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
