# -*- coding: utf-8 -*-
"""Keep a systemd service alive across ckpool's handover restart.

    ckpool_supervise.py --pidfile SOCKDIR/main.pid [--ready-timeout S] -- CKPOOL [ARGS...]

The supervisor is the unit's main process (``Type=notify``, ``KillMode=mixed``). It marks
itself a child subreaper, starts ckpool as its child and then reaps every process that ends
up as its child. During a handover the old ckpool forks the new one and exits; the kernel
re-parents the new ckpool to the supervisor at that moment, so the supervisor keeps running
(and systemd keeps the unit active) no matter when the new process writes ``main.pid``.

* The supervisor lives as long as any of its children lives, and exits with the status of
  the last one: 0 after a clean ``shutdown``, 128+N after a crash by signal N, the exit code
  otherwise, so ``Restart=on-failure`` behaves as for a plain daemon.
* SIGTERM/SIGINT/SIGQUIT are forwarded once to the process named by the pid file (falling
  back to every child); from then on every process that becomes its child (a ckpool that a
  handover in progress re-parents to it) gets the same signal, so a stop during a handover
  does not wait for ``TimeoutStopSec``. systemd's ``KillMode=mixed`` sends SIGTERM only to
  the main process, then SIGKILL to the whole cgroup after ``TimeoutStopSec``. SIGHUP is
  forwarded to the pid-file process each time.
* With ``NOTIFY_SOCKET`` set it sends ``READY=1`` once the pid file names a live child
  (ckpool created its sockets), and a ``STATUS=`` line naming the ckpool pid after every
  change, so ``systemctl status`` shows which process serves.

Python 3.6+ standard library only; Linux only (prctl via ctypes).
"""

import argparse
import ctypes
import os
import signal
import socket
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP)


def read_pid(path):
    try:
        with open(path) as fh:
            return int(fh.read().strip() or "0")
    except (OSError, ValueError):
        return 0


def notify(message):
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.connect(addr)
        sock.sendall(message.encode())
    except OSError:
        pass
    finally:
        sock.close()


def children_of(pid):
    """Direct children of pid: /proc/PID/task/*/children, or a /proc scan without it."""
    out = set()
    seen = False
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, tid)) as fh:
                    out.update(int(x) for x in fh.read().split())
                seen = True
            except OSError:
                pass
    except OSError:
        pass
    if seen:
        return out
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            out.add(int(entry))
    return out


class Supervisor(object):
    def __init__(self, pidfile, argv, ready_timeout):
        self.pidfile = pidfile
        self.argv = argv
        self.ready_timeout = ready_timeout
        self.stop_signal = None
        self.signalled = set()
        self.ready = False
        self.serving = 0
        self.last_status = 0

    def forward(self, signum):
        kids = children_of(os.getpid())
        target = read_pid(self.pidfile)
        targets = [target] if target in kids else sorted(kids)
        if signum == signal.SIGHUP:
            self.kill(targets, signum)
            return
        if self.stop_signal is None:
            self.stop_signal = signum
            self.kill(targets, signum)
            self.signalled.update(targets)

    @staticmethod
    def kill(pids, signum):
        for pid in pids:
            try:
                os.kill(pid, signum)
            except OSError:
                pass

    def stop_newcomers(self):
        """While stopping, a child that appears (re-parented by a handover) is stopped too."""
        if self.stop_signal is None:
            return
        fresh = children_of(os.getpid()) - self.signalled
        if fresh:
            self.kill(sorted(fresh), self.stop_signal)
            self.signalled.update(fresh)

    def watch_pidfile(self):
        pid = read_pid(self.pidfile)
        if pid and pid != self.serving and pid in children_of(os.getpid()):
            self.serving = pid
            if not self.ready:
                self.ready = True
                notify("READY=1\nSTATUS=ckpool pid %d" % pid)
            else:
                notify("STATUS=ckpool pid %d (after handover)" % pid)

    def reap(self):
        """Reap every exited child; False once none is left."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return False
            except InterruptedError:
                continue
            if not pid:
                return True
            if os.WIFSIGNALED(status):
                self.last_status = 128 + os.WTERMSIG(status)
            elif os.WIFEXITED(status):
                self.last_status = os.WEXITSTATUS(status)

    def run(self):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            sys.stderr.write("ckpool_supervise: prctl(PR_SET_CHILD_SUBREAPER) failed\n")
            return 1
        # SIGCHLD and the forwarded signals stay blocked and are taken with sigtimedwait:
        # an exited ckpool is reaped at once (a new ckpool waiting for the old pid to vanish
        # must not see a zombie linger) and a stop is acted on at once, without a busy poll.
        watched = [signal.SIGCHLD] + list(FORWARDED)
        signal.pthread_sigmask(signal.SIG_BLOCK, watched)
        child = os.fork()
        if child == 0:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, watched)
            try:
                os.execvp(self.argv[0], self.argv)
            finally:
                os._exit(127)
        started = time.monotonic()
        while True:
            if not self.reap():
                return self.last_status
            self.stop_newcomers()
            self.watch_pidfile()
            if not self.ready and time.monotonic() - started > self.ready_timeout:
                sys.stderr.write("ckpool_supervise: %s not written within %.0f s\n"
                                 % (self.pidfile, self.ready_timeout))
                self.ready = True  # report once; systemd's TimeoutStartSec decides
            busy = not self.ready or self.stop_signal is not None
            info = signal.sigtimedwait(watched, 0.05 if busy else 0.5)
            if info is not None and info.si_signo in FORWARDED:
                self.forward(info.si_signo)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pidfile", required=True)
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        parser.error("the daemon's command line is missing (after --)")
    return Supervisor(args.pidfile, argv, args.ready_timeout).run()


if __name__ == "__main__":
    sys.exit(main())
