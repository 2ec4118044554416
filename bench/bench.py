"""checkpointctl's benchmark: drift against the floor, Ansible and pyinfra, and the rest of issue 9.

Run through ``bench/run`` (which prepares ``bench/.venv`` with ansible-core and pyinfra); see
bench/README.md for what is measured and how to read the table. This process runs in the
project's venv: it drives the lab, and the floor uses the same paramiko as checkpointctl.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fleet as fl
import listen_bench
import measure
import oci_poll

BENCH = fl.BENCH
RESULTS = BENCH / "results"
BENCH_PY = BENCH / ".venv" / "bin" / "python"
TABLE_BEGIN = "<!-- bench-table:begin -->"
Runner = Callable[[fl.Fleet], tuple[measure.Sample, "set[str] | None"]]
TABLE_END = "<!-- bench-table:end -->"
FLOOR_ONE = "floor (paramiko, 1 session)"
"""The one-session floor: the reads as one exec per host; the drift rows' ratio is to it."""
FLOOR_THREE = "floor (paramiko, 3 commands)"
"""The three-command floor, kept for comparison (and the reference of the sudo/bastion rows)."""


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Row:
    """One line of the table: a scenario/tool at N hosts, over several runs."""

    tool: str
    n: int
    samples: list[measure.Sample] = field(default_factory=list)
    ok: bool | None = None
    """Whether every run found exactly the hosts drifted on purpose (None: not applicable)."""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    walls: list[float] | None = None
    """Set when the figure is not a process's wall time (e.g. a watch cycle)."""
    access: str = ""
    """How the hosts are reached ("" directly as root, "sudo", "bastion"): a row's ratio is
    to the floor that reaches them the same way."""

    def times(self) -> list[float]:
        return self.walls if self.walls is not None else [s.wall for s in self.samples]

    @property
    def median(self) -> float:
        return statistics.median(self.times())

    def to_json(self, floor: float | None) -> dict[str, Any]:
        t = self.times()
        return {
            "tool": self.tool,
            "n": self.n,
            "runs": len(t),
            "median_s": round(self.median, 3),
            "min_s": round(min(t), 3),
            "max_s": round(max(t), 3),
            "all_s": [round(x, 3) for x in t],
            "peak_rss_mib": round(max(s.rss_mib for s in self.samples), 1)
            if self.samples
            else None,
            "controller_cpu_s": round(statistics.median(s.cpu for s in self.samples), 2)
            if self.samples
            else None,
            "hosts_cpu_s": round(statistics.median(s.host_cpu for s in self.samples), 2)
            if self.samples
            else None,
            "ratio_to_floor": round(self.median / floor, 2) if floor else None,
            "correct": self.ok,
            "note": self.note,
            **{k: v for k, v in self.extra.items() if k != "found"},
            "drifted_found": len(self.extra["found"] or ()) if "found" in self.extra else None,
        }


# -- the tools ------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ctl = fl.checkpointctl()
        self.rows: list[Row] = []
        self.work = fl.WORK
        self.work.mkdir(parents=True, exist_ok=True)

    # paths and shared files

    def host_pids(self, f: fl.Fleet) -> list[int]:
        from checkpointctl.lab import layout

        root = layout.lab_root()
        out = []
        for h in dict.fromkeys(fl.base_host(n) for n in f.hosts):
            with contextlib.suppress(OSError, ValueError):
                out.append(int((root / "hosts" / h / "sshd.pid").read_text().split()[0]))
        return out

    def fleet_json(self, f: fl.Fleet) -> Path:
        path = self.work / f"fleet-{f.n}.json"
        path.write_text(
            json.dumps(
                {
                    "addresses": f.addresses,
                    "identity_file": f.identity_file,
                    "known_hosts": f.known_hosts,
                }
            )
        )
        return path

    def expected_json(self, exp: fl.Expected) -> Path:
        path = self.work / "expected.json"
        doc = exp.to_json()
        doc["meta_lines"] = sorted(
            f"{int(m.split()[0], 8):o} {' '.join(m.split()[1:])} {p}" for p, m in exp.meta.items()
        )
        doc["sha_lines"] = sorted(f"{d}  {p}" for p, d in exp.sha256.items())
        doc["table"] = fl.norm_table(exp.table)
        path.write_text(json.dumps(doc))
        (self.work / "expected-ansible.json").write_text(json.dumps({"expected": doc}))
        return path

    def ctl_argv(self, verb: str, f: fl.Fleet, *extra: str) -> list[str]:
        return [
            self.ctl,
            verb,
            str(fl.POLICY),
            "-i",
            str(f.inventory),
            "-q",
            *extra,
        ]

    # one run of each tool: returns (sample, drifted hosts or None when not parsed)

    def run_checkpointctl(
        self, f: fl.Fleet, *extra: str, fds: bool = False
    ) -> tuple[measure.Sample, set[str] | None]:
        out = self.work / "drift.json"
        out.unlink(missing_ok=True)
        s = measure.run(
            self.ctl_argv("drift", f, "--format", "json", "-o", str(out), *extra),
            host_pids=sorted(set(self.host_pids(f))),
            env=fl.ctl_env(),
            sample_fds=fds,
        )
        if s.rc not in (0, 2) or not out.exists():
            say(f"checkpointctl drift exited {s.rc}: {s.stderr.decode()[-2000:]}")
            return s, None
        report = json.loads(out.read_text())
        drift = {h["host"] for h in report["hosts"] if h["status"] not in ("in-sync", "in_sync")}
        return s, drift

    def run_floor(self, f: fl.Fleet, *extra: str) -> tuple[measure.Sample, set[str] | None]:
        s = measure.run(
            [
                sys.executable,
                str(BENCH / "floor.py"),
                str(self.fleet_json(f)),
                str(self.work / "expected.json"),
                "--threads",
                "50",
                *(["--tcp-nodelay"] if self.args.floor_tcp_nodelay else []),
                *(["--aead"] if self.args.floor_aead else []),
                *extra,
            ],
            host_pids=self.host_pids(f),
        )
        return s, self._drift_line(s, "floor")

    def run_pyinfra(self, f: fl.Fleet) -> tuple[measure.Sample, set[str] | None]:
        s = measure.run(
            [
                str(BENCH_PY),
                str(BENCH / "pyinfra_drift.py"),
                str(self.fleet_json(f)),
                str(self.work / "expected.json"),
                "--parallel",
                "50",
            ],
            host_pids=self.host_pids(f),
        )
        return s, self._drift_line(s, "pyinfra")

    def _drift_line(self, s: measure.Sample, name: str) -> set[str] | None:
        try:
            doc = json.loads(s.stdout.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            say(f"{name} exited {s.rc}: {s.stderr.decode()[-2000:]}")
            return None
        if doc["errors"]:
            say(f"{name}: {len(doc['errors'])} host(s) failed: {list(doc['errors'].items())[:2]}")
            return None
        return set(doc["drift"])

    def ansible_env(self, f: fl.Fleet) -> dict[str, str]:
        inv = self.work / f"ansible-inventory-{f.n}.yml"
        import yaml

        inv.write_text(
            yaml.safe_dump(
                {
                    "all": {
                        "vars": {
                            "ansible_user": "root",
                            "ansible_ssh_private_key_file": f.identity_file,
                        },
                        "children": {
                            "bench": {
                                "hosts": {h: {"ansible_host": a} for h, a in f.addresses.items()}
                            }
                        },
                    }
                }
            )
        )
        control = Path("/tmp") / f"cpbench-cp-{os.getpid()}"  # short: socket paths are limited
        control.mkdir(exist_ok=True)
        cfg = (BENCH / "ansible" / "ansible.cfg.in").read_text()
        for key, value in (
            ("@INVENTORY@", str(inv)),
            ("@WORK@", str(self.work)),
            ("@KNOWN_HOSTS@", f.known_hosts),
            ("@CONTROL@", str(control)),
        ):
            cfg = cfg.replace(key, value)
        path = self.work / "ansible.cfg"
        path.write_text(cfg)
        env = dict(os.environ)
        env.update({"ANSIBLE_CONFIG": str(path), "ANSIBLE_NOCOLOR": "1"})
        self.control = control
        return env

    def close_masters(self) -> None:
        """End Ansible's ControlPersist masters, so each run starts cold (they are ours)."""
        control = getattr(self, "control", None)
        if control is None:
            return
        for sock in control.iterdir():
            subprocess.run(
                ["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "bench"],
                capture_output=True,
                check=False,
            )

    def run_ansible(self, f: fl.Fleet) -> tuple[measure.Sample, set[str] | None]:
        env = self.ansible_env(f)
        s = measure.run(
            [
                str(BENCH / ".venv" / "bin" / "ansible-playbook"),
                str(BENCH / "ansible" / "drift.yml"),
                "--extra-vars",
                f"@{self.work / 'expected-ansible.json'}",
            ],
            host_pids=self.host_pids(f),
            env=env,
            sample_tree=True,
            finish=self.close_masters,
        )
        text = s.stdout.decode("utf-8", "replace")
        recap = re.findall(r"^(\S+)\s+: ok=\d+.*unreachable=(\d+)\s+failed=(\d+)", text, re.M)
        bad = [h for h, unreachable, failed in recap if unreachable != "0" or failed != "0"]
        if s.rc not in (0, 2) or not recap or bad:
            say(f"ansible exited {s.rc}, failed hosts {bad[:3]}: {text[-1500:]}")
            return s, None
        drift = set(re.findall(r'"msg": "DRIFT (\S+)"', text))
        return s, drift

    # scenarios

    def measure_tools(
        self,
        f: fl.Fleet,
        runners: list[tuple[str, Runner]],
        runs: int,
        want: set[str],
    ) -> list[Row]:
        """Every tool once per round, ``runs`` rounds: interleaved, so a burst of load on this
        shared machine hits all of them alike and the ratios stay fair."""
        rows = [Row(name, f.n, ok=True) for name, _ in runners]
        for i in range(runs):
            for row, (name, fn) in zip(rows, runners, strict=True):
                s, drift = fn(f)
                row.samples.append(s)
                row.extra["found"] = sorted(drift) if drift is not None else None
                right = drift == want
                row.ok = bool(row.ok and right)
                if not right:
                    missed = sorted(want - (drift or set()))[:5]
                    extra = sorted((drift or set()) - want)[:5]
                    say(f"  {name}: found the wrong hosts (missed {missed}, extra {extra})")
                say(
                    f"  {name} N={f.n} run {i + 1}: {s.wall:.2f}s, {s.rss_mib:.0f} MiB, "
                    f"hosts' CPU {s.host_cpu:.1f}s"
                )
        self.rows.extend(rows)
        return rows

    def measure_access(self, f: fl.Fleet, runs: int, want: set[str]) -> None:
        """Drift as an unprivileged user with sudo, and through a bastion, each beside a floor
        that reaches the hosts the same way (``floor.py --user --sudo``, ``--jump``)."""
        from checkpointctl.lab.layout import BASTION_ADDRESS, LAB_USER

        sudo = fl.variant(f, "sudo", {"user": LAB_USER, "become": True})
        pair: list[tuple[str, Runner]] = [
            (
                "floor + sudo (paramiko, 3 commands)",
                lambda g: self.run_floor(g, "--user", LAB_USER, "--sudo"),
            ),
            ("checkpointctl drift + sudo", self.run_checkpointctl),
        ]
        for row in self.measure_tools(sudo, pair, runs, want):
            row.access = "sudo"
        full, light = fl.lab_status()
        say(f"lab: bastion up ({full} full, {light} light behind it)")
        fl.lab_up(full, light, bastion=True)
        try:
            jumped = fl.variant(f, "bastion", {"ssh_jump": f"root@{BASTION_ADDRESS}"})
            pair = [
                (
                    "floor via bastion (paramiko, 3 commands)",
                    lambda g: self.run_floor(g, "--jump", BASTION_ADDRESS),
                ),
                ("checkpointctl drift via bastion", self.run_checkpointctl),
            ]
            for row in self.measure_tools(jumped, pair, runs, want):
                row.access = "bastion"
        finally:
            say("lab: bastion down")
            fl.lab_up(full, light)

    def measure_apply(self, f: fl.Fleet, runs: int) -> Row:
        row = Row("checkpointctl apply (no-op)", f.n, ok=True)
        for i in range(runs):
            out = self.work / "apply.json"
            s = measure.run(
                self.ctl_argv(
                    "apply",
                    f,
                    "--format",
                    "json",
                    "-o",
                    str(out),
                    "--audit-log",
                    str(self.work / "bench-audit.jsonl"),
                ),
                host_pids=self.host_pids(f),
                env=fl.ctl_env(),
            )
            row.samples.append(s)
            try:
                report = json.loads(out.read_text())
                changed = [
                    h["host"] for h in report["hosts"] if h["status"] not in ("in-sync", "in_sync")
                ]
            except (OSError, ValueError):
                changed = ["?"]
            if s.rc != 0 or changed:
                row.ok = False
                say(f"  apply: rc {s.rc}, not in sync: {changed[:5]} {s.stderr.decode()[-500:]}")
            say(f"  apply (no-op) N={f.n} run {i + 1}: {s.wall:.2f}s, {s.rss_mib:.0f} MiB")
        self.rows.append(row)
        return row

    def measure_watch(self, f: fl.Fleet, cycles: int, want: set[str]) -> Row | None:
        """``drift --watch``: the first (cold) cycle and the steady ones after it."""
        out = self.work / "watch.json"
        s = measure.run(
            self.ctl_argv(
                "drift",
                f,
                "--format",
                "json",
                "-o",
                str(out),
                "--watch",
                "0",
                "--poll",
                "--cycles",
                str(cycles + 1),
            ),
            host_pids=self.host_pids(f),
            env=fl.ctl_env(),
        )
        lines = [ln for ln in s.stderr.decode().splitlines() if ln.startswith("watch: cycle")]
        secs = []
        for ln in lines:
            with contextlib.suppress(ValueError, IndexError):
                secs.append(float(ln.split(" in ", 1)[1].split("s", 1)[0]))
        if s.rc not in (0, 2) or len(secs) != cycles + 1:
            say(f"  watch: rc {s.rc}, cycles {secs}: {s.stderr.decode()[-1500:]}")
            return None
        row = Row("checkpointctl drift --watch (steady cycle)", f.n, samples=[s], walls=secs[1:])
        report = json.loads(out.read_text())
        drift = {h["host"] for h in report["hosts"] if h["status"] not in ("in-sync", "in_sync")}
        row.ok = drift == want
        row.extra["cold_cycle_s"] = round(secs[0], 3)
        row.extra["ratio_to_cold_cycle"] = round(statistics.median(secs[1:]) / secs[0], 3)
        say(f"  watch N={f.n}: cycles {[round(x, 2) for x in secs]}")
        self.rows.append(row)
        return row

    def measure_listen(self, f: fl.Fleet, cycles: int, idle: float) -> list[Row]:
        """The listening watch: idle CPU per host per minute against one steady polling cycle,
        and the time from a hand-made change to its report (bench/listen_bench.py)."""
        from checkpointctl import lab

        def polling(n: int) -> measure.Sample:
            argv = self.ctl_argv("drift", f, "--format", "json", "-o", str(self.work / "p.json"))
            argv += ["--watch", "0", "--poll", "--cycles", str(n)]
            return measure.run(argv, host_pids=self.host_pids(f), env=fl.ctl_env())

        one, many = polling(1), polling(1 + cycles)
        poll_host = max(0.0, many.host_cpu - one.host_cpu) / cycles / f.n
        poll_ctl = max(0.0, many.cpu - one.cpu) / cycles / f.n
        probes = fl.writable(f.hosts, lab.status().light)[:3]
        figs = listen_bench.measure_listen(
            self.ctl_argv("drift", f, "--format", "json", "-o", str(self.work / "l.json"))
            + ["--watch", "30s", "--resync", "1h"],
            fl.ctl_env(),
            self.host_pids(f),
            probes,
            {h: lab.exec_argv(h) for h in probes},
            idle=idle,
        )
        idle_row = Row(
            "checkpointctl listening watch: idle CPU s per host-minute (hosts + controller)",
            f.n,
            walls=[figs.host_cpu_per_host_min + figs.ctl_cpu_per_host_min],
            ok=figs.idle_cycles == 0,
            note=f"idle {figs.idle_s:.0f}s, {figs.idle_cycles} cycles meanwhile; figure is CPU",
        )
        idle_row.extra.update(
            host_cpu_per_host_min=round(figs.host_cpu_per_host_min, 6),
            ctl_cpu_per_host_min=round(figs.ctl_cpu_per_host_min, 6),
            polling_cycle_host_cpu_per_host=round(poll_host, 6),
            polling_cycle_ctl_cpu_per_host=round(poll_ctl, 6),
            ratio_to_polling_cycle=round(
                (figs.host_cpu_per_host_min + figs.ctl_cpu_per_host_min) / (poll_host + poll_ctl),
                3,
            )
            if poll_host + poll_ctl > 0
            else None,
        )
        report_row = Row(
            "checkpointctl listening watch: hand-made change to its report",
            f.n,
            walls=figs.report_s,
            ok=figs.start_line.startswith(f"watch: listening on {f.n} hosts"),
            note="nft chain added/removed on a host through nsenter",
        )
        say(
            f"  listen N={f.n}: idle host {figs.host_cpu_per_host_min * 1000:.2f} ms + "
            f"controller {figs.ctl_cpu_per_host_min * 1000:.2f} ms per host-minute; polling "
            f"cycle host {poll_host * 1000:.2f} ms + controller {poll_ctl * 1000:.2f} ms per "
            f"host; change to report {[round(x, 3) for x in figs.report_s]}"
        )
        self.rows += [idle_row, report_row]
        return [idle_row, report_row]

    def measure_oci_poll(self, agents: int) -> None:
        """Pull agents polling an unchanged tag in the lab registry: requests per agent per
        interval, counted in the registry's access log (bench/oci_poll.py)."""
        result = oci_poll.measure(agents)
        summary = result.summary()
        mean = summary["mean_requests_per_agent_per_steady_interval"]
        most = summary["max_requests_per_agent_per_steady_interval"]
        row = Row(
            f"pull: agents poll an unchanged OCI tag, registry requests per agent per interval "
            f"{mean} (max {most}); time = one interval of all agents",
            agents,
            ok=result.ok,
            walls=result.walls[1:],
            extra={"oci_poll": summary},
        )
        row.note = (
            f"registry requests per agent per interval: max "
            f"{summary['max_requests_per_agent_per_steady_interval']}, mean "
            f"{summary['mean_requests_per_agent_per_steady_interval']} "
            f"(first interval: {summary['first_interval_requests']} in all)"
        )
        say(
            f"  oci poll, {agents} agents: {row.note}; "
            f"intervals {[round(w, 2) for w in result.walls]}s"
        )
        self.rows.append(row)

    def measure_scale(self, f: fl.Fleet, per_host: int, forks: list[int], want: set[str]) -> None:
        """``drift`` of ``per_host`` names for each host of ``f`` (10,000 names over the 500
        light hosts): peak RSS, wall, the most file descriptors held, and that every name's
        result is its host's. Each ``--forks`` value is measured beside a drift of ``f``
        itself with the same forks (the ratio's reference, in the same run)."""
        names = fl.names_per_host(f, per_host)
        want_names = {n for n in names.hosts if fl.base_host(n) in want}
        for width in forks:
            extra = () if width == 0 else ("--forks", str(width))
            label = "default" if width == 0 else str(width)
            base = Row(f"checkpointctl drift, --forks {label}", f.n, ok=True)
            s, drift = self.run_checkpointctl(f, *extra, fds=True)
            base.samples.append(s)
            base.ok = drift == want
            base.extra["peak_fds"] = s.peak_fds
            row = Row(f"checkpointctl drift, {per_host} names per host, --forks {label}",
                      names.n, ok=True)  # fmt: skip
            s, drift = self.run_checkpointctl(names, *extra, fds=True)
            row.samples.append(s)
            row.ok = drift == want_names
            if not row.ok:
                wrong = sorted((drift or set()) ^ want_names)[:5]
                say(f"  {names.n} names: wrong results for {wrong}")
            row.extra["peak_fds"] = s.peak_fds
            row.extra["ratio_to_base"] = round(s.wall / base.median, 2)
            row.extra["base_n"] = f.n
            say(
                f"  drift {names.n} names, forks {label}: {s.wall:.1f}s "
                f"({row.extra['ratio_to_base']}× {f.n} hosts: {base.median:.1f}s), "
                f"{s.rss_mib:.0f} MiB, {s.peak_fds} fds"
            )
            self.rows.extend([base, row])

    def measure_version(self, runs: int) -> None:
        row = Row("checkpointctl --version", 0, ok=True)
        for _ in range(runs):
            s = measure.run([self.ctl, "--version"])
            row.samples.append(s)
            row.ok = bool(row.ok and s.rc == 0)
        say(f"  --version: median {row.median * 1000:.0f} ms")
        self.rows.append(row)

    def measure_validate(self, policies: int, hosts: int, runs: int) -> None:
        out = self.work / "validate.json"
        argv = [
            sys.executable,
            str(BENCH / "validate_bench.py"),
            "--policies",
            str(policies),
            "--hosts",
            str(hosts),
            "--runs",
            str(runs),
            "--output",
            str(out),
        ]
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            say(f"validate bench failed: {proc.stdout[-1500:]} {proc.stderr[-1500:]}")
            self.rows.append(Row(f"validate {policies}×{hosts}", hosts, ok=False, walls=[0.0]))
            return
        doc = json.loads(out.read_text())
        w = doc["wall_seconds"]["all"]
        row = Row(f"checkpointctl validate ({policies} policies)", hosts, ok=True, walls=w)
        row.extra["peak_rss_mib"] = doc["peak_rss_mib"]
        say(f"  validate {policies}×{hosts}: {[round(x, 2) for x in w]}")
        self.rows.append(row)


# -- the run --------------------------------------------------------------------------------


@contextlib.contextmanager
def grown_lab(light_needed: int) -> Iterator[int]:
    """Grow the lab to ``light_needed`` light hosts (at most 500) and give back its shape.

    Full hosts are kept as found (none are started for the bench: it uses light hosts only).
    A lab that was not running is left up afterwards (CI ends it with the machine).
    """
    full, light = fl.lab_status()
    target = min(500, max(light, light_needed))
    if target != light:
        say(f"lab: growing to {full} full, {target} light hosts")
        fl.lab_up(full, target)
    try:
        yield target
    finally:
        if light and target != light:
            say(f"lab: back to {full} full, {light} light hosts")
            fl.lab_up(full, light)


def setup_fleet(f: fl.Fleet, total_light: int) -> tuple[fl.Expected, dict[str, str]]:
    """Converge the fleet's writable hosts, read the expected state, drift a few on purpose."""
    hosts = fl.writable(f.hosts, total_light)
    t = time.monotonic()
    fl.converge(f, hosts)
    say(f"setup: converged {len(hosts)} host(s) in {time.monotonic() - t:.0f}s")
    exp = fl.expected_from(hosts[0])
    drifts = fl.drifted_hosts(f.hosts, total_light)
    return exp, drifts


def apply_drifts(drifts: dict[str, str]) -> None:
    for host, kind in drifts.items():
        fl.make_drift(host, kind)
    say(f"setup: drifted on purpose {', '.join(f'{h} ({k})' for h, k in drifts.items())}")


def fmt_table(rows: list[dict[str, Any]]) -> str:
    head = (
        "tool",
        "N",
        "median s",
        "min–max s",
        "peak RSS MiB",
        "× floor (1 session)",
        "hosts' CPU s",
        "correct",
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        ratio = f"{r['ratio_to_floor']:.2f}" if r.get("ratio_to_floor") is not None else "–"
        if r.get("ratio_to_floor3") is not None:
            ratio += f" ({r['ratio_to_floor3']:.2f}× 3 commands)"
        if r.get("ratio_to_cold_cycle") is not None:
            ratio = f"{r['ratio_to_cold_cycle']:.2f}× first cycle"
        if r.get("ratio_to_polling_cycle") is not None:
            ratio = f"{r['ratio_to_polling_cycle']:.3f}× a polling cycle"
        if r.get("ratio_to_cold_drift") is not None:
            ratio = f"{r['ratio_to_cold_drift']:.2f}× cold drift"
            if r.get("ratio_to_cold_cycle") is not None:
                ratio += f" ({r['ratio_to_cold_cycle']:.2f}× first cycle)"
        if r.get("ratio_to_base") is not None:
            ratio = f"{r['ratio_to_base']:.2f}× {r['base_n']} hosts"
        if r.get("peak_fds"):
            ratio += f"; {r['peak_fds']} fds"
        med = r["median_s"]
        spread = f"{r['min_s']:.2f}–{r['max_s']:.2f}"
        if med < 1:
            med_s = f"{med * 1000:.0f} ms"
            spread = f"{r['min_s'] * 1000:.0f}–{r['max_s'] * 1000:.0f} ms"
        else:
            med_s = f"{med:.2f}"
        rss = r.get("peak_rss_mib")
        cpu = r.get("hosts_cpu_s")
        ok = {True: "yes", False: "NO", None: "–"}[r.get("correct")]
        lines.append(
            f"| {r['tool']} | {r['n'] or '–'} | {med_s} | {spread} | "
            f"{rss if rss is not None else '–'} | {ratio} | "
            f"{cpu if cpu is not None else '–'} | {ok} |"
        )
    return "\n".join(lines)


def machine() -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} × {cpu}, {mem:.0f} GiB, Python {platform.python_version()}"


def update_readme(path: Path, block: str) -> None:
    text = path.read_text()
    if TABLE_BEGIN not in text or TABLE_END not in text:
        return
    head, rest = text.split(TABLE_BEGIN, 1)
    _, tail = rest.split(TABLE_END, 1)
    path.write_text(head + TABLE_BEGIN + "\n" + block + "\n" + TABLE_END + tail)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick", action="store_true", help="small N (10), for CI: well under 2 minutes"
    )
    ap.add_argument("--n", default="100,200,500", help="fleet sizes for drift (100,200,500)")
    ap.add_argument("--runs", type=int, default=3, help="runs per figure (3)")
    ap.add_argument("--tools", default="checkpointctl,floor,pyinfra,ansible")
    ap.add_argument(
        "--no-access",
        dest="access",
        action="store_false",
        help="skip the rows with sudo and through a bastion (first N only)",
    )
    ap.add_argument(
        "--floor-tcp-nodelay",
        action="store_true",
        help="give the floor checkpointctl's TCP socket options (TCP_NODELAY, quick ACKs)",
    )
    ap.add_argument(
        "--floor-aead",
        action="store_true",
        help="give the floor checkpointctl's cipher order (AES-GCM first)",
    )
    ap.add_argument(
        "--ansible-n",
        default="100",
        help="fleet sizes at which Ansible runs too (it is slow; default 100)",
    )
    ap.add_argument("--apply-n", default="100", help="fleet sizes for the no-op apply")
    ap.add_argument("--watch-n", default="100", help="fleet sizes for drift --watch")
    ap.add_argument("--watch-cycles", type=int, default=4, help="steady cycles measured")
    ap.add_argument("--listen-n", default="100", help="fleet sizes for the listening watch")
    ap.add_argument(
        "--listen-idle", type=float, default=60.0, help="seconds the listening watch idles"
    )
    ap.add_argument(
        "--rss-n",
        default="",
        help="extra fleet sizes read once by checkpointctl and the floor, without converging "
        "the hosts first (for peak RSS at sizes whose setup would take too long)",
    )
    ap.add_argument(
        "--oci-agents",
        type=int,
        default=500,
        help="pull agents polling an unchanged OCI tag in the lab registry (500; 0: skip)",
    )
    ap.add_argument(
        "--scale",
        default="20x500",
        help="NAMESxHOSTS: drift of NAMES inventory names per light host over HOSTS hosts "
        "(10,000 names by default; 'no' to skip; not in --quick)",
    )
    ap.add_argument(
        "--scale-forks",
        default="0,200",
        help="--forks values for the --scale rows (0: checkpointctl's default)",
    )
    ap.add_argument(
        "--validate", default="1000x1000", help="validate size, POLICIESxHOSTS, or 'no'"
    )
    ap.add_argument(
        "--no-readme", action="store_true", help="do not copy the table into the READMEs"
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.n = "10"
        args.ansible_n = "10"
        args.apply_n = "10"
        args.watch_n = "10"
        args.listen_n = "10"
        args.listen_idle = 10.0
        args.watch_cycles = 2
        args.validate = "100x100"
        args.oci_agents = min(args.oci_agents, 50)
        args.runs = min(args.runs, 2)
        args.no_readme = True
        args.scale = "no"
    return args


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip() and int(x) > 0]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # a TERM (a CI timeout) must still give the lab its shape back: run the finally clauses
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    b = Bench(args)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    sizes = ints(args.n)
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    load_before = os.getloadavg()[0]

    b.measure_version(10 if not args.quick else 5)
    if args.validate != "no":
        p, h = (int(x) for x in args.validate.split("x"))
        b.measure_validate(p, h, args.runs)

    scale_names, scale_hosts = (0, 0)
    if args.scale != "no":
        scale_names, scale_hosts = (int(x) for x in args.scale.split("x"))
    need = max(sizes + ints(args.rss_n) + [scale_hosts]) + fl.FIRST - 1 + fl.SPARE
    with grown_lab(need) as total_light:
        for n in sizes:
            f = fl.make_fleet(n)
            say(f"== N={n}: {f.hosts[0]} .. {f.hosts[-1]}")
            exp, drifts = setup_fleet(f, total_light)
            b.expected_json(exp)
            if n in ints(args.apply_n):
                b.measure_apply(f, args.runs)
            apply_drifts(drifts)
            want = set(drifts)
            # lt-1..3 and the last two light hosts may be anything (other people's tests)
            others = set(f.hosts) - set(fl.writable(f.hosts, total_light))
            if others:
                want |= others  # not converged by the bench: they drift for every tool
            runners: list[tuple[str, Runner]] = []
            if "floor" in tools:
                runners.append((FLOOR_THREE, b.run_floor))
                runners.append((FLOOR_ONE, lambda g: b.run_floor(g, "--one-session")))
            if "checkpointctl" in tools:
                runners.append(("checkpointctl drift", b.run_checkpointctl))
            if "pyinfra" in tools:
                runners.append(("pyinfra", b.run_pyinfra))
            if "ansible" in tools and n in ints(args.ansible_n):
                runners.append(("ansible-playbook", b.run_ansible))
            for row in b.measure_tools(f, runners, args.runs, want):
                if others:
                    row.note = "includes hosts the bench does not converge (counted as drift)"
            if "checkpointctl" in tools and n in ints(args.watch_n):
                b.measure_watch(f, args.watch_cycles, want)
            if "checkpointctl" in tools and n in ints(args.listen_n):
                b.measure_listen(f, args.watch_cycles, args.listen_idle)
            if args.access and n == sizes[0] and {"floor", "checkpointctl"} <= set(tools):
                b.measure_access(f, args.runs, want)

        for n in ints(args.rss_n):
            f = fl.make_fleet(n)
            say(f"== N={n} (RSS only, hosts as they are): {f.hosts[0]} .. {f.hosts[-1]}")
            pair: list[tuple[str, Runner]] = []
            if "floor" in tools:
                pair.append((FLOOR_THREE, b.run_floor))
                pair.append((FLOOR_ONE, lambda g: b.run_floor(g, "--one-session")))
            if "checkpointctl" in tools:
                pair.append(("checkpointctl drift", b.run_checkpointctl))
            rows = b.measure_tools(f, pair, 1, set())
            found = {str(r.extra.get("found")) for r in rows}
            for row in rows:
                row.ok = len(found) == 1 if len(rows) > 1 else None
                row.note = "hosts not converged first (RSS figure); correct = both found the same"

        if args.oci_agents > 0:
            say(f"== pull: {args.oci_agents} agents polling an unchanged tag")
            b.measure_oci_poll(args.oci_agents)

        if scale_hosts:
            f = fl.make_fleet(scale_hosts)
            say(f"== {scale_names} names per host over N={scale_hosts}: {f.hosts[0]} ..")
            exp, drifts = setup_fleet(f, total_light)
            apply_drifts(drifts)
            want = set(drifts) | (set(f.hosts) - set(fl.writable(f.hosts, total_light)))
            forks = [int(x) for x in args.scale_forks.split(",") if x.strip()]
            b.measure_scale(f, scale_names, forks, want)

    # a row's ratio is to the one-session floor where there is one (the direct rows), else to
    # the floor that reaches the hosts its way; the three-command ratio is kept beside it
    floors3 = {(r.n, r.access): r.median for r in b.rows if r.tool.startswith("floor")
               and r.tool != FLOOR_ONE}  # fmt: skip
    floors = {**floors3, **{(r.n, r.access): r.median for r in b.rows if r.tool == FLOOR_ONE}}
    drift_cold = {r.n: r.median for r in b.rows if r.tool == "checkpointctl drift"}
    out_rows = []
    for r in b.rows:
        drift_row = r.n and "watch" not in r.tool and not r.tool.startswith("pull:")
        floor = floors.get((r.n, r.access)) if drift_row else None
        d = r.to_json(floor)
        three = floors3.get((r.n, r.access)) if drift_row else None
        if three and floors.get((r.n, r.access)) != three and r.tool != FLOOR_THREE:
            d["ratio_to_floor3"] = round(r.median / three, 2)
        # the no-op apply and a steady --watch cycle against a cold `drift` of the same fleet in
        # this run ("the cold run" of issue 9). A watch's own first cycle is no longer a cold
        # run: its first --forks hosts log in while the policy loads (transport/headstart.py).
        if r.tool.startswith(("checkpointctl apply", "checkpointctl drift --watch")) and (
            r.n in drift_cold
        ):
            d["ratio_to_cold_drift"] = round(r.median / drift_cold[r.n], 2)
        out_rows.append(d)
    table = fmt_table(out_rows)
    doc = {
        "when": started,
        "machine": machine(),
        "load_average_1m_at_start": round(load_before, 2),
        "command": "bench/run " + " ".join(sys.argv[1:] if argv is None else argv),
        "quick": args.quick,
        "rows": out_rows,
        "table": table,
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"bench-{'quick-' if args.quick else ''}{stamp}.json"
    (RESULTS / name).write_text(json.dumps(doc, indent=2) + "\n")
    shutil.copyfile(
        RESULTS / name, RESULTS / ("latest-quick.json" if args.quick else "latest.json")
    )
    print(table)
    print(
        f"\n{started}; {doc['machine']}; load {load_before:.1f} at start; "
        f"results in {RESULTS / name}"
    )
    if not args.no_readme:
        block = (
            f"Measured {started} on {doc['machine']} (load average {load_before:.1f} at "
            f"start) with `{doc['command'].strip()}`:\n\n{table}"
        )
        for readme in (BENCH / "README.md", fl.REPO / "README.md"):
            update_readme(readme, block)
    bad = [r["tool"] for r in out_rows if r["correct"] is False]
    if bad:
        say(f"WRONG RESULTS from: {', '.join(sorted(set(bad)))}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
