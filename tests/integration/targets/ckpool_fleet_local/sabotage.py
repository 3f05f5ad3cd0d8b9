"""Make an instance unhealthy right after its restart: wait until main.pid names a new live
pid whose listener answers ping, wait DELAY seconds more (the restart has completed by then),
then SIGSTOP that pid (alive but answering nothing). Writes the stopped pid to OUTFILE.

    python3 sabotage.py SOCKDIR OLD_PID OUTFILE [TIMEOUT [DELAY]]
"""
import os
import signal
import socket
import struct
import sys
import time


def read_pid(path):
    try:
        with open(path) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def pong(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(1.0)
    try:
        sock.connect(path)
        sock.sendall(struct.pack('<I', 4) + b'ping')
        header = sock.recv(4)
        if len(header) < 4:
            return False
        return sock.recv(struct.unpack('<I', header)[0]) == b'pong'
    except OSError:
        return False
    finally:
        sock.close()


def main(argv):
    sockdir, old_pid, outfile = argv[1], int(argv[2]), argv[3]
    deadline = time.monotonic() + (float(argv[4]) if len(argv) > 4 else 300)
    delay = float(argv[5]) if len(argv) > 5 else 1.0
    while time.monotonic() < deadline:
        pid = read_pid(os.path.join(sockdir, 'main.pid'))
        if pid and pid != old_pid and pong(os.path.join(sockdir, 'listener')):
            time.sleep(delay)
            os.kill(pid, signal.SIGSTOP)
            with open(outfile, 'w') as handle:
                handle.write(str(pid))
            return 0
        time.sleep(0.01)
    return 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
