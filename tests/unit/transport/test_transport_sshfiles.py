"""The once-per-run parse of known_hosts and the identity key: reused while the file is the same,
re-read as soon as it changes (a trust-on-first-use write must be seen by the next connection)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import paramiko
import pytest

from checkpointctl.transport.ssh.keys import load_identities
from checkpointctl.transport.sshfiles import (
    FileCache,
    add_known_keys,
    encrypted_key_file,
    identity_key,
    load_known_hosts,
)


def _keygen(path: Path, passphrase: str = "") -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(path)], check=True
    )


def _line(name: str, key_file: Path) -> str:
    kind, b64 = Path(f"{key_file}.pub").read_text().split()[:2]
    return f"{name} {kind} {b64}\n"


def test_known_keys_are_those_of_the_host_and_follow_file_changes(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        _keygen(tmp_path / name)
    path = tmp_path / "known_hosts"
    path.write_text(_line("[10.0.0.1]:2222", tmp_path / "a") + _line("10.0.0.2", tmp_path / "b"))
    client = paramiko.SSHClient()
    add_known_keys(client, (str(path),), "[10.0.0.1]:2222")
    got = client.get_host_keys().lookup("[10.0.0.1]:2222")
    assert got is not None
    assert got["ssh-ed25519"].get_base64() == _line("x", tmp_path / "a").split()[2]
    assert client.get_host_keys().lookup("10.0.0.2") is None  # only this host's keys

    # a line appended (what trust on first use does) is seen by the next connection
    with path.open("a") as f:
        f.write(_line("10.0.0.3", tmp_path / "c"))
    later = paramiko.SSHClient()
    add_known_keys(later, (str(path),), "10.0.0.3")
    got = later.get_host_keys().lookup("10.0.0.3")
    assert got is not None
    assert got["ssh-ed25519"].get_base64() == _line("x", tmp_path / "c").split()[2]


def test_the_file_is_parsed_once_while_it_stays_the_same(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("one")
    loads: list[str] = []

    def load(p: str) -> str:
        loads.append(p)
        return Path(p).read_text()

    cache: FileCache[str] = FileCache(load)
    assert [cache.get(str(path)) for _ in range(5)] == ["one"] * 5
    assert len(loads) == 1
    path.write_text("two!")
    assert cache.get(str(path)) == "two!"
    assert len(loads) == 2


def test_identity_key_is_parsed_or_left_to_paramiko(tmp_path: Path) -> None:
    _keygen(tmp_path / "id")
    got = identity_key(str(tmp_path / "id"))
    assert got is not None
    assert got.get_base64() == _line("x", tmp_path / "id").split()[2]

    garbage = tmp_path / "garbage"
    garbage.write_text("not a key")
    assert identity_key(str(garbage)) is None  # paramiko then reports it as it always did

    _keygen(tmp_path / "locked", passphrase="a passphrase")
    # ssh-keygen's default format (OpenSSH, bcrypt + aes256-ctr): named encrypted, so the
    # caller opens it with the passphrase instead of leaving it to paramiko without one
    assert encrypted_key_file(str(tmp_path / "locked"))
    assert not encrypted_key_file(str(tmp_path / "id"))
    with pytest.raises(paramiko.PasswordRequiredException):
        identity_key(str(tmp_path / "locked"))
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("a passphrase\n")
    opened = load_identities((str(tmp_path / "locked"),), str(passphrase), False, "cp-1")
    assert [k.get_base64() for k in opened.keys] == [_line("x", tmp_path / "locked").split()[2]]


def test_indexed_lookup_answers_as_paramiko_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain names, hashed names (``HashKnownHosts``), several names on a line, two lines of
    one key type for a name (the first wins) and a name listed nowhere: the index gives what
    paramiko's own ``lookup`` gives."""
    for name in ("a", "b", "c", "d"):
        _keygen(tmp_path / name)
    hashed = paramiko.HostKeys.hash_host("10.0.0.7")
    path = tmp_path / "known_hosts"
    path.write_text(
        _line("10.0.0.1,[10.0.0.1]:2222", tmp_path / "a")
        + _line(hashed, tmp_path / "b")
        + _line("10.0.0.1", tmp_path / "c")
        + "# a comment\n\n"
        + _line("10.0.0.7,other", tmp_path / "d")
        + _line("other,10.0.0.8", tmp_path / "d")  # a name listed again with the same key
        + "10.0.0.9 ssh-unknown-type AAAA\n"
        + "lonely-field\n"
    )
    parsed = paramiko.HostKeys(filename=str(path))
    with path.open("a") as f:  # skipped, as ssh skips it (paramiko's load gives up)
        f.write("10.0.0.9 ssh-ed25519 not+base64!\n")
    looked_up = 0
    paramikos_lookup = paramiko.HostKeys.lookup

    def counted(self: paramiko.HostKeys, hostname: str) -> paramiko.hostkeys.SubDict | None:
        nonlocal looked_up
        looked_up += 1
        return paramikos_lookup(self, hostname)

    monkeypatch.setattr(paramiko.HostKeys, "lookup", counted)
    indexed = load_known_hosts(str(path))
    assert looked_up == 0  # no line is looked up among the lines before it
    for name in (
        "10.0.0.1",
        "[10.0.0.1]:2222",
        "10.0.0.7",
        "other",
        "10.0.0.8",
        "10.0.0.9",
        hashed,
    ):
        theirs = parsed.lookup(name)
        want = {t: theirs[t].get_base64() for t in theirs} if theirs else {}
        assert {t: k.get_base64() for t, k in indexed.keys_for(name).items()} == want, name
    first = indexed.keys_for("10.0.0.1")["ssh-ed25519"].get_base64()
    assert first == _line("x", tmp_path / "a").split()[2]
    assert (
        indexed.keys_for("10.0.0.7")["ssh-ed25519"].get_base64()
        == (_line("x", tmp_path / "b").split()[2])
    )
