"""Host key checking: fingerprints, known_hosts lines, refusal messages and the two policies.

The fingerprints below were recorded from ``ssh-keygen -lf`` so ours must match what a person
sees when they check a key out of band. The policies are exercised with real paramiko objects
(an ``SSHClient`` that never connects), not mocks.
"""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import paramiko
import pytest

from checkpointctl.errors import HostKeyError
from checkpointctl.transport.hostkeys import (
    OfferedKey,
    RecordUnknownKey,
    RefuseUnknownKey,
    append_known_host,
    changed_key_message,
    fingerprint,
    keyscan_command,
    keyscan_type,
    known_hosts_line,
    known_hosts_name,
    tofu_without_file_message,
    unknown_key_message,
)

# Recorded with: ssh-keygen -t ed25519 / ecdsa, then ssh-keygen -lf KEY.pub
ED25519_B64 = "AAAAC3NzaC1lZDI1NTE5AAAAIH0voOxtzb0q9iBWWrP+enUCLRcDOIBh6yTwcn87bA1R"
ED25519_FP = "SHA256:ozUvQTaVF7QUEVXeYiXdRwy1ZWojMY70zJOR9SBWQeM"
ECDSA_B64 = (
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBMTwZv6wTtzPvR9ArpYhYf93BytivsPjN5wOsjsL"
    "s94uRkM0aZUx9p4bp3hrWHIGM/aMSq/b+AIi7q4nKTbvDDw="
)
ECDSA_FP = "SHA256:h1/nCZC2w3BcZKgDvZWccuu4vK85Nqnpjupqt3/zJ/U"

NEW = OfferedKey("ssh-ed25519", base64.b64decode(ED25519_B64))
OLD = OfferedKey("ecdsa-sha2-nistp256", base64.b64decode(ECDSA_B64))


def ed25519_key() -> paramiko.PKey:
    return paramiko.Ed25519Key(data=base64.b64decode(ED25519_B64))


@pytest.mark.parametrize(("b64", "expected"), [(ED25519_B64, ED25519_FP), (ECDSA_B64, ECDSA_FP)])
def test_fingerprint_matches_ssh_keygen(b64: str, expected: str) -> None:
    assert fingerprint(base64.b64decode(b64)) == expected


def test_offered_key_from_a_paramiko_key() -> None:
    offered = OfferedKey.of(ed25519_key())
    assert offered == NEW
    assert offered.fingerprint == ED25519_FP


@pytest.mark.parametrize(
    ("address", "port", "name"),
    [("10.213.1.1", 22, "10.213.1.1"), ("10.213.1.1", 2222, "[10.213.1.1]:2222")],
)
def test_known_hosts_name(address: str, port: int, name: str) -> None:
    assert known_hosts_name(address, port) == name


@pytest.mark.parametrize(
    ("key_type", "scan"),
    [
        ("ssh-ed25519", "ed25519"),
        ("ecdsa-sha2-nistp384", "ecdsa"),
        ("rsa-sha2-512", "rsa"),
        ("ssh-rsa", "rsa"),
        ("ssh-dss", "dsa"),
    ],
)
def test_keyscan_type(key_type: str, scan: str) -> None:
    assert keyscan_type(key_type) == scan


def test_keyscan_command_names_port_type_and_file() -> None:
    assert (
        keyscan_command("10.213.1.1", 22, "ssh-ed25519", "/lab/known_hosts")
        == "ssh-keyscan -t ed25519 10.213.1.1 >> /lab/known_hosts"
    )
    assert (
        keyscan_command("10.213.1.1", 2222, "ssh-ed25519", "/kh")
        == "ssh-keyscan -p 2222 -t ed25519 10.213.1.1 >> /kh"
    )


def test_known_hosts_line_is_parsed_back_by_paramiko() -> None:
    line = known_hosts_line("10.213.1.1", 2222, NEW.key_type, NEW.blob)
    assert line == f"[10.213.1.1]:2222 ssh-ed25519 {ED25519_B64}\n"
    entry = paramiko.hostkeys.HostKeyEntry.from_line(line.strip())
    assert entry is not None
    assert entry.hostnames == ["[10.213.1.1]:2222"]
    assert entry.key.asbytes() == NEW.blob


def test_unknown_key_message_gives_fingerprint_and_both_remedies() -> None:
    msg = unknown_key_message("cp-1", "10.213.1.1", 22, NEW, ("/lab/known_hosts",))
    assert msg.startswith("cp-1 (10.213.1.1:22): host key not trusted")
    assert f"ssh-ed25519 {ED25519_FP}" in msg
    assert "ssh-keyscan -t ed25519 10.213.1.1 >> /lab/known_hosts" in msg
    assert "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub" in msg
    assert "out of band" in msg
    assert "trust_on_first_use: true" in msg
    assert "--trust-on-first-use" in msg


def test_changed_key_message_names_old_and_new_and_refuses() -> None:
    msg = changed_key_message("cp-1", "10.213.1.1", 22, NEW, OLD, "/lab/known_hosts")
    assert msg.startswith("cp-1 (10.213.1.1:22): host key changed, possible man-in-the-middle")
    assert f"has ecdsa-sha2-nistp256 {ECDSA_FP}" in msg
    assert f"offered ssh-ed25519 {ED25519_FP}" in msg
    assert "known_hosts was not modified" in msg
    assert "ssh-keygen -R 10.213.1.1 -f /lab/known_hosts" in msg


def test_tofu_without_file_message_asks_for_known_hosts() -> None:
    msg = tofu_without_file_message("cp-1", "10.213.1.1", 22)
    assert "known_hosts: PATH" in msg
    assert "~/.ssh/known_hosts" in msg


def test_append_known_host_creates_private_file_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    append_known_host(str(path), "a ssh-ed25519 AAAA\n")
    append_known_host(str(path), "b ssh-ed25519 BBBB\n")
    assert path.read_text() == "a ssh-ed25519 AAAA\nb ssh-ed25519 BBBB\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_refuse_policy_raises_host_key_error_and_records_nothing(tmp_path: Path) -> None:
    client = paramiko.SSHClient()
    policy = RefuseUnknownKey("cp-1", "10.213.1.1", 22, (str(tmp_path / "known_hosts"),))
    with pytest.raises(HostKeyError, match=ED25519_FP):
        policy.missing_host_key(client, "10.213.1.1", ed25519_key())
    assert client.get_host_keys().lookup("10.213.1.1") is None
    assert not (tmp_path / "known_hosts").exists()


def test_record_policy_appends_the_key_and_trusts_it(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("# existing\n")
    client = paramiko.SSHClient()
    RecordUnknownKey("cp-1", "10.213.1.1", 22, (str(known),)).missing_host_key(
        client, "10.213.1.1", ed25519_key()
    )
    assert known.read_text() == f"# existing\n10.213.1.1 ssh-ed25519 {ED25519_B64}\n"
    trusted = client.get_host_keys().lookup("10.213.1.1")
    assert trusted is not None
    assert trusted["ssh-ed25519"].asbytes() == NEW.blob
    # A new client loading the file trusts the key it recorded.
    reloaded = paramiko.SSHClient()
    reloaded.load_system_host_keys(str(known))
    assert reloaded.get_host_keys().lookup("10.213.1.1") is None  # system keys kept apart
    assert paramiko.HostKeys(str(known)).check("10.213.1.1", ed25519_key())
