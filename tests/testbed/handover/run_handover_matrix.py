#!/usr/bin/env python3
"""Try systemd unit designs against ckpool's handover timing under a REAL systemd.

    run_handover_matrix.py [--prefix tbh] [--reuse] [--keep] [--json OUT] [--variants A,B]
                           [--pid-write-delay S]

Brings up one ``--systemd`` test-bed host (tests/testbed/testbed.sh), installs the stand-in
daemon (handover_daemon.py) and the supervisor (ckpool_supervise.py) into it, and for each
candidate unit runs these scenarios, each from a fresh start:

  handover      start; trigger a handover twice; is the unit active, the new daemon alive,
                no restart from scratch (NRestarts 0), exactly one daemon, MainPID?
  stop          after a handover: does ``systemctl stop`` stop the NEW daemon?
  restart       after a handover: does ``systemctl restart`` give one fresh daemon?
  crash         after a handover: kill -SEGV the new daemon: restarted by Restart=on-failure?
  crash_plain   no handover, kill -SEGV: restarted (baseline)?
  shutdown      after a handover: SIGTERM to the daemon (ckpool's ``shutdown``): unit goes
                inactive and is NOT restarted?

Prints a table and writes JSON; exits non-zero when the RECOMMENDED design (supervisor)
fails any scenario, so it can run in CI as a regression test.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTBED = os.path.join(os.path.dirname(HERE), "testbed.sh")
LIBEXEC = "/usr/local/libexec/ckpool-testbed"
PY = "/usr/bin/python3"
HOST = "pool01"
RECOMMENDED = "supervisor"

COMMON = """[Unit]
Description=ckpool handover test unit ({name})

[Service]
RuntimeDirectory=hd-{name}
Restart=on-failure
RestartSec=1
TimeoutStartSec=15
TimeoutStopSec=10
{body}
"""


def daemon_cmd(name, delay, daemonize=False):
    cmd = "%s %s/handover_daemon.py --pidfile /run/hd-%s/main.pid --log /var/log/hd-%s.jsonl " \
          "--pid-write-delay %s" % (PY, LIBEXEC, name, name, delay)
    return cmd + (" --daemonize" if daemonize else "")


def variants(delay):
    return {
        "forking_pidfile": (
            "Type=forking\nPIDFile=/run/hd-forking_pidfile/main.pid\nExecStart=%s\n"
            % daemon_cmd("forking_pidfile", delay, daemonize=True)),
        "simple": "Type=simple\nExecStart=%s\n" % daemon_cmd("simple", delay),
        "simple_exittype_cgroup": (
            "Type=simple\nExitType=cgroup\nExecStart=%s\n"
            % daemon_cmd("simple_exittype_cgroup", delay)),
        "simple_exittype_cgroup_restart_always": (
            "Type=simple\nExitType=cgroup\nRestart=always\nExecStart=%s\n"
            % daemon_cmd("simple_exittype_cgroup_restart_always", delay)),
        "forking_pidfile_exittype_cgroup": (
            "Type=forking\nExitType=cgroup\nPIDFile=/run/hd-forking_pidfile_exittype_cgroup/main.pid\n"
            "ExecStart=%s\n" % daemon_cmd("forking_pidfile_exittype_cgroup", delay, daemonize=True)),
        "supervisor": (
            "Type=notify\nNotifyAccess=main\nKillMode=mixed\n"
            "ExecStart=%s %s/ckpool_supervise.py --pidfile /run/hd-supervisor/main.pid -- %s\n"
            % (PY, LIBEXEC, daemon_cmd("supervisor", delay))),
    }


class Host(object):
    def __init__(self, prefix):
        self.prefix = prefix

    def run(self, script, check=False, input_text=None, timeout=60):
        proc = subprocess.run(
            [TESTBED, "--prefix", self.prefix, "exec", HOST, "--", "sh", "-c", script],
            input=input_text, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            universal_newlines=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError("%s -> rc %d: %s" % (script, proc.returncode, proc.stderr))
        return proc

    def kill(self, sig, pid):
        # never "kill 0"/"kill -1": a process group or everything reaches the controller too
        if not isinstance(pid, int) or pid <= 1:
            raise RuntimeError("refusing to signal pid %r" % (pid,))
        return self.run("kill -%s %d" % (sig, pid))

    def out(self, script):
        return self.run(script, check=True).stdout.strip()

    def show(self, unit):
        text = self.out("systemctl show -p ActiveState -p SubState -p MainPID -p NRestarts "
                        "-p Result %s" % unit)
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def pidfile(self, name):
        text = self.run("cat /run/hd-%s/main.pid 2>/dev/null" % name).stdout.strip()
        return int(text) if text.isdigit() else 0

    def alive(self, pid):
        if not pid:
            return False
        return self.run("test -d /proc/%d && ! grep -q '^State:.*Z' /proc/%d/status" % (pid, pid)
                        ).returncode == 0

    def daemons(self, name):
        # processes whose argv[1] is the stand-in daemon serving this unit's pid file
        text = self.run("pgrep -f -- '--pidfile /run/hd-%s/main.pid' | while read p; do "
                        "a=$(tr '\\0' ' ' </proc/$p/cmdline | cut -d' ' -f2); "
                        "case $a in */handover_daemon.py) echo $p;; esac; done"
                        % name).stdout
        return sorted(int(x) for x in text.split())


def verdict(res):
    if res["ok"]:
        return "ok"
    return "n/a" if res.get("na") else "FAIL"


def wait_for(pred, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(step)
    return pred()


class Precondition(Exception):
    """The scenario cannot be run: the design already failed an earlier step."""


class Matrix(object):
    def __init__(self, host, name):
        self.h = host
        self.name = name
        self.unit = "hd-%s.service" % name

    def fresh_start(self):
        self.h.run("systemctl stop %s; systemctl reset-failed %s; rm -f /var/log/hd-%s.jsonl"
                   % (self.unit, self.unit, self.name))
        rc = self.h.run("systemctl start %s" % self.unit, timeout=30).returncode
        pid = wait_for(lambda: self.h.pidfile(self.name), 5)
        return rc, pid

    def handover(self, old):
        self.h.kill("USR1", old)
        new = wait_for(lambda: (lambda p: p if p and p != old and self.h.alive(p) else 0)(
            self.h.pidfile(self.name)), 5)
        return new

    def snapshot(self, extra=None):
        st = self.h.show(self.unit)
        snap = {
            "active": st.get("ActiveState"),
            "sub": st.get("SubState"),
            "main_pid": int(st.get("MainPID", "0") or 0),
            "n_restarts": int(st.get("NRestarts", "0") or 0),
            "result": st.get("Result"),
            "pidfile": self.h.pidfile(self.name),
            "daemons": self.h.daemons(self.name),
        }
        if extra:
            snap.update(extra)
        return snap

    def sc_handover(self):
        rc, first = self.fresh_start()
        pids = [first]
        for _ in range(2):
            new = self.handover(pids[-1])
            pids.append(new)
            time.sleep(1.5)  # > RestartSec: a restart from scratch would show by now
            if not new:
                break
        snap = self.snapshot({"start_rc": rc, "pids": pids})
        new = pids[-1]
        snap["new_alive"] = self.h.alive(new)
        snap["ok"] = bool(rc == 0 and new and snap["new_alive"] and snap["active"] == "active"
                          and snap["n_restarts"] == 0 and snap["daemons"] == [new]
                          and snap["pidfile"] == new)
        return snap

    def _after_handover(self):
        rc, first = self.fresh_start()
        new = self.handover(first) if first else 0
        time.sleep(1.0)
        st = self.h.show(self.unit)
        if not (new and self.h.alive(new) and st.get("ActiveState") == "active"):
            raise Precondition("unit did not survive the handover (active=%s, new pid %s)"
                               % (st.get("ActiveState"), new))
        return rc, first, new

    def sc_stop(self):
        rc, first, new = self._after_handover()
        t0 = time.monotonic()
        stop = self.h.run("systemctl stop %s" % self.unit, timeout=40)
        took = round(time.monotonic() - t0, 2)
        snap = self.snapshot({"pids": [first, new], "stop_rc": stop.returncode, "stop_s": took})
        snap["new_alive"] = self.h.alive(new)
        snap["ok"] = bool(stop.returncode == 0 and snap["active"] == "inactive"
                          and not snap["daemons"])
        return snap

    def sc_restart(self):
        rc, first, new = self._after_handover()
        res = self.h.run("systemctl restart %s" % self.unit, timeout=40)
        fresh = wait_for(lambda: (lambda p: p if p and p not in (first, new) and self.h.alive(p)
                                  else 0)(self.h.pidfile(self.name)), 5)
        time.sleep(1.5)
        snap = self.snapshot({"pids": [first, new, fresh], "restart_rc": res.returncode})
        snap["ok"] = bool(res.returncode == 0 and fresh and snap["active"] == "active"
                          and snap["daemons"] == [fresh] and not self.h.alive(new))
        return snap

    def _crash(self, with_handover):
        if with_handover:
            rc, first, victim = self._after_handover()
        else:
            rc, victim = self.fresh_start()
            first = victim
        before = self.h.show(self.unit)
        if not victim or before.get("ActiveState") != "active":
            raise Precondition("unit not active before the crash (%s)" % before.get("ActiveState"))
        self.h.kill("SEGV", victim)
        fresh = wait_for(lambda: (lambda p: p if p and p != victim and self.h.alive(p) else 0)(
            self.h.pidfile(self.name)), 6)
        time.sleep(0.5)
        snap = self.snapshot({"pids": [first, victim, fresh]})
        snap["ok"] = bool(fresh and snap["active"] == "active" and snap["n_restarts"] >= 1
                          and snap["daemons"] == [fresh])
        return snap

    def sc_crash(self):
        return self._crash(True)

    def sc_crash_plain(self):
        return self._crash(False)

    def sc_shutdown(self):
        rc, first, new = self._after_handover()
        self.h.kill("TERM", new)
        time.sleep(2.5)  # > RestartSec
        snap = self.snapshot({"pids": [first, new]})
        snap["ok"] = bool(snap["active"] in ("inactive", "failed") and snap["n_restarts"] == 0
                          and not snap["daemons"] and snap["result"] == "success")
        return snap

    SCENARIOS = ("handover", "stop", "restart", "crash", "crash_plain", "shutdown")

    def run_all(self):
        out = {}
        for sc in self.SCENARIOS:
            try:
                out[sc] = getattr(self, "sc_" + sc)()
            except Precondition as exc:
                out[sc] = {"ok": False, "na": True, "error": str(exc)}
            except Exception as exc:  # record, go on with the next scenario
                out[sc] = {"ok": False, "error": repr(exc)}
            sys.stderr.write("  %-32s %-12s %s\n" % (self.name, sc, verdict(out[sc]) + " " +
                                                      ("" if out[sc]["ok"] else json.dumps(out[sc]))))
        self.h.run("systemctl stop %s; systemctl reset-failed %s" % (self.unit, self.unit))
        return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", default="tbh")
    parser.add_argument("--reuse", action="store_true", help="use an already running bed")
    parser.add_argument("--keep", action="store_true", help="leave the bed up afterwards")
    parser.add_argument("--json", default=None)
    parser.add_argument("--variants", default=None)
    parser.add_argument("--pid-write-delay", default="0.02")
    args = parser.parse_args()

    if not args.reuse:
        subprocess.run([TESTBED, "--prefix", args.prefix, "down"], stdout=subprocess.DEVNULL)
        subprocess.run([TESTBED, "--prefix", args.prefix, "up", "1", "--systemd"], check=True,
                       stdout=subprocess.DEVNULL)
    host = Host(args.prefix)
    results = {}
    try:
        version = host.out("systemctl --version | head -n 1")
        host.run("mkdir -p %s" % LIBEXEC, check=True)
        for script in ("handover_daemon.py", "ckpool_supervise.py"):
            with open(os.path.join(HERE, script)) as fh:
                host.run("cat > %s/%s && chmod 0755 %s/%s" % (LIBEXEC, script, LIBEXEC, script),
                         check=True, input_text=fh.read())
        units = variants(args.pid_write_delay)
        wanted = args.variants.split(",") if args.variants else list(units)
        for name in wanted:
            text = COMMON.format(name=name, body=units[name])
            host.run("cat > /etc/systemd/system/hd-%s.service" % name, check=True,
                     input_text=text)
        host.run("systemctl daemon-reload", check=True)
        for name in wanted:
            verify = host.run("systemd-analyze verify /etc/systemd/system/hd-%s.service" % name)
            results[name] = {"unit": COMMON.format(name=name, body=units[name]),
                             "verify_rc": verify.returncode,
                             "scenarios": Matrix(host, name).run_all()}
    finally:
        if not args.keep:
            subprocess.run([TESTBED, "--prefix", args.prefix, "down"], check=False)

    report = {"systemd": version, "pid_write_delay": float(args.pid_write_delay),
              "results": results}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1, sort_keys=True)
    scen = Matrix.SCENARIOS
    print("%-32s %s" % ("unit design", " ".join("%-11s" % s for s in scen)))
    for name, res in results.items():
        print("%-32s %s" % (name, " ".join("%-11s" % verdict(res["scenarios"][s]) for s in scen)))
    rec = results.get(RECOMMENDED)
    if rec is not None and not all(rec["scenarios"][s]["ok"] for s in scen):
        print("RECOMMENDED design '%s' failed a scenario" % RECOMMENDED)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
