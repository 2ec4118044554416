"""Pull mode on the lab: a host with no inbound access converges from a signed bundle it pulls,
and every kind of bad bundle is refused with its own message, leaving the host as it was.

The agent runs *inside* the light host lt-2 (``lab.exec_argv``): the venv's ``checkpointctl``
is visible there because a lab host shares the machine's filesystem except /run,
/etc/checkpoint and /var/lib/checkpointctl, which are its own. It pulls over HTTPS (a CA and
certificate made here, ``--ca-file``) from a server this module runs on the lab bridge
address 10.213.0.1. The host is checked independently of the agent: ``nft list ruleset``, a
sha256 of every file under /etc/checkpoint and /var/lib/checkpointctl, and TCP connections to
its SSH port. lt-1 serves as "host A" in the credential test.

The policies use their own table name (``cpctlpull``) so the firewall tests, which wipe table
``checkpointctl`` on the light hosts, and this module do not undo each other's work. At the
end the table is deleted and every file the agent created on the hosts is removed.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import http.server
import io
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from trust_env import (
    CHECKPOINTCTL,
    STATE_DIR,
    TABLE,
    TRUST_DIR,
    VAULT_PASSWORD,
    OnHost,
    TrustEnv,
    write_policy,
)

from checkpointctl.cli.main import main
from checkpointctl.errors import TrustError
from checkpointctl.lab import LabInfo
from checkpointctl.trust import vault
from checkpointctl.trust.keys import HostKey, load_public_key
from checkpointctl.trust.seal import unseal
from checkpointctl.trust.verify import host_state, verify_bundle

pytestmark = pytest.mark.lab

HOST = "lt-2"
HOST_A = "lt-1"
BRIDGE = "10.213.0.1"
CREDENTIAL = b"pw-of-host-b-never-for-host-a"


# --- TLS and the bundle server -------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_tls(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA (written to ca.pem for the agent) and a server context for ``BRIDGE``."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("lab bundle CA"))
        .issuer_name(_name("lab bundle CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(BRIDGE))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(BRIDGE))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = directory / "ca.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(directory / "server.pem"), str(directory / "server.key"))
    return ca_path, context


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None


# --- the environment ---------------------------------------------------------------------------


def ssh_open(address: str) -> bool:
    """Whether a new TCP connection to the host's SSH port gets an SSH banner."""
    try:
        with socket.create_connection((address, 22), timeout=3) as conn:
            return conn.recv(4).startswith(b"SSH-")
    except OSError:
        return False


@dataclass(kw_only=True)
class Pull(TrustEnv):
    """Signed bundles for HOST and HOST_A, served over HTTPS from ``base_url``."""

    www: Path
    base_url: str
    ca: Path

    def publish(self, data: bytes, name: str) -> str:
        (self.www / name).write_bytes(data)
        return f"{self.base_url}/{name}"

    # on the host

    def agent(self, host: str, source: str, *extra: str) -> subprocess.CompletedProcess[str]:
        argv = [CHECKPOINTCTL, "agent", "--source", source, "--ca-file", str(self.ca), "--once"]
        return self.on_host(host, [*argv, *extra], check=False, timeout=120)

    def converge(self, policy: str = "keep-ssh") -> int:
        """Bring HOST to a freshly accepted serial of ``policy`` (the baseline of a test)."""
        serial = self.next_serial()
        proc = self.agent(HOST, self.publish(self.build(policy, serial), f"base-{serial}.cpb"))
        assert proc.returncode == 0, proc.stderr
        assert f"{HOST}: " in proc.stdout
        return serial


def _policies(root: Path, port: int) -> None:
    """keep-ssh, keep-ssh-8080 and no-ssh (firewall only) and secrets (a vaulted credential)."""
    egress = {
        "default": "drop",
        "allow": [{"proto": "tcp", "port": port, "to": [f"{BRIDGE}/32"], "comment": "bundles"}],
    }
    management = {"from": ["10.213.0.0/16"]}
    ui = {"proto": "tcp", "port": 8080, "from": ["10.213.0.0/16"], "comment": "probe ui"}
    specs: dict[str, dict[str, object]] = {
        "keep-ssh": {
            "firewall": {
                "table": TABLE,
                "management": management,
                "inbound": {"default": "drop"},
                "outbound": egress,
            }
        },
        "keep-ssh-8080": {
            "firewall": {
                "table": TABLE,
                "management": management,
                "inbound": {"default": "drop", "allow": [ui]},
                "outbound": egress,
            }
        },
        "no-ssh": {
            "firewall": {"table": TABLE, "inbound": {"default": "drop"}, "outbound": egress}
        },
        "secrets": {
            "registries": {"trusted": [{"registry": f"{BRIDGE}:5000", "prefix": "checkpoint/"}]},
            "containers": [
                {
                    "name": "probe",
                    "image": f"{BRIDGE}:5000/checkpoint/probe@sha256:{'ab' * 32}",
                    "user": "10001:10001",
                    "cap_drop": ["ALL"],
                }
            ],
            "credentials": [
                {
                    "name": "shop",
                    "username": "synthetic-monitor",
                    "secret": vault.encrypt(
                        CREDENTIAL,
                        vault.VaultKey.from_password(VAULT_PASSWORD.encode()),
                        "credentials.shop.secret",
                    ),
                    "scope": {
                        "containers": ["probe"],
                        "targets": ["https://shop.example.com/login"],
                    },
                }
            ],
        },
    }
    for name, spec in specs.items():
        write_policy(root, name, spec)


@pytest.fixture(scope="module")
def pull(lab: LabInfo, on_host: OnHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pull]:
    names = {h.name for h in lab.light_hosts}
    if not {HOST, HOST_A} <= names:
        pytest.skip(f"needs the light lab hosts {HOST} and {HOST_A}")
    root = tmp_path_factory.mktemp("trust-agent")
    os.chmod(root, 0o755)  # the agent inside the host reads the CA file from here
    www = root / "www"
    www.mkdir()
    ca, context = make_tls(root)
    handler = functools.partial(QuietHandler, directory=str(www))
    server = http.server.ThreadingHTTPServer((BRIDGE, 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    env = Pull(
        lab=lab, on_host=on_host, root=root, www=www, base_url=f"https://{BRIDGE}:{port}", ca=ca
    )
    for host in (HOST, HOST_A):
        # a pull host has no table of a controller's: one a push test left behind would drop
        # the agent's own fetches (its output chain allows only the policy's destinations)
        on_host(host, ["nft", "delete", "table", "inet", "checkpointctl"], check=False)
    before = {h: env.snapshot(h)[1] for h in (HOST, HOST_A)}
    try:
        env.make_keys()
        _policies(root, port)
        for host in (HOST, HOST_A):
            env.init_agent(host)
        common = {
            "user": "root",
            "identity_file": str(lab.identity_file),
            "known_hosts": str(lab.known_hosts),
        }
        env.write_inventory({h: {"address": lab.host(h).address} for h in (HOST, HOST_A)}, common)
        yield env
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        for host in (HOST, HOST_A):
            env.restore(host, before[host])


# --- acceptance ---------------------------------------------------------------------------------


def test_bundles_are_byte_identical_when_built_twice(pull: Pull) -> None:
    serial = pull.next_serial()
    created = "2026-01-01T00:00:00Z"
    one = pull.build("secrets", serial, "old", "new", created=created)
    two = pull.build("secrets", serial, "old", "new", created=created)
    assert one == two
    assert CREDENTIAL not in one


def test_host_without_inbound_access_converges_from_a_pulled_bundle(pull: Pull) -> None:
    address = pull.lab.host(HOST).address
    assert ssh_open(address), "SSH must answer before the test"
    serial = pull.next_serial()
    url = pull.publish(pull.build("no-ssh", serial), "fleet.cpb")
    try:
        proc = pull.agent(HOST, url)  # no --host: the agent uses the host's own hostname
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == f"{HOST}: converged (bundle serial {serial})"
        ruleset = pull.table(HOST)
        assert "policy drop" in ruleset
        assert "dport 22" not in ruleset  # no management rule at all
        assert not ssh_open(address), "the host must accept no inbound connection"
        status = pull.status(HOST)
        assert (status["result"], status["healthy"]) == ("converged", True)
        assert status["bundle"]["serial"] == serial  # type: ignore[index]
        audit = pull.on_host(HOST, ["cat", f"{STATE_DIR}/audit.jsonl"]).stdout.splitlines()
        last = json.loads(audit[-1])
        assert (last["result"], last["action"]) == ("converged", "apply")
        assert last["policy_revision"].startswith(f"bundle serial {serial} (sha256:")
        # The host still pulls through its own firewall (egress to the server is allowed).
        again = pull.agent(HOST, url)
        assert again.returncode == 0, again.stderr
        assert again.stdout.strip() == f"{HOST}: in-sync (bundle serial {serial})"
        health = pull.on_host(HOST, [CHECKPOINTCTL, "agent", "status"], check=False)
        assert health.returncode == 0
        assert f"{HOST}: in-sync" in health.stdout
    finally:
        # Give SSH back the way an operator would: a newer bundle that allows management.
        pull.converge("keep-ssh")
    assert ssh_open(address)


# --- refusals ------------------------------------------------------------------------------------


def _rewrite(data: bytes, name: str, old: bytes, new: bytes) -> bytes:
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(data), mode="r:") as src,
        tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as dst,
    ):
        for info in src:
            handle = src.extractfile(info)
            body = handle.read() if handle else b""
            if info.name == name:
                assert old in body
                body = body.replace(old, new)
                info.size = len(body)
            dst.addfile(info, io.BytesIO(body))
    return out.getvalue()


@dataclass(frozen=True)
class Case:
    build: Callable[[Pull, int], bytes]
    """(env, the serial the host has accepted) → the bundle to offer."""
    message: str
    agent_args: tuple[str, ...] = ()


def _good(policy: str = "keep-ssh-8080", *keys: str) -> Callable[[Pull, int], bytes]:
    return lambda env, base: env.build(policy, env.next_serial(), *keys)


def _tamper_manifest(env: Pull) -> bytes:
    serial = env.next_serial()
    data = env.build("keep-ssh-8080", serial)
    return _rewrite(data, "manifest.json", f'"serial":{serial}'.encode(), b'"serial":1')


CASES = {
    "tampered-member": Case(
        lambda env, base: _rewrite(
            _good()(env, base),
            f"hosts/{HOST}.json",
            b'"inbound_default":"drop"',
            b'"inbound_default":"accept"',
        ),
        f"bundle member hosts/{HOST}.json does not match the signed manifest",
    ),
    "tampered-manifest": Case(
        lambda env, base: _tamper_manifest(env),
        "the manifest was modified after it was signed",
    ),
    "wrong-key": Case(_good("keep-ssh-8080", "rogue"), "not signed by any trusted key"),
    "revoked-key": Case(_good("keep-ssh-8080", "old"), "signed by revoked key"),
    "below-threshold": Case(
        _good("keep-ssh-8080", "old"), "but 2 are required", ("--threshold", "2")
    ),
    "expired": Case(
        lambda env, base: env.build(
            "keep-ssh-8080", env.next_serial(), created="2020-01-01T00:00:00Z", expires="1d"
        ),
        "expired at 2020-01-02T00:00:00Z",
    ),
    "older-serial": Case(
        lambda env, base: env.build("keep-ssh-8080", base - 1),
        "is older than serial",
    ),
    "same-serial-new-content": Case(
        lambda env, base: env.build("keep-ssh-8080", base),
        "was already accepted with different content",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_bundles_are_refused_and_the_host_is_unchanged(pull: Pull, case: str) -> None:
    spec = CASES[case]
    base = pull.converge("keep-ssh")
    before = pull.snapshot(HOST)
    revocations = pull.root / "revocations.json"
    if case == "revoked-key":
        old_id = load_public_key(pull.pub("old")).key_id
        argv = ["revoke", old_id, "--key", pull.key("new"), "-o", str(revocations)]
        assert main(argv) == 0
        pull.on_host(HOST, ["cp", str(revocations), f"{TRUST_DIR}/revocations.json"])
        before = pull.snapshot(HOST)
    try:
        url = pull.publish(spec.build(pull, base), f"{case}.cpb")
        proc = pull.agent(HOST, url, *spec.agent_args)
        assert proc.returncode == 1, proc.stdout
        assert spec.message in proc.stderr
        assert "checkpointctl: error: refused: " in proc.stderr
        assert pull.snapshot(HOST) == before  # firewall and files exactly as they were
        assert "8080" not in pull.table(HOST)
        status = pull.status(HOST)
        assert (status["result"], status["healthy"]) == ("refused", False)
        assert spec.message in str(status["message"])
        assert status["last_success"]["serial"] == base  # type: ignore[index]
        health = pull.on_host(HOST, [CHECKPOINTCTL, "agent", "status"], check=False)
        assert health.returncode == 1
        assert spec.message in health.stdout
    finally:
        if case == "revoked-key":
            pull.on_host(HOST, ["rm", "-f", f"{TRUST_DIR}/revocations.json"])


# --- secrets ------------------------------------------------------------------------------------


def _host_key(pull: Pull, host: str) -> HostKey:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    pem = pull.on_host(host, ["cat", f"{TRUST_DIR}/host.key"]).stdout.encode()
    key = serialization.load_pem_private_key(pem, None)
    assert isinstance(key, X25519PrivateKey)
    return HostKey(key)


def test_host_a_cannot_decrypt_host_bs_credentials(pull: Pull) -> None:
    data = pull.build("secrets", pull.next_serial())
    assert CREDENTIAL not in data
    url = pull.publish(data, "secrets.cpb")
    key_a, key_b = _host_key(pull, HOST_A), _host_key(pull, HOST)

    # Host A, compromised, pretends to be host B: its own agent refuses, A is unchanged.
    before = pull.snapshot(HOST_A)
    proc = pull.agent(HOST_A, url, "--host", HOST)
    assert proc.returncode == 1
    assert f"secrets are sealed to host key {key_b.key_id}" in proc.stderr
    assert f"this host's key is {key_a.key_id}" in proc.stderr
    assert pull.snapshot(HOST_A) == before

    # And by hand, with A's private key, even lying about the recipient: nothing opens.
    trusted = {k.key_id: k for k in (load_public_key(pull.pub("old")),)}
    bundle = verify_bundle(data, trusted, now=dt.datetime.now(dt.UTC))
    blob = json.loads(bundle.members[f"hosts/{HOST}.json"])["state"]["credentials"][0]["secret"]
    with pytest.raises(TrustError, match="sealed to host key"):
        unseal(blob, key_a, HOST, "credentials[0].secret")
    for host in (HOST, HOST_A):
        with pytest.raises(TrustError, match="does not open with this host's key"):
            unseal({**blob, "to": key_a.key_id}, key_a, host, "credentials[0].secret")
    with pytest.raises(TrustError, match="sealed to host key"):
        host_state(bundle, HOST, key_a)
    # B's own key opens it: the blob is good, A just cannot read it.
    opened = host_state(bundle, HOST, key_b)
    assert opened.credentials[0].secret.reveal() == CREDENTIAL
    assert hashlib.sha256(CREDENTIAL).hexdigest() not in json.dumps(pull.status(HOST_A))


# --- signed push --------------------------------------------------------------------------------


def test_signed_push_over_ssh_is_verified_by_the_host(pull: Pull) -> None:
    pull.converge("keep-ssh")
    serial = pull.next_serial()
    path = pull.root / "push.cpb"
    path.write_bytes(pull.build("keep-ssh-8080", serial))
    push = [
        "push-bundle", str(path), "-i", str(pull.inventory), "--limit", HOST,
        "--remote-command", CHECKPOINTCTL,
    ]  # fmt: skip
    assert main(push) == 0
    assert "dport 8080" in pull.table(HOST)
    assert pull.status(HOST)["bundle"]["serial"] == serial  # type: ignore[index]

    before = pull.snapshot(HOST)
    rogue = pull.root / "rogue.cpb"
    rogue.write_bytes(pull.build("keep-ssh", pull.next_serial(), "rogue"))
    assert main([*push[:1], str(rogue), *push[2:]]) == 1
    assert pull.snapshot(HOST) == before
    assert "dport 8080" in pull.table(HOST)
    assert "not signed by any trusted key" in str(pull.status(HOST)["message"])
