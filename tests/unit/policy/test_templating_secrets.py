"""An Ansible-vaulted inventory variable in a policy template stays a Secret.

``"{{ token }}"`` as a whole value gives the Secret itself, and only fields that hold secrets
take one; any use that would turn it into text is refused (it would otherwise leak, or
silently become the string ``<sensitive>``). Render caches tell secrets apart by digest.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checkpointctl.inventory import load_inventory
from checkpointctl.inventory.ansible_vault import VaultPasswords
from checkpointctl.model import Secret
from checkpointctl.policy import load_desired
from checkpointctl.yamlsource import TaggedScalar, load_file

CORPUS = Path(__file__).resolve().parents[1] / "inventory" / "corpus"
PASSWORDS = VaultPasswords([(None, lambda: b"corpus-password"), ("prod", lambda: b"prod-password")])


def _vaulted(name: str) -> str:
    doc = load_file(CORPUS / "13-vault-values" / "hosts.yml", frozenset({"!vault"}))[0]
    db1 = doc.data["all"]["children"]["db"]["hosts"]["db1"]
    value = db1[name]
    assert isinstance(value, TaggedScalar)
    return value.text


def _inventory(tmp_path: Path) -> Path:
    """Two hosts, each with its own vaulted token (p@ss:w0rd! and prod-only-secret)."""
    lines = ["all:", "  hosts:"]
    for host, name in (("cp-1", "db_password"), ("cp-2", "prod_key")):
        lines += [f"    {host}:", "      token: !vault |"]
        lines += ["        " + line for line in _vaulted(name).splitlines()]
    path = tmp_path / "inv.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _policy(tmp_path: Path, credential: str, env: str = "") -> Path:
    path = tmp_path / "policies" / "p.yml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        f"""\
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata: {{name: p}}
spec:
  registries:
    trusted: [{{registry: registry.example.com, prefix: checkpoint/}}]
  containers:
    - name: probe
      image: registry.example.com/checkpoint/probe@sha256:{"a" * 64}
      user: "10001:10001"
      read_only: true
      cap_drop: [ALL]
      no_new_privileges: true
      resources: {{memory: 256m, cpus: 0.5, pids: 128}}
      env: {{TOKEN: "{env or "{{ token }}"}"}}
  credentials:
    - name: shop
      username: monitor
      secret: "{credential}"
      scope: {{containers: [probe], targets: ["https://shop.example.com/*"], permissions: [read]}}
      expires: "2099-01-01"
"""
    )
    return path


def test_a_whole_vaulted_variable_fills_secret_fields_per_host(tmp_path: Path) -> None:
    inv = load_inventory(str(_inventory(tmp_path)), passwords=PASSWORDS)
    result = load_desired([str(_policy(tmp_path, "{{ token }}"))], inv)
    assert not result.errors, [str(e) for e in result.errors]
    one, two = result.states["cp-1"], result.states["cp-2"]
    assert one.credentials[0].secret == Secret("p@ss:w0rd!")
    assert two.credentials[0].secret == Secret("prod-only-secret")  # not cp-1's cached one
    env = dict(one.containers[0].env)
    assert env["TOKEN"] == Secret("p@ss:w0rd!")


@pytest.mark.parametrize(
    ("credential", "env", "message"),
    [
        ("Bearer {{ token }}", "", "only be a whole value"),
        ("{{ token | upper }}", "", "only be a whole value"),
        ("{{ token }}", "x-{{ token }}", "only be a whole value"),
    ],
)
def test_a_vaulted_variable_inside_text_is_refused(
    tmp_path: Path, credential: str, env: str, message: str
) -> None:
    inv = load_inventory(str(_inventory(tmp_path)), passwords=PASSWORDS)
    result = load_desired([str(_policy(tmp_path, credential, env))], inv)
    texts = [str(e) for e in result.errors]
    assert any(message in t for t in texts), texts
    assert not any("p@ss:w0rd!" in t or "<sensitive>" in t.split(":")[-1] for t in texts)


def test_a_vaulted_variable_cannot_fill_a_plain_field(tmp_path: Path) -> None:
    inv = load_inventory(str(_inventory(tmp_path)), passwords=PASSWORDS)
    path = _policy(tmp_path, "{{ token }}")
    path.write_text(path.read_text().replace("username: monitor", 'username: "{{ token }}"'))
    result = load_desired([str(path)], inv)
    texts = [str(e) for e in result.errors]
    assert any("spec.credentials[0].username" in t and "secret field" in t for t in texts), texts
