"""Regenerate the recorded nft outputs the parser tests read (run as root, by hand).

    .venv/bin/python tests/unit/resources/firewall/record.py            # scratch recordings
    .venv/bin/python tests/unit/resources/firewall/record.py --lab cp-1  # + Docker's, from the lab

Each recording is made in a throwaway network namespace (``unshare -n``): the machine's own
ruleset is never read or changed. ``--lab HOST`` runs a container with a published port on a lab
host for a moment, records the host's ruleset and removes the container again.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).parent
RECORDED = HERE / "recorded"


def record_scratch(
    name: str, script: str | None, commands: list[tuple[str, list[str]]], text: bool
) -> None:
    """Load ``script`` and run ``commands`` in a fresh network namespace; save the listings."""
    tmp = RECORDED / f".{name}.nft"
    if script is not None:
        tmp.write_text(script)
    steps: list[list[str]] = []
    if script is not None:
        steps.append(["nft", "-f", str(tmp)])
    steps += [[tool, *args] for tool, args in commands]
    steps.append(["nft", "-j", "list", "ruleset"])
    if text:
        steps.append(["nft", "-a", "list", "ruleset"])
    # One namespace for all steps: a tiny driver re-executes python inside `unshare -n`.
    out = subprocess.run(
        ["unshare", "-n", sys.executable, __file__, "--inner", yaml.safe_dump(steps)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    tmp.unlink(missing_ok=True)
    parts = out.split("\0")
    (RECORDED / f"{name}.json").write_text(parts[0].strip() + "\n")
    if text:
        (RECORDED / f"{name}.txt").write_text(parts[1])
    print(f"recorded {name}")


def inner(steps_yaml: str) -> None:
    """Run inside the scratch namespace: every step, printing the listings NUL-separated."""
    listings = []
    for step in yaml.safe_load(steps_yaml):
        result = subprocess.run(step, check=True, capture_output=True, text=True)
        if step[0] == "nft" and "list" in step:
            listings.append(result.stdout)
    sys.stdout.write("\0".join(listings))


def record_all() -> None:
    sources = yaml.safe_load((RECORDED / "sources.yaml").read_text())
    for golden in sorted((HERE / "golden").glob("*.nft")):
        record_scratch(f"golden-{golden.stem}", golden.read_text(), [], False)
    for name, src in sources.items():
        if name == "lab":
            continue
        script = (HERE / src["load"]).read_text() if "load" in src else None
        if script is not None and "replace" in src:
            old, new = src["replace"]
            assert old in script, (name, old)
            script = script.replace(old, new)
        if script is not None and "swap_lines" in src:
            a, b = src["swap_lines"]
            lines = script.splitlines(keepends=True)
            ia = next(i for i, x in enumerate(lines) if x.strip() == a)
            ib = next(i for i, x in enumerate(lines) if x.strip() == b)
            lines[ia], lines[ib] = lines[ib], lines[ia]
            script = "".join(lines)
        commands = [("nft", list(map(str, c))) for c in src.get("nft", [])]
        commands += [("iptables-nft", list(map(str, c))) for c in src.get("iptables", [])]
        record_scratch(name, script, commands, bool(src.get("text")))


def record_lab(host: str) -> None:
    """Docker's real rules for a published port, from a lab host (container removed after)."""
    from checkpointctl.lab import exec_argv

    images = yaml.safe_load(Path("/var/lib/checkpointctl-lab/images.json").read_text())
    image = next(i["pinned"] for i in images["images"] if i["key"] == "checkpoint_image")
    prefix = exec_argv(host)
    docker = [*prefix, "docker", "-H", "unix:///run/docker.sock"]
    name = "cpctl-fwtest-publish"
    subprocess.run([*docker, "rm", "-f", name], capture_output=True, check=False)
    subprocess.run(
        [*docker, "run", "-d", "--name", name, "-p", "18080:80", image, "sleep", "300"],
        check=True,
        capture_output=True,
    )
    try:
        js = subprocess.run(
            [*prefix, "nft", "-j", "list", "ruleset"], check=True, capture_output=True, text=True
        ).stdout
        txt = subprocess.run(
            [*prefix, "nft", "-a", "list", "ruleset"], check=True, capture_output=True, text=True
        ).stdout
    finally:
        subprocess.run([*docker, "rm", "-f", name], capture_output=True, check=False)
    (RECORDED / "lab-cp1-docker-published.json").write_text(js.strip() + "\n")
    (RECORDED / "lab-cp1-docker-published.txt").write_text(txt)
    print(f"recorded lab-cp1-docker-published from {host}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--inner")
    parser.add_argument("--lab")
    args = parser.parse_args()
    if args.inner is not None:
        inner(args.inner)
        return
    record_all()
    if args.lab:
        record_lab(args.lab)


if __name__ == "__main__":
    main()
