# -*- coding: utf-8 -*-
"""Stand-in daemon that reproduces ckpool's handover ("restart") pid-file timing.

Used to try systemd unit designs under a real systemd (see HANDOVER_UNIT_FINDINGS.md).
What it imitates (PROTOCOL.md, "Lifecycle"):

* start: refuses to run while the pid file names a live process (unless -H), writes the pid
  file (decimal pid, no newline) and runs in the foreground (``--daemonize`` forks first and
  returns once the child wrote the pid file, for Type=forking experiments);
* handover (SIGUSR1, or the trigger file appearing): the old process forks and re-execs
  itself with ``-H``; the new one asks the old one to go (SIGUSR2 here, the listener socket
  in ckpool), the old one removes the pid file and exits; the new one waits for the old pid
  to disappear (poll up to 500 ms, then SIGTERM, then SIGKILL, like ckpool) and only THEN
  writes the pid file (after ``--pid-write-delay`` more seconds);
* SIGTERM/SIGINT: clean exit, removes the pid file if it is its own;
* a crash is simulated from outside with ``kill -SEGV`` (default action, no handler),
  which leaves the pid file behind as a real crash does.

Every event is appended as a JSON line to ``--log`` (if given).
Python 3.6+, standard library only.
"""

import argparse
import errno
import json
import os
import signal
import sys
import time

STATE = {"stop": False, "handover": False, "leave": False}


def log(path, event, **fields):
    if not path:
        return
    rec = {"t": round(time.time(), 4), "pid": os.getpid(), "ppid": os.getppid(), "event": event}
    rec.update(fields)
    with open(path, "a") as fh:
        fh.write(json.dumps(rec) + "\n")


def read_pid(path):
    try:
        with open(path) as fh:
            return int(fh.read().strip() or "0")
    except (OSError, ValueError):
        return 0


def alive(pid):
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def write_pid(path):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as fh:
        fh.write(str(os.getpid()))
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


def remove_own_pid(path):
    if read_pid(path) == os.getpid():
        try:
            os.unlink(path)
        except OSError:
            pass


def wait_old_gone(old, logpath):
    """ckpool: wait up to 500 ms, then SIGTERM, then SIGKILL."""
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None:
            log(logpath, "old_kill", old=old, signal=int(sig))
            try:
                os.kill(old, sig)
            except OSError:
                pass
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            if not alive(old):
                return
            time.sleep(0.005)


def child_argv(argv):
    out = []
    for arg in argv:
        if arg in ("-H", "--daemonize"):
            continue
        out.append(arg)
    return [sys.executable, os.path.abspath(__file__)] + out + ["-H"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pidfile", required=True)
    parser.add_argument("--log")
    parser.add_argument("--trigger-file", help="a handover starts when this file appears")
    parser.add_argument("-H", dest="handover", action="store_true")
    parser.add_argument("--daemonize", action="store_true")
    parser.add_argument("--pid-write-delay", type=float, default=0.02,
                        help="seconds between the old pid's exit and the pid-file write")
    args = parser.parse_args()
    argv = sys.argv[1:]

    old = read_pid(args.pidfile)
    if alive(old) and old != os.getpid() and not args.handover:
        sys.stderr.write("Process main pid %d still exists, start with -H\n" % old)
        log(args.log, "refused", old=old)
        return 1

    if args.daemonize:
        rfd, wfd = os.pipe()
        if os.fork() > 0:
            os.close(wfd)
            os.read(rfd, 1)  # the child wrote the pid file (or died)
            return 0 if read_pid(args.pidfile) else 1
        os.close(rfd)
        os.setsid()
        if os.fork() > 0:
            os._exit(0)
    else:
        wfd = None

    def on_term(signum, frame):
        STATE["stop"] = True

    def on_usr1(signum, frame):
        STATE["handover"] = True

    def on_usr2(signum, frame):
        STATE["leave"] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGUSR1, on_usr1)
    signal.signal(signal.SIGUSR2, on_usr2)

    log(args.log, "start", handover=args.handover, old=old)
    if args.handover and alive(old) and old != os.getpid():
        # "takes the stratum socket", then tells the old process to go
        os.kill(old, signal.SIGUSR2)
        wait_old_gone(old, args.log)
        log(args.log, "old_gone", old=old)
        time.sleep(args.pid_write_delay)
    write_pid(args.pidfile)
    log(args.log, "pidfile_written")
    if wfd is not None:
        os.write(wfd, b"x")
        os.close(wfd)

    while True:
        if STATE["stop"]:
            log(args.log, "stop")
            remove_own_pid(args.pidfile)
            return 0
        if STATE["leave"]:
            # asked to go by our successor: remove the pid file at once, exit shortly after
            remove_own_pid(args.pidfile)
            log(args.log, "handed_over")
            time.sleep(0.01)
            return 0
        if args.trigger_file and os.path.exists(args.trigger_file):
            try:
                os.unlink(args.trigger_file)
            except OSError:
                pass
            STATE["handover"] = True
        if STATE["handover"]:
            STATE["handover"] = False
            child = os.fork()
            if child == 0:
                try:
                    os.execv(sys.executable, child_argv(argv))
                finally:
                    os._exit(127)
            log(args.log, "handover_spawned", child=child)
        time.sleep(0.01)


if __name__ == "__main__":
    sys.exit(main())
