"""Several known_hosts files for one host (``UserKnownHostsFile a b``), as OpenSSH reads them.

A key found in any of the files is accepted; a key of a type some file lists with another key
is a changed key; a new key is recorded (trust on first use) in the first file only. Each file
is parsed once for every host that names it. The policies run on real paramiko clients that
never connect; the lab test (tests/integration/test_transport.py) connects for real.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import paramiko
import pytest

from checkpointctl.errors import HostKeyError, TransportError
from checkpointctl.model import Host, SshSettings
from checkpointctl.transport import sshfiles
from checkpointctl.transport.hostkeys import (
    KeyStatus,
    RecordUnknownKey,
    RefuseUnknownKey,
    judge_key,
)
from checkpointctl.transport.ssh.route import resolve
from checkpointctl.transport.sshfiles import FileCache, add_known_keys, known_keys

NAME = "[10.213.1.1]:2222"


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read the real ~/.ssh/config."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, paramiko.PKey]:
    """Three Ed25519 host keys and one ECDSA key, from ssh-keygen."""
    root = tmp_path_factory.mktemp("keys")
    out: dict[str, paramiko.PKey] = {}
    for name, kind in (("a", "ed25519"), ("b", "ed25519"), ("c", "ed25519"), ("e", "ecdsa")):
        path = root / name
        subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path)], check=True)
        out[name] = paramiko.PKey.from_path(str(path))
    return out


def line(name: str, key: paramiko.PKey) -> str:
    return f"{name} {key.get_name()} {key.get_base64()}\n"


def write(path: Path, *lines: str) -> str:
    path.write_text("".join(lines))
    return str(path)


# --- the route ------------------------------------------------------------------------------


def test_user_known_hosts_file_takes_several_files(tmp_path: Path) -> None:
    cfg = tmp_path / "ssh_config"
    cfg.write_text(
        "Host cp-1\n    UserKnownHostsFile ~/.ssh/kh /etc/ssh/fleet_known_hosts 'a b'\n"
        "Host cp-2\n    UserKnownHostsFile /only\n"
    )
    settings = SshSettings(given=frozenset(), config_file=str(cfg))
    target = resolve(Host("cp-1", "cp-1", ssh=settings)).target
    home = tmp_path / "home"
    assert target.known_hosts == (f"{home}/.ssh/kh", "/etc/ssh/fleet_known_hosts", "a b")
    assert resolve(Host("cp-2", "cp-2", ssh=settings)).target.known_hosts == ("/only",)


def test_dash_o_and_jump_hosts_take_several_files_too(tmp_path: Path) -> None:
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host bastion\n    UserKnownHostsFile /kh/one /kh/two\n")
    settings = SshSettings(
        given=frozenset(),
        config_file=str(cfg),
        options=(("userknownhostsfile", "/x /y"), ("proxyjump", "bastion")),
    )
    route = resolve(Host("cp-1", "cp-1", ssh=settings))
    assert route.target.known_hosts == ("/x", "/y")
    assert route.jumps[0].known_hosts == ("/kh/one", "/kh/two")


@pytest.mark.parametrize(
    ("value", "named"),
    [("none", "UserKnownHostsFile none is not supported"), ("'open", "UserKnownHostsFile")],
)
def test_unusable_known_hosts_values_are_named(tmp_path: Path, value: str, named: str) -> None:
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host cp-1\n    UserKnownHostsFile {value}\n")
    with pytest.raises(TransportError, match=named) as e:
        resolve(Host("cp-1", "cp-1", ssh=SshSettings(given=frozenset(), config_file=str(cfg))))
    assert str(cfg) in str(e.value)


# --- reading the files ----------------------------------------------------------------------


def test_keys_come_from_every_file_and_a_missing_file_lists_none(
    tmp_path: Path, keys: dict[str, paramiko.PKey]
) -> None:
    first = write(tmp_path / "first", line("other", keys["c"]))
    second = write(tmp_path / "second", line(NAME, keys["a"]), line(NAME, keys["e"]))
    files = (str(tmp_path / "missing"), first, second)
    found = known_keys(files, NAME)
    assert [(k.file, k.key_type) for k in found] == [
        (second, "ssh-ed25519"),
        (second, keys["e"].get_name()),
    ]
    client = paramiko.SSHClient()
    add_known_keys(client, files, NAME)
    given = client.get_host_keys().lookup(NAME)
    assert given is not None
    assert given["ssh-ed25519"].asbytes() == keys["a"].asbytes()


def test_a_key_type_the_files_disagree_on_is_left_to_the_policy(
    tmp_path: Path, keys: dict[str, paramiko.PKey]
) -> None:
    one = write(tmp_path / "one", line(NAME, keys["a"]), line(NAME, keys["e"]))
    two = write(tmp_path / "two", line(NAME, keys["b"]), line(NAME, keys["e"]))
    client = paramiko.SSHClient()
    add_known_keys(client, (one, two), NAME)
    given = client.get_host_keys().lookup(NAME)
    assert given is not None
    # paramiko holds one key per type: the agreed ECDSA key is given, the disputed Ed25519 not
    assert list(given.keys()) == [keys["e"].get_name()]


def test_judge_key_is_openssh_verdict_over_all_files(
    tmp_path: Path, keys: dict[str, paramiko.PKey]
) -> None:
    one = write(tmp_path / "one", line(NAME, keys["a"]))
    two = write(tmp_path / "two", line(NAME, keys["b"]))
    files = (one, two)
    assert judge_key(files, NAME, keys["a"]).status is KeyStatus.KNOWN
    assert judge_key(files, NAME, keys["b"]).status is KeyStatus.KNOWN
    changed = judge_key(files, NAME, keys["c"])
    assert changed.status is KeyStatus.CHANGED
    assert changed.expected is not None
    assert changed.expected.file == one
    assert judge_key(files, NAME, keys["e"]).status is KeyStatus.UNKNOWN
    assert judge_key(files, "[10.213.1.2]:2222", keys["a"]).status is KeyStatus.UNKNOWN


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(TransportError, match=f"cannot read known_hosts {folder}"):
        known_keys((str(folder),), NAME)


def test_each_file_is_parsed_once_for_every_host(
    tmp_path: Path, keys: dict[str, paramiko.PKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    one = write(tmp_path / "one", line("[10.213.1.1]:2222", keys["a"]))
    two = write(tmp_path / "two", line("[10.213.1.2]:2222", keys["b"]))
    parsed: list[str] = []

    def load(path: str) -> sshfiles.KnownHosts:
        parsed.append(path)
        return sshfiles.load_known_hosts(path)

    monkeypatch.setattr(sshfiles, "KNOWN_HOSTS", FileCache(load))
    for i in range(1, 6):
        add_known_keys(paramiko.SSHClient(), (one, two), f"[10.213.1.{i}]:2222")
    assert sorted(parsed) == [one, two]


# --- the policies ---------------------------------------------------------------------------


def test_strict_accepts_a_key_from_any_file_and_refuses_the_rest(
    tmp_path: Path, keys: dict[str, paramiko.PKey]
) -> None:
    one = write(tmp_path / "one", line(NAME, keys["a"]))
    two = write(tmp_path / "two", line(NAME, keys["b"]))
    policy = RefuseUnknownKey("cp-1", "10.213.1.1", 2222, (one, two))
    client = paramiko.SSHClient()
    policy.missing_host_key(client, NAME, keys["b"])  # listed by the second file: accepted
    assert client.get_host_keys().check(NAME, keys["b"])

    with pytest.raises(HostKeyError, match="host key changed") as changed:
        policy.missing_host_key(paramiko.SSHClient(), NAME, keys["c"])
    assert f"-f {one}" in str(changed.value)  # the file that lists the other key

    with pytest.raises(HostKeyError, match="host key not trusted") as unknown:
        policy.missing_host_key(paramiko.SSHClient(), NAME, keys["e"])
    assert f"not in {one} nor {two}" in str(unknown.value)
    assert f">> {one}" in str(unknown.value)  # recorded where OpenSSH records: the first


def test_accept_new_records_in_the_first_file_only(
    tmp_path: Path, keys: dict[str, paramiko.PKey]
) -> None:
    first = tmp_path / "first"
    second = write(tmp_path / "second", line(NAME, keys["a"]))
    policy = RecordUnknownKey("cp-1", "10.213.1.1", 2222, (str(first), second))
    client = paramiko.SSHClient()
    policy.missing_host_key(client, NAME, keys["e"])
    assert first.read_text() == line(NAME, keys["e"])
    assert Path(second).read_text() == line(NAME, keys["a"])
    assert client.get_host_keys().check(NAME, keys["e"])

    # a key the second file lists is known, not new: nothing written
    policy.missing_host_key(paramiko.SSHClient(), NAME, keys["a"])
    assert first.read_text() == line(NAME, keys["e"])

    # a changed key is refused, never recorded
    with pytest.raises(HostKeyError, match="host key changed"):
        policy.missing_host_key(paramiko.SSHClient(), NAME, keys["b"])
    assert first.read_text() == line(NAME, keys["e"])


def test_tokens_and_variables_are_expanded_and_the_others_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER", "ops")
    monkeypatch.setenv("LOGNAME", "ops")
    monkeypatch.setenv("KH", "/srv/kh")
    monkeypatch.delenv("NO_SUCH_KH", raising=False)
    cfg = tmp_path / "ssh_config"
    settings = SshSettings(given=frozenset(), config_file=str(cfg))
    cfg.write_text(
        "Host cp-1\n    UserKnownHostsFile %d/.ssh/kh /etc/kh-%u 100%% /kh/%h:%p ${KH}/%r\n"
    )
    home = tmp_path / "home"
    assert resolve(Host("cp-1", "cp-1", user="root", ssh=settings)).target.known_hosts == (
        f"{home}/.ssh/kh",
        "/etc/kh-ops",
        "100%",
        "/kh/cp-1:22",
        "/srv/kh/root",
    )
    for value, named in (
        ("/kh/%f", r"ssh_config .*ssh_config:2: UserKnownHostsFile /kh/%f: token %f is not"),
        ("${NO_SUCH_KH}/kh", r"environment variable \$\{NO_SUCH_KH\} is not set"),
        ("/kh/100%", "a lone % at the end"),
    ):
        cfg.write_text(f"Host cp-1\n    UserKnownHostsFile {value}\n")
        with pytest.raises(TransportError, match=named):
            resolve(Host("cp-1", "cp-1", ssh=settings))
