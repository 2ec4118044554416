"""How long ``checkpointctl validate`` takes on a big repository: 1,000 policies × 1,000 hosts.

The acceptance of the foundation issue is "a few seconds". The generated repository looks like a
real fleet's: hosts grouped by region under ``checkpoints``, a templated baseline (image, region,
host name, controller and registry addresses from inventory variables), one regional override
per region selected by group and label, and per-customer policies selected by a label, each
adding its own probe container with a few templated values. Every generated file is valid, so
the run exercises the whole pipeline (parse, schema, templating, layering, lint, build) and the
script checks that ``validate`` says so.

Each run is a fresh ``checkpointctl`` process from this venv, timed by wall clock; its peak RSS
comes from ``wait4``. Usage::

    .venv/bin/python bench/validate_bench.py [--policies 1000] [--hosts 1000] [--runs 5]

Results are printed and written to ``bench/results/validate.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REGIONS = (
    "eu-west",
    "eu-central",
    "eu-north",
    "us-east",
    "us-west",
    "us-central",
    "ap-south",
    "ap-east",
    "sa-east",
    "af-south",
)
DIGEST = "sha256:" + "3f1b8c0e6d9a4b2f" * 4
RESULTS = Path(__file__).resolve().parent / "results" / "validate.json"


def _customer(i: int) -> str:
    return f"c{i:04d}"


def make_inventory(n_hosts: int, n_customers: int) -> dict[str, Any]:
    """An Ansible-layout inventory: ``checkpoints`` → one child group per region → hosts."""
    regions: dict[str, Any] = {}
    for i in range(n_hosts):
        region = REGIONS[i % len(REGIONS)]
        group = regions.setdefault(
            region.replace("-", "_"),
            {"vars": {"region": region, "controller_cidr": f"10.{i % 200}.0.10/32"}, "hosts": {}},
        )
        name = f"cp-{region}-{i // len(REGIONS) + 1:04d}"
        group["hosts"][name] = {
            "address": f"10.{100 + i // 250}.{i % 250}.{1 + i % 7}",
            "labels": {
                "customer": _customer(i % n_customers),
                "tier": "gold" if i % 5 == 0 else "standard",
            },
        }
    return {
        "all": {
            "vars": {
                "user": "checkpointctl",
                "trusted_registry": "registry.example.com",
                "checkpoint_image": f"registry.example.com/checkpoint/probe@{DIGEST}",
                "registry_cidr": "203.0.113.10/32",
                "registry_port": 443,
                "results_api_cidr": "198.51.100.0/28",
            },
            "children": {"checkpoints": {"children": regions}},
        }
    }


def baseline() -> dict[str, Any]:
    return {
        "apiVersion": "checkpointctl/v1",
        "kind": "CheckpointPolicy",
        "metadata": {"name": "baseline", "description": "hardened defaults"},
        "selector": {"groups": ["checkpoints"]},
        "priority": 10,
        "spec": {
            "registries": {
                "trusted": [{"registry": "{{ trusted_registry }}", "prefix": "checkpoint/"}]
            },
            "containers": [
                {
                    "name": "probe",
                    "image": "{{ checkpoint_image }}",
                    "user": "10001:10001",
                    "read_only": True,
                    "cap_drop": ["ALL"],
                    "no_new_privileges": True,
                    "ports": [],
                    "tmpfs": ["/tmp"],
                    "resources": {"memory": "256m", "cpus": 0.5, "pids": 128},
                    "env": {
                        "CHECKPOINT_REGION": "{{ region }}",
                        "CHECKPOINT_NAME": "{{ inventory_hostname }}",
                    },
                    "labels": {"io.checkpointctl.role": "probe"},
                }
            ],
            "firewall": {
                "management": {"ssh_port": 22, "from": ["{{ controller_cidr }}"]},
                "inbound": {"default": "drop", "allow": []},
                "outbound": {
                    "default": "drop",
                    "allow": [
                        {
                            "proto": "tcp",
                            "port": "{{ registry_port | int }}",
                            "to": ["{{ registry_cidr }}"],
                            "comment": "image registry",
                        },
                        {
                            "proto": "tcp",
                            "port": 443,
                            "to": ["{{ results_api_cidr }}"],
                            "comment": "results upload",
                        },
                    ],
                },
            },
            "data_collection": {"profile": "minimal"},
            "updates": {"strategy": "gitops"},
            "health": {"require_healthy": True, "timeout": "60s"},
        },
    }


def regional(region: str) -> dict[str, Any]:
    us = region.startswith("us-")
    return {
        "apiVersion": "checkpointctl/v1",
        "kind": "CheckpointPolicy",
        "metadata": {"name": f"region-{region}"},
        "selector": {"groups": [region.replace("-", "_")], "labels": {"region": region}},
        "priority": 20,
        "spec": {
            "data_collection": {"profile": "minimal", "screenshots": us, "console_logs": us},
            "containers": [{"name": "probe", "resources": {"memory": "384m"}}],
        },
    }


def customer(i: int) -> dict[str, Any]:
    cust = _customer(i)
    return {
        "apiVersion": "checkpointctl/v1",
        "kind": "CheckpointPolicy",
        "metadata": {"name": f"customer-{cust}", "owner": f"team-{i % 17}"},
        "selector": {"groups": ["checkpoints"], "labels": {"customer": cust}},
        "priority": 30,
        "spec": {
            "containers": [
                {
                    "name": f"probe-{cust}",
                    "image": f"registry.example.com/checkpoint/journey-{i % 13}@{DIGEST}",
                    "user": "10002:10002",
                    "read_only": True,
                    "cap_drop": ["ALL"],
                    "ports": [],
                    "command": ["run-journeys", "--customer", cust],
                    "env": {
                        "CUSTOMER": cust,
                        "REGION": "{{ region }}",
                        "TIER": "{{ labels.tier }}",
                    },
                    "resources": {"memory": "128m", "pids": 64},
                    "restart": "unless-stopped",
                }
            ]
        },
    }


def generate(root: Path, n_policies: int, n_hosts: int) -> tuple[Path, Path]:
    """Write the policies and the inventory under ``root``; returns (policies dir, inventory)."""
    n_customers = max(1, n_policies - 1 - len(REGIONS))
    pdir = root / "policies"
    pdir.mkdir(parents=True, exist_ok=True)
    for old in pdir.glob("*.yml"):  # --keep DIR may hold an earlier, different run
        old.unlink()
    docs = [baseline(), *(regional(r) for r in REGIONS)]
    docs += [customer(i) for i in range(n_policies - len(docs))]
    for doc in docs:
        name = doc["metadata"]["name"]
        (pdir / f"{name}.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    inv = root / "inventory.yml"
    inv.write_text(yaml.safe_dump(make_inventory(n_hosts, n_customers), sort_keys=False))
    return pdir, inv


def checkpointctl() -> str:
    exe = Path(sys.executable).parent / "checkpointctl"
    if not exe.exists():
        sys.exit(f"no checkpointctl next to {sys.executable}: run scripts/setup first")
    return str(exe)


def run_once(argv: list[str], errfile: Path) -> tuple[float, float, int, int, str]:
    """(wall seconds, CPU seconds, peak RSS in KiB, exit code, stdout) of one process."""
    with errfile.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err)
        out = proc.stdout.read() if proc.stdout else b""
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.stdout:
        proc.stdout.close()
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, int(usage.ru_maxrss), proc.returncode, out.decode().strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policies", type=int, default=1000)
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", metavar="DIR", help="generate into DIR and keep it")
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    load_before = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="cp-bench-") as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        pdir, inv = generate(root, args.policies, args.hosts)
        cmd = [checkpointctl(), "validate", str(pdir), "-i", str(inv)]
        print(f"$ {' '.join(cmd)}")
        walls: list[float] = []
        cpus: list[float] = []
        rss: list[int] = []
        for i in range(args.runs):
            wall, cpu, peak, code, out = run_once(cmd, root / "stderr.txt")
            if code != 0:
                sys.stderr.write((root / "stderr.txt").read_text()[-4000:])
                print(f"run {i + 1}: validate exited {code}; the generated data should be valid")
                return 1
            walls.append(wall)
            cpus.append(cpu)
            rss.append(peak)
            print(
                f"run {i + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU, "
                f"peak RSS {peak / 1024:.0f} MiB ({out})"
            )

    children_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = {
        "benchmark": "validate",
        "policies": args.policies,
        "hosts": args.hosts,
        "runs": args.runs,
        "wall_seconds": {
            "median": round(statistics.median(walls), 3),
            "min": round(min(walls), 3),
            "max": round(max(walls), 3),
            "all": [round(w, 3) for w in walls],
        },
        "cpu_seconds": {
            "median": round(statistics.median(cpus), 3),
            "min": round(min(cpus), 3),
            "max": round(max(cpus), 3),
        },
        "peak_rss_mib": round(max(rss) / 1024, 1),
        "children_peak_rss_mib": round(children_peak / 1024, 1),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1m": {"before": load_before, "after": round(os.getloadavg()[0], 2)},
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"validate {args.policies} policies × {args.hosts} hosts: "
        f"median {statistics.median(walls):.2f} s "
        f"(min {min(walls):.2f}, max {max(walls):.2f}) over {args.runs} runs, "
        f"CPU median {statistics.median(cpus):.2f} s; "
        f"peak RSS {result['peak_rss_mib']} MiB; load {load_before} → {args.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
