"""A small policy repository in Git with two commits, for impact and the CI recipe tests.

Commit 1 (``base``): a baseline for every checkpoint, a regional policy pinning the EU probe
image, a host policy for cp-nyc-1 with one outbound rule. Commit 2 (``head``): the EU image
digest is bumped (two hosts) and cp-nyc-1 gets a second outbound rule (one host); cp-sfo-1 does
not change.
"""

from __future__ import annotations

import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64
US = "sha256:" + "c" * 64
REGISTRY = "registry.example.com"
SECRET_OLD = "$CHECKPOINTCTL_VAULT;1;b2xkLWNpcGhlcnRleHQtbmV2ZXItcHJpbnRlZA"
SECRET_NEW = "$CHECKPOINTCTL_VAULT;1;bmV3LWNpcGhlcnRleHQtbmV2ZXItcHJpbnRlZA"

INVENTORY = """\
all:
  vars:
    registry_cidr: 203.0.113.10/32
    controller_cidr: 192.0.2.10/32
  children:
    checkpoints:
      children:
        eu:
          hosts:
            cp-ams-1: {address: 192.0.2.21}
            cp-fra-1: {address: 192.0.2.31}
        us:
          hosts:
            cp-nyc-1: {address: 192.0.2.41}
            cp-sfo-1: {address: 192.0.2.51}
"""

BASELINE = f"""\
# yaml-language-server: $schema=../schemas/policy.v1.json
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata:
  name: baseline
selector:
  groups: [checkpoints]
priority: 10
spec:
  registries:
    trusted:
      - registry: {REGISTRY}
        prefix: checkpoint/
  containers:
    - name: probe
      image: {REGISTRY}/checkpoint/probe@{US}
      user: "10001:10001"
      cap_drop: [ALL]
  firewall:
    management:
      from: ["{{{{ controller_cidr }}}}"]
    outbound:
      default: drop
      allow:
        - {{proto: tcp, port: 443, to: ["{{{{ registry_cidr }}}}"], comment: image registry}}
"""


def region_eu(digest: str) -> str:
    return f"""\
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata:
  name: region-eu
selector:
  groups: [eu]
priority: 20
spec:
  containers:
    - name: probe
      image: {REGISTRY}/checkpoint/probe@{digest}  # EU runs the release candidate
"""


def host_nyc(extra_rule: bool) -> str:
    rule = (
        '        - {proto: tcp, port: 8443, to: ["198.51.100.7/32"], comment: metrics}\n'
        if extra_rule
        else ""
    )
    return f"""\
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata:
  name: host-cp-nyc-1
selector:
  hosts: [cp-nyc-1]
priority: 30
spec:
  firewall:
    outbound:
      allow:
        - {{proto: tcp, port: 443, to: ["203.0.113.10/32"], comment: image registry}}
{rule}"""


@dataclass(frozen=True)
class Repo:
    root: Path
    base: str
    head: str


def git(root: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"git {args}: {proc.stderr}"
    return proc.stdout.strip()


def isolate_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """No user or system git configuration; a fixed identity for commits."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{var}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{var}_EMAIL", "test@example.com")
        monkeypatch.setenv(f"GIT_{var}_DATE", "2026-06-01T12:00:00Z")


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


def make_repo(root: Path, *, published_schema: str | None = None) -> Repo:
    """The two-commit repository under ``root`` (branch ``main``; ``base`` names commit 1)."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    write(root, "inventories/fleet.yml", INVENTORY)
    write(root, "policies/baseline.yml", BASELINE)
    write(root, "policies/region-eu.yml", region_eu(OLD))
    write(root, "policies/host-cp-nyc-1.yml", host_nyc(False))
    if published_schema is not None:
        write(root, "schemas/policy.v1.json", published_schema)
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "baseline")
    base = git(root, "rev-parse", "HEAD")
    git(root, "branch", "base")
    write(root, "policies/region-eu.yml", region_eu(NEW))
    write(root, "policies/host-cp-nyc-1.yml", host_nyc(True))
    git(root, "commit", "-q", "-am", "eu: new probe digest; cp-nyc-1: metrics egress")
    return Repo(root, base, git(root, "rev-parse", "HEAD"))
