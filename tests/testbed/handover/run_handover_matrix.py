# -*- coding: utf-8 -*-
"""Try systemd unit designs against ckpool's handover timing under a REAL systemd.

    run_handover_matrix.py [--prefix tbh] [--reuse] [--keep] [--json OUT]
                           [--variants A,B | --variants recommended]
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
  stop_during_handover  ``systemctl stop`` 5 ms after triggering a handover: stopped cleanly
                in < 5 s (not by TimeoutStopSec + SIGKILL), no daemon left?

Prints a table and writes JSON; exits non-zero when the RECOMMENDED design (supervisor)
fails any scenario, so it can run in CI as a regression test.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTBED = os.path.join(os.path.dirname(HERE), "testbed.sh")
LIBEXEC = "/usr/local/libexec/ckpool-testbed"
PY = "/usr/bin/python3"
HOST = "pool01"
ROLE_SUPERVISOR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(HERE))),
                               "roles", "install", "files", "ckpool-supervise")
RECOMMENDED = ("supervisor", "supervisor_sim", "role_supervisor", "role_supervisor_sim")

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


def sup(name, inner):
    return ("Type=notify\nNotifyAccess=main\nKillMode=mixed\n"
            "ExecStart=%s %s/ckpool_supervise.py --pidfile /run/hd-%s/main.pid -- %s\n"
            % (PY, LIBEXEC, name, inner))


def role_sup(name, inner):
    """The same design as shipped by the install role (roles/install/files/ckpool-supervise)."""
    return ("Type=notify\nNotifyAccess=main\nKillMode=mixed\n"
            "ExecStart=%s %s/ckpool-supervise /run/hd-%s/main.pid -- %s\n"
            % (PY, LIBEXEC, name, inner))


def sim_cmd(name):
    return ("%s %s/ckpool_sim.py -q -c /etc/hd-%s.conf -n hd-%s -s /run/hd-%s "
            "--sim-stratum-port 0" % (PY, LIBEXEC, name, name, name))


STAND_IN = {"daemon": "handover_daemon.py", "trigger": "signal", "shutdown": "signal"}
SIM = {"daemon": "ckpool_sim.py", "trigger": "listener", "shutdown": "listener"}


def variants(delay):
    out = {
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
        "supervisor": sup("supervisor", daemon_cmd("supervisor", delay)),
    }
    out = dict((k, dict(STAND_IN, body=v)) for k, v in out.items())
    # the recommended design again, around the project's ckpool simulator (real "restart"
    # and "shutdown" over the listener socket, ckpool's own pid-file timing)
    out["supervisor_sim"] = dict(SIM, body=sup("supervisor_sim", sim_cmd("supervisor_sim")))
    out["simple_sim"] = dict(SIM, body="Type=simple\nExecStart=%s\n" % sim_cmd("simple_sim"))
    if os.path.exists(ROLE_SUPERVISOR):
        out["role_supervisor"] = dict(STAND_IN, body=role_sup(
            "role_supervisor", daemon_cmd("role_supervisor", delay)))
        out["role_supervisor_sim"] = dict(SIM, body=role_sup(
            "role_supervisor_sim", sim_cmd("role_supervisor_sim")))
    return out


class Host(object):
    def __init__(self, prefix):
        self.prefix = prefix

    def run(self, script, check=False, input_text=None, timeout=60):
        proc = subprocess.run(
            [TESTBED, "--prefix", self.prefix, "exec", HOST, "--", "sh", "-c", script],
            input=input_text, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            universal_newlines=True, timeout=timeout, check=False)
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
                        "-p Result -p StatusText %s" % unit)
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def pidfile(self, name):
        text = self.run("cat /run/hd-%s/main.pid 2>/dev/null" % name).stdout.strip()
        return int(text) if text.isdigit() else 0

    def alive(self, pid):
        if not pid:
            return False
        return self.run("test -d /proc/%d && ! grep -q '^State:.*Z' /proc/%d/status" % (pid, pid)
                        ).returncode == 0

    def daemons(self, name, script):
        # processes whose argv[1] is the daemon script serving this unit's run directory
        text = self.run("pgrep -f -- '/run/hd-%s(/| |$)' | while read p; do "
                        "a=$(tr '\\0' ' ' </proc/$p/cmdline | cut -d' ' -f2); "
                        "case $a in */%s) echo $p;; esac; done"
                        % (name, script)).stdout
        return sorted(int(x) for x in text.split())

    def listener(self, name, command):
        return self.run("%s -c 'import sys; sys.path.insert(0, \"%s\"); import ckpool_sim; "
                        "print(ckpool_sim.unix_request(\"/run/hd-%s/listener\", \"%s\"))'"
                        % (PY, LIBEXEC, name, command))


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
    def __init__(self, host, name, spec):
        self.h = host
        self.name = name
        self.spec = spec
        self.unit = "hd-%s.service" % name

    def new_pid(self, exclude):
        """The live pid in main.pid if it is none of exclude, else 0."""
        pid = self.h.pidfile(self.name)
        return pid if pid and pid not in exclude and self.h.alive(pid) else 0

    def trigger_handover(self, pid):
        if self.spec["trigger"] == "listener":
            self.h.listener(self.name, "restart")
        else:
            self.h.kill("USR1", pid)

    def trigger_shutdown(self, pid):
        if self.spec["shutdown"] == "listener":
            self.h.listener(self.name, "shutdown")
        else:
            self.h.kill("TERM", pid)

    def fresh_start(self):
        self.h.run("systemctl stop %s; systemctl reset-failed %s; rm -f /var/log/hd-%s.jsonl"
                   % (self.unit, self.unit, self.name))
        rc = self.h.run("systemctl start %s" % self.unit, timeout=30).returncode
        self.pidfile_when_started = self.h.pidfile(self.name)
        pid = wait_for(lambda: self.h.pidfile(self.name), 5)
        return rc, pid

    def handover(self, old):
        self.trigger_handover(old)
        new = wait_for(lambda: self.new_pid((old,)), 5)
        return new

    def snapshot(self, extra=None):
        st = self.h.show(self.unit)
        snap = {
            "active": st.get("ActiveState"),
            "sub": st.get("SubState"),
            "main_pid": int(st.get("MainPID", "0") or 0),
            "n_restarts": int(st.get("NRestarts", "0") or 0),
            "result": st.get("Result"),
            "status_text": st.get("StatusText"),
            "pidfile": self.h.pidfile(self.name),
            "daemons": self.h.daemons(self.name, self.spec["daemon"]),
        }
        if extra:
            snap.update(extra)
        return snap

    def sc_handover(self):
        rc, first = self.fresh_start()
        pids = [first]
        for dummy in range(2):
            new = self.handover(pids[-1])
            pids.append(new)
            time.sleep(1.5)  # > RestartSec: a restart from scratch would show by now
            if not new:
                break
        snap = self.snapshot({"start_rc": rc, "pids": pids,
                              "pidfile_when_start_returned": self.pidfile_when_started})
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

    def sc_stop_during_handover(self):
        rc, first = self.fresh_start()
        if not first:
            raise Precondition("daemon did not start")
        self.trigger_handover(first)
        time.sleep(0.005)
        t0 = time.monotonic()
        stop = self.h.run("systemctl stop %s" % self.unit, timeout=40)
        took = round(time.monotonic() - t0, 2)
        snap = self.snapshot({"pids": [first], "stop_rc": stop.returncode, "stop_s": took})
        # a design that leans on TimeoutStopSec (10 s) and SIGKILL does not count as clean
        snap["ok"] = bool(stop.returncode == 0 and snap["active"] in ("inactive", "failed")
                          and not snap["daemons"] and took < 5)
        return snap

    def sc_restart(self):
        rc, first, new = self._after_handover()
        res = self.h.run("systemctl restart %s" % self.unit, timeout=40)
        fresh = wait_for(lambda: self.new_pid((first, new)), 5)
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
        fresh = wait_for(lambda: self.new_pid((victim,)), 6)
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
        self.trigger_shutdown(new)
        time.sleep(2.5)  # > RestartSec
        snap = self.snapshot({"pids": [first, new]})
        snap["ok"] = bool(snap["active"] in ("inactive", "failed") and snap["n_restarts"] == 0
                          and not snap["daemons"] and snap["result"] == "success")
        return snap

    SCENARIOS = ("handover", "stop", "restart", "crash", "crash_plain", "shutdown",
                 "stop_during_handover")

    def run_all(self):
        out = {}
        for sc in self.SCENARIOS:
            try:
                out[sc] = getattr(self, "sc_" + sc)()
            except Precondition as exc:
                out[sc] = {"ok": False, "na": True, "error": str(exc)}
            except Exception as exc:  # record, go on with the next scenario
                out[sc] = {"ok": False, "error": repr(exc)}
            detail = "" if out[sc]["ok"] else json.dumps(out[sc])
            sys.stderr.write("  %-38s %-12s %s %s\n" % (self.name, sc, verdict(out[sc]), detail))
        self.h.run("systemctl stop %s; systemctl reset-failed %s" % (self.unit, self.unit))
        return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", default="tbh")
    parser.add_argument("--reuse", action="store_true", help="use an already running bed")
    parser.add_argument("--keep", action="store_true", help="leave the bed up afterwards")
    parser.add_argument("--json", default=None)
    parser.add_argument("--variants", default=None,
                        help="comma-separated designs, or 'recommended' (default: all)")
    parser.add_argument("--pid-write-delay", default="0.02")
    args = parser.parse_args()

    if not args.reuse:
        subprocess.run([TESTBED, "--prefix", args.prefix, "down"], stdout=subprocess.DEVNULL,
                       check=False)
        subprocess.run([TESTBED, "--prefix", args.prefix, "up", "1", "--systemd"], check=True,
                       stdout=subprocess.DEVNULL)
    host = Host(args.prefix)
    results = {}
    try:
        version = host.out("systemctl --version | head -n 1")
        host.run("mkdir -p %s" % LIBEXEC, check=True)
        sim = os.path.join(os.path.dirname(os.path.dirname(HERE)), "simulator", "ckpool_sim.py")
        scripts = [os.path.join(HERE, "handover_daemon.py"),
                   os.path.join(HERE, "ckpool_supervise.py"), sim]
        if os.path.exists(ROLE_SUPERVISOR):
            scripts.append(ROLE_SUPERVISOR)
        for script in scripts:
            with open(script) as fh:
                script = os.path.basename(script)
                host.run("cat > %s/%s && chmod 0755 %s/%s" % (LIBEXEC, script, LIBEXEC, script),
                         check=True, input_text=fh.read())
        units = variants(args.pid_write_delay)
        if args.variants == "recommended":
            wanted = [name for name in RECOMMENDED if name in units]
        else:
            wanted = args.variants.split(",") if args.variants else list(units)
        for name in wanted:
            text = COMMON.format(name=name, body=units[name]["body"])
            host.run("cat > /etc/systemd/system/hd-%s.service" % name, check=True,
                     input_text=text)
            if units[name]["daemon"] == "ckpool_sim.py":
                host.run("cat > /etc/hd-%s.conf" % name, check=True, input_text=json.dumps(
                    {"logdir": "/var/log/hd-%s" % name, "serverurl": ["127.0.0.1:0"],
                     "btcaddress": "testbed"}))
        host.run("systemctl daemon-reload", check=True)
        for name in wanted:
            verify = host.run("systemd-analyze verify /etc/systemd/system/hd-%s.service" % name)
            results[name] = {"unit": COMMON.format(name=name, body=units[name]["body"]),
                             "verify_rc": verify.returncode,
                             "scenarios": Matrix(host, name, units[name]).run_all()}
    finally:
        if not args.keep:
            subprocess.run([TESTBED, "--prefix", args.prefix, "down"], check=False)

    report = {"systemd": version, "pid_write_delay": float(args.pid_write_delay),
              "results": results}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1, sort_keys=True)
    scen = Matrix.SCENARIOS
    print("%-38s %s" % ("unit design", " ".join("%-11s" % s[:11] for s in scen)))
    for name, res in results.items():
        print("%-38s %s" % (name, " ".join("%-11s" % verdict(res["scenarios"][s]) for s in scen)))
    rc = 0
    passed = failed = 0
    for name in RECOMMENDED:
        rec = results.get(name)
        if rec is None:
            continue
        for s in scen:
            if rec["scenarios"][s]["ok"]:
                passed += 1
            else:
                failed += 1
                print("RECOMMENDED design '%s' failed scenario %s" % (name, s))
                rc = 1
    if passed or failed:
        print("handover: %d passed, %d failed" % (passed, failed))
    return rc


if __name__ == "__main__":
    sys.exit(main())
