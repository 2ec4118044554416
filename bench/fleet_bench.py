"""Drift of the whole lab: wall time with ``--forks 1`` against ``--forks N``, and peak memory
as the fleet grows.

The lab's light hosts are outside the ``checkpoints`` group, so a small policy selecting
``lab_light`` (the baseline firewall table) is added to a copy of ``policies/``: every host of
the lab then has a desired state and a real plan to read (the full hosts their containers,
files and firewall; the light hosts their nftables ruleset and files).

Each run is a fresh ``checkpointctl drift`` process from this venv, timed by wall clock; its
peak RSS comes from ``wait4``. The lab is used as it is (grow it first with
``checkpointctl lab up --light 200``). Usage::

    .venv/bin/python bench/fleet_bench.py [--forks 1 50] [--runs 1] [--sizes 10 50 200]

Results are printed and written to ``bench/results/fleet.json``. Timings depend on the machine
(and on whatever else it runs): they are figures to read, never to assert on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "fleet.json"
LAB_INVENTORY = Path("/var/lib/checkpointctl-lab/inventory.yml")
VAULT = REPO / "examples" / "lab-vault-password"
LIGHT_POLICY = """\
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata: {name: bench-light}
selector: {groups: [lab_light]}
priority: 10
spec:
  firewall:
    table: checkpointctl
    management:
      ssh_port: 22
      from: ["{{ controller_cidr }}"]
    inbound: {default: drop, allow: []}
    outbound:
      default: drop
      allow:
        - {proto: tcp, port: 443, to: ["{{ results_api_cidr }}"], comment: results upload}
"""


def drift(policies: Path, inventory: Path, forks: int, limit: str | None) -> dict[str, Any]:
    """One ``drift`` process: wall seconds, peak RSS (MiB), exit code, host statuses."""
    argv = [
        sys.executable,
        "-m",
        "checkpointctl",
        "drift",
        str(policies),
        "-i",
        str(inventory),
        "--vault-password-file",
        str(VAULT),
        "--forks",
        str(forks),
        "--format",
        "json",
        "-q",
    ]
    if limit:
        argv += ["--limit", limit]
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out_f, stderr=err_f, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)  # reaps it, with its peak RSS
        seconds = time.monotonic() - started
        code = os.waitstatus_to_exitcode(status)
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read()
    report = json.loads(out) if out.strip() else {}
    return {
        "forks": forks,
        "limit": limit,
        "seconds": round(seconds, 2),
        "max_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "exit_code": code,
        "hosts": len(report.get("hosts", [])),
        "summary": report.get("summary"),
        "stderr_tail": err.decode("utf-8", "replace")[-300:] if code == 1 else "",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forks", type=int, nargs="+", default=[1, 50])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[10, 50, 200],
        help="light-host counts for the memory runs (at the largest --forks)",
    )
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--speed-light",
        type=int,
        default=None,
        metavar="N",
        help="time drift of the full hosts and the first N light hosts only "
        "(default: the whole lab); runs alternate between the --forks values",
    )
    args = parser.parse_args()

    doc = yaml.safe_load(LAB_INVENTORY.read_text())
    light = list(doc["all"]["children"]["lab_light"]["hosts"])
    with tempfile.TemporaryDirectory() as tmp:
        policies = Path(tmp) / "policies"
        shutil.copytree(REPO / "policies", policies)
        (policies / "bench-light.yml").write_text(LIGHT_POLICY)
        results: dict[str, Any] = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "lab": {
                "full": len(doc["all"]["children"]["checkpoints"]["children"]["lab_full"]["hosts"]),
                "light": len(light),
            },
            "speed": [],
            "memory": [],
        }
        speed_limit = None
        if args.speed_light is not None:
            speed_limit = ",".join(["lab_full", *light[: args.speed_light]])
        for _ in range(args.runs):
            for forks in args.forks:  # alternate, so a busy machine slows every setting alike
                run = drift(policies, LAB_INVENTORY, forks, speed_limit)
                results["speed"].append(run)
                what = "whole lab" if speed_limit is None else "full + light hosts"
                print(
                    f"drift {what} ({run['hosts']} hosts) --forks {forks}: "
                    f"{run['seconds']}s, peak RSS {run['max_rss_mib']} MiB, "
                    f"exit {run['exit_code']}",
                    flush=True,
                )
        top = max(args.forks)
        for size in args.sizes:
            if size > len(light):
                continue
            limit = ",".join(light[:size])
            run = drift(policies, LAB_INVENTORY, top, limit)
            results["memory"].append({**run, "limit": f"{size} light hosts"})
            print(
                f"drift {size} light hosts --forks {top}: {run['seconds']}s, "
                f"peak RSS {run['max_rss_mib']} MiB",
                flush=True,
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
