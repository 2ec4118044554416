"""Signed bundles for lab hosts that run the agent: signing keys, policies, each host's trust
store, the bundles themselves, and what the agent did, read back independently of it.

Shared by the pull tests (test_trust_agent.py, which add a bundle server) and the push tests
(test_trust_agent.py's signed push, test_bastion_sudo.py's push through the bastion). The agent
runs *inside* a light host (``on_host``): the venv's ``checkpointctl`` is visible there because
a lab host shares the machine's filesystem except /run, /etc/checkpoint and
/var/lib/checkpointctl, which are its own.

The policies use their own table name (``cpctlpull``) so the firewall tests, which wipe table
``checkpointctl`` on the light hosts, and the trust tests do not undo each other's work.
:meth:`TrustEnv.restore` deletes that table and every file the agent created on a host.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from checkpointctl.cli.main import main
from checkpointctl.lab import LabInfo

OnHost = Callable[..., "subprocess.CompletedProcess[str]"]
HostFiles = dict[str, list[object]]
"""A host's watched files: path → [mode, sha256 of a regular file's content or ""]."""

TABLE = "cpctlpull"
CHECKPOINTCTL = str(Path(sys.executable).with_name("checkpointctl"))
TRUST_DIR = "/etc/checkpoint/trust"
STATE_DIR = "/var/lib/checkpointctl"
WATCHED = ("/etc/checkpoint", STATE_DIR)
VOLATILE = (f"{STATE_DIR}/agent-status.json", f"{STATE_DIR}/agent.lock")
"""Files a refused run may change by design (the status it reports, the lock it takes)."""
PASSPHRASE = "integration passphrase"
VAULT_PASSWORD = "integration vault password"

SNAPSHOT = textwrap.dedent(
    """
    import hashlib, json, os, sys
    out = {}
    for top in sys.argv[1:]:
        for d, dirs, files in os.walk(top):
            for name in dirs + files:
                p = os.path.join(d, name)
                st = os.lstat(p)
                digest = ""
                if os.path.isfile(p) and not os.path.islink(p):
                    with open(p, "rb") as f:
                        digest = hashlib.sha256(f.read()).hexdigest()
                out[p] = [st.st_mode, digest]
    print(json.dumps(out, sort_keys=True))
    """
)


def write_policy(root: Path, name: str, spec: Mapping[str, object]) -> None:
    """``root/policies/NAME/NAME.yml``: a policy for the inventory group ``pull``."""
    doc = {
        "apiVersion": "checkpointctl/v1",
        "kind": "CheckpointPolicy",
        "metadata": {"name": name},
        "selector": {"groups": ["pull"]},
        "spec": spec,
    }
    folder = root / "policies" / name
    folder.mkdir(parents=True)
    (folder / f"{name}.yml").write_text(yaml.safe_dump(doc, sort_keys=False))


@dataclass(kw_only=True)
class TrustEnv:
    """Keys and inputs under ``root``; the hosts' trust stores and agent records on the lab."""

    lab: LabInfo
    on_host: OnHost
    root: Path
    serial: int = field(default_factory=lambda: int(time.time()))
    host_keys: dict[str, str] = field(default_factory=dict)

    # keys and inputs

    @property
    def inventory(self) -> Path:
        return self.root / "inventory.yml"

    def key(self, name: str) -> str:
        return str(self.root / f"{name}.key")

    def pub(self, name: str) -> str:
        return str(self.root / f"{name}.pub")

    def next_serial(self) -> int:
        self.serial += 1
        return self.serial

    def make_keys(self) -> None:
        """Signing keys ``old`` (passphrase-protected), ``new`` and ``rogue``."""
        (self.root / "passphrase").write_text(PASSPHRASE + "\n")
        (self.root / "vault-password").write_text(VAULT_PASSWORD + "\n")
        pp = ["--passphrase-file", str(self.root / "passphrase")]
        assert main(["keygen", "-o", str(self.root / "old"), *pp]) == 0
        assert main(["keygen", "-o", str(self.root / "new"), "--unencrypted"]) == 0
        assert main(["keygen", "-o", str(self.root / "rogue"), "--unencrypted"]) == 0

    def write_inventory(
        self, hosts: Mapping[str, Mapping[str, object]], common: Mapping[str, object]
    ) -> None:
        """Group ``pull``: each host with its own variables and its agent's public key, and
        ``common`` for all. ``pull_mode: true``: these hosts converge themselves, so a policy
        that drops all inbound traffic (no management CIDRs) is allowed for them."""
        members = {h: {**v, "agent_public_key": self.host_keys[h]} for h, v in hosts.items()}
        doc = {
            "all": {
                "vars": dict(common),
                "children": {"pull": {"vars": {"pull_mode": True}, "hosts": members}},
            }
        }
        self.inventory.write_text(yaml.safe_dump(doc, sort_keys=False))

    # bundles

    def build(
        self,
        policy: str,
        serial: int,
        *keys: str,
        created: str | None = None,
        expires: str = "1d",
    ) -> bytes:
        out = self.root / f"build-{policy}-{serial}.cpb"
        argv = [
            "bundle", str(self.root / "policies" / policy), "-i", str(self.inventory),
            "-o", str(out), "--serial", str(serial), "--expires", expires,
            "--passphrase-file", str(self.root / "passphrase"),
            "--vault-password-file", str(self.root / "vault-password"),
        ]  # fmt: skip
        for k in keys or ("old",):
            argv += ["--key", self.key(k)]
        if created:
            argv += ["--created", created]
        assert main(argv) == 0
        return out.read_bytes()

    # on the host

    def init_agent(self, host: str) -> None:
        """The host's trust store, trusting ``old`` and ``new``; its agent key is recorded."""
        init = [CHECKPOINTCTL, "agent", "init", "--trust", self.pub("old")]
        self.on_host(host, [*init, "--trust", self.pub("new")])
        self.host_keys[host] = self.on_host(host, ["cat", f"{TRUST_DIR}/host.pub"]).stdout.strip()

    def snapshot(self, host: str) -> tuple[str, HostFiles]:
        """The host's whole nftables ruleset and every watched file, read independently."""
        ruleset = self.on_host(host, ["nft", "list", "ruleset"]).stdout
        return ruleset, {p: v for p, v in self.files(host).items() if p not in VOLATILE}

    def files(self, host: str) -> HostFiles:
        text = self.on_host(host, [sys.executable, "-c", SNAPSHOT, *WATCHED]).stdout
        files: HostFiles = json.loads(text)
        return files

    def status(self, host: str) -> dict[str, object]:
        text = self.on_host(host, ["cat", f"{STATE_DIR}/agent-status.json"]).stdout
        doc: dict[str, object] = json.loads(text)
        return doc

    def table(self, host: str) -> str:
        proc = self.on_host(host, ["nft", "list", "table", "inet", TABLE], check=False)
        return proc.stdout if proc.returncode == 0 else "<absent>"

    def restore(self, host: str, before: HostFiles) -> None:
        """Delete the policies' table and every watched file that is not in ``before``."""
        self.on_host(host, ["nft", "delete", "table", "inet", TABLE], check=False)
        made = sorted((p for p in self.files(host) if p not in before), reverse=True)
        for path in made:  # deepest first, so directories are empty when reached
            self.on_host(host, ["rm", "-f", "-d", "--", path], check=False)
        for path in VOLATILE:
            self.on_host(host, ["rm", "-f", "--", path], check=False)
