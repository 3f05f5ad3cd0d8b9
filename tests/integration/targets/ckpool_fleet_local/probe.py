"""Stratum connect probe: connect to every HOST:PORT in a loop until STOPFILE exists,
count refused connections. Writes {"attempts", "refused", "other_errors", "per_target"} as JSON.

    python3 probe.py OUT.json STOPFILE HOST:PORT [HOST:PORT...]
"""
import errno
import json
import os
import socket
import sys
import time


def main(argv):
    out, stopfile, targets = argv[1], argv[2], argv[3:]
    stats = {t: {'attempts': 0, 'refused': 0, 'other_errors': 0} for t in targets}
    deadline = time.monotonic() + 900
    while not os.path.exists(stopfile) and time.monotonic() < deadline:
        for target in targets:
            host, port = target.rsplit(':', 1)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(2.0)
            stats[target]['attempts'] += 1
            try:
                sock.connect((host, int(port)))
            except ConnectionRefusedError:
                stats[target]['refused'] += 1
            except OSError as exc:
                if exc.errno == errno.ECONNREFUSED:
                    stats[target]['refused'] += 1
                else:
                    stats[target]['other_errors'] += 1
            finally:
                sock.close()
        time.sleep(0.02)
    result = {'attempts': sum(s['attempts'] for s in stats.values()),
              'refused': sum(s['refused'] for s in stats.values()),
              'other_errors': sum(s['other_errors'] for s in stats.values()),
              'per_target': stats}
    with open(out + '.tmp', 'w') as handle:
        json.dump(result, handle)
    os.rename(out + '.tmp', out)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
