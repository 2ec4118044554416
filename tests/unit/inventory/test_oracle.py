"""Differential test: checkpointctl reads every corpus inventory as ``ansible-inventory --list``.

ansible-core (GPL-3) is the oracle: it lives in a venv of its own
(``tests/oracle/setup-ansible-oracle``, run by ``scripts/setup``; this module runs it if the
venv is missing, and skips with the reason if it cannot be installed), is run as a separate
process (``tests/oracle/ansible_inventory_oracle.py``), and is never imported here or by the
package.

Each case in ``corpus/`` is a folder with ``case.yml``: ``sources`` (the ``-i`` in order; none:
the config's ``inventory``), optionally ``playbook_dir``, ``vault: true`` (use the corpus vault
passwords; ``vault: config``: the case's config names them, for both), ``ansible_cfg`` (an
Ansible config file in the case, given to both as ``ANSIBLE_CONFIG``), ``env`` (more
environment variables for both, e.g. ``ANSIBLE_HASH_BEHAVIOUR``) and ``error`` (both must
refuse it; ours must say this). Same hosts, same groups (direct hosts and children, in
order), same variables for every host.

What we normalise, and why (everything else must be equal as printed):

- vaulted values: ansible-inventory prints their ciphertext; the oracle runner decrypts it
  with ansible's own VaultLib, and our secrets are revealed here, so plaintexts are compared.
  (A decryption bug on either side shows up; so does a value we failed to make a secret: see
  ``test_vaulted_values_are_secrets``.)
- ``{"__ansible_unsafe": x}``: ansible marks values it will not template; we never template
  inventory values, so the mark has no meaning here and ``x`` is compared.
- ``_meta.profile``: ansible-core 2.19 names its JSON profile there; not inventory data.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from checkpointctl.errors import InventoryError
from checkpointctl.inventory import load_inventory
from checkpointctl.inventory.ansible_vault import VaultPasswords, passwords_from
from checkpointctl.inventory.ansiblecfg import read_ansible_config
from checkpointctl.inventory.listing import listing
from checkpointctl.model import JSONValue, Secret

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
REPO = HERE.parents[2]
ORACLE = REPO / "tests" / "oracle"
VENV = Path(os.environ.get("ANSIBLE_ORACLE_VENV", "/tmp/ansible-oracle-venv"))
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "case.yml").is_file())
PASSWORDS: list[tuple[str | None, str]] = [
    ("prod", (CORPUS / "vault-password-prod").read_text().strip()),
    (None, (CORPUS / "vault-password").read_text().strip()),
]


def _case(name: str) -> dict[str, object]:
    data = yaml.safe_load((CORPUS / name / "case.yml").read_text())
    assert isinstance(data, dict)
    return data


def _reveal(secret: Secret) -> JSONValue:
    return secret.reveal().decode()


def _unwrap(value: object) -> object:
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return _unwrap(value["__ansible_unsafe"])
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


def _case_env(name: str, case: dict[str, object]) -> dict[str, str]:
    """The environment variables a case adds: its ``env`` and its ``ansible_cfg``."""
    extra = case.get("env") or {}
    assert isinstance(extra, dict)
    env = {str(k): str(v) for k, v in extra.items()}
    if case.get("ansible_cfg"):
        env["ANSIBLE_CONFIG"] = str(CORPUS / name / str(case["ansible_cfg"]))
    return env


def _ansible_args(case: dict[str, object]) -> list[str]:
    args: list[str] = []
    for source in case["sources"]:  # type: ignore[attr-defined]
        args += ["-i", str(source)]
    if case.get("playbook_dir"):
        args += ["--playbook-dir", str(case["playbook_dir"])]
    if case.get("vault") is True:
        args += ["--vault-id", f"prod@{CORPUS / 'vault-password-prod'}"]
        args += ["--vault-id", f"default@{CORPUS / 'vault-password'}"]
    return [*args, "--list"]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home folder with an empty Ansible config: no machine or user configuration."""
    folder = tmp_path_factory.mktemp("ansible-home")
    (folder / "ansible.cfg").write_text("")
    return folder


def _base_env(home: Path) -> dict[str, str]:
    """What both sides read the configuration from when a case names none."""
    return {"HOME": str(home), "ANSIBLE_CONFIG": str(home / "ansible.cfg")}


@pytest.fixture(scope="module")
def oracle(home: Path) -> dict[str, dict[str, object]]:
    """ansible-inventory's answer for every case (one oracle process for all of them)."""
    if not (VENV / "bin" / "ansible-inventory").exists():
        setup = subprocess.run(
            [str(ORACLE / "setup-ansible-oracle")],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env={**os.environ, "ANSIBLE_ORACLE_VENV": str(VENV)},
        )
        if setup.returncode != 0:
            pytest.skip(f"ansible-core (the test oracle) could not be installed: {setup.stderr}")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **_base_env(home),
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",  # a source it cannot read fails the run
        "ANSIBLE_NOCOLOR": "1",
        "PYTHONWARNINGS": "ignore",
        "LC_ALL": "C.UTF-8",
    }
    jobs = []
    for name in CASES:
        case = _case(name)
        jobs.append(
            {
                "cwd": str(CORPUS / name),
                "args": _ansible_args(case),
                "passwords": [[label, pw] for label, pw in PASSWORDS] if case.get("vault") else [],
                "env": _case_env(name, case),
            }
        )
    done = subprocess.run(
        [str(VENV / "bin" / "python"), str(ORACLE / "ansible_inventory_oracle.py")],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
        env=env,
    )
    answers = json.loads(done.stdout)
    return dict(zip(CASES, answers, strict=True))


def _ours(name: str, case: dict[str, object], base_env: dict[str, str]) -> dict[str, JSONValue]:
    folder = CORPUS / name
    config = read_ansible_config({**base_env, **_case_env(name, case)}, folder)
    config.check(strict=False)
    given = [str(folder / s) for s in case["sources"]]  # type: ignore[attr-defined]
    sources = given or list(config.inventory)
    playbook = folder / str(case["playbook_dir"]) if case.get("playbook_dir") else None
    passwords = VaultPasswords(
        [(label, (lambda pw=pw: pw.encode())) for label, pw in PASSWORDS]
        if case.get("vault") is True
        else []
    )
    if case.get("vault") == "config":
        passwords = passwords_from(None, config=config.vault)
    inventory = load_inventory(
        sources, passwords=passwords, playbook_dir=playbook, strict=False, config=config
    )
    return listing(inventory, _reveal)


def test_the_corpus_is_big_enough() -> None:
    assert len(CASES) >= 20
    hostile = [c for c in CASES if "hostile" in c]
    assert len(hostile) >= 4


@pytest.mark.parametrize("name", CASES)
def test_same_hosts_groups_and_variables_as_ansible_inventory(
    name: str, oracle: dict[str, dict[str, object]], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = _case(name)
    monkeypatch.chdir(CORPUS / name)  # where the oracle ran: relative vault-id paths
    theirs = oracle[name]
    if case.get("error"):
        assert theirs["rc"] != 0, f"ansible-inventory accepted {name}, which we refuse"
        with pytest.raises(InventoryError, match=str(case["error"])):
            _ours(name, case, _base_env(home))
        return
    assert theirs["rc"] == 0, theirs["stderr"]
    expected = _unwrap(theirs["list"])
    assert isinstance(expected, dict)
    expected["_meta"].pop("profile", None)
    assert _ours(name, case, _base_env(home)) == expected
