"""Transports against the lab: SSH to real sshd/dockerd hosts, and the local transport inside one.

What is checked independently of the transport under test: connection counts with ``ss``, file
modes and Docker state through ``nsenter`` into the lab host (``exec_argv``), fingerprints with
``ssh-keygen``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from checkpointctl.errors import CommandFailed, HostKeyError, HostUnreachable, TransportError
from checkpointctl.lab import LabInfo, exec_argv
from checkpointctl.model import Host, SshSettings
from checkpointctl.transport.base import Command, FileStat
from checkpointctl.transport.connect import connect
from checkpointctl.transport.ssh import KEPT_WAKE, SshTransport

pytestmark = pytest.mark.lab

#: Inside the lab's range, on no host: nothing answers there.
DOWN_ADDRESS = "10.213.250.77"

OnHost = Callable[..., "subprocess.CompletedProcess[str]"]

HOSTILE_ARGS = [
    "two words",
    "it's",
    'say "hi"',
    "$(touch /tmp/checkpointctl-pwned)",
    "`id`",
    "a; rm -rf /",
    "line1\nline2",
    "",
    "*",
    "ünï 🙂",
]


def lab_host(lab: LabInfo, name: str, **overrides: Any) -> Host:
    """The lab host as an inventory would describe it, with some settings overridden."""
    host = Host(
        name=name,
        address=lab.host(name).address,
        identity_file=str(lab.identity_file),
        known_hosts=str(lab.known_hosts),
        connect_timeout=10.0,
    )
    return dataclasses.replace(host, **overrides)


def as_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@pytest.fixture(scope="module")
def full(lab: LabInfo) -> str:
    return lab.full_hosts[0].name


@pytest.fixture
def ssh(lab: LabInfo, full: str) -> Iterator[SshTransport]:
    transport = connect(lab_host(lab, full))
    assert isinstance(transport, SshTransport)
    yield transport
    transport.close()


@pytest.fixture
def scratch(ssh: SshTransport, full: str, on_host: OnHost) -> Iterator[str]:
    """A fresh directory under /etc/checkpoint on the host, removed afterwards."""
    path = f"/etc/checkpoint/test-transport-{uuid.uuid4().hex[:8]}"
    yield path
    on_host(full, ["rm", "-rf", path])


def established_ssh_connections(address: str) -> int:
    """TCP connections from this process to ``address:22`` (counted by the kernel, via ss)."""
    out = subprocess.run(
        ["ss", "-Htnp", "state", "established", "dst", address, "dport", "=", ":22"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    return sum(1 for line in out.splitlines() if f"pid={os.getpid()}," in line)


def host_key_fingerprint(lab: LabInfo, address: str) -> str:
    """The fingerprint of the host's key as recorded by the lab, computed by ssh-keygen."""
    out = subprocess.run(
        ["ssh-keygen", "-l", "-F", address, "-f", str(lab.known_hosts)],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    found = re.search(r"SHA256:[A-Za-z0-9+/]+", out)
    assert found, out
    return found.group(0)


# -- commands and files -------------------------------------------------------------------------


def test_the_hosts_openssh_and_the_controller_agree_on_aes_gcm(ssh: SshTransport) -> None:
    """Offered first (transport/ssh/ciphers.py), and Debian's sshd offers it: the connection
    carries no separate MAC for paramiko to check in Python."""
    assert ssh.connection.local_cipher == "aes128-gcm@openssh.com"
    assert ssh.connection.remote_cipher == "aes128-gcm@openssh.com"  # type: ignore[attr-defined]


def test_a_kept_connection_wakes_rarely_and_still_closes_at_once(ssh: SshTransport) -> None:
    """A kept connection's reader thread waits up to KEPT_WAKE (60 s) between wake-ups, yet
    close() ends it, and the TCP connection, at once: nothing waits for a wake-up (close()
    alone wakes no blocked recv on Linux; the socket is shut down first)."""
    ssh.keep_shell()
    assert ssh.run(["echo", "kept"]).stdout == b"kept\n"
    connection = ssh.connection
    assert connection.sock.gettimeout() == KEPT_WAKE  # type: ignore[union-attr]
    time.sleep(0.5)  # the reader thread is back in its recv, waiting
    open_before = established_ssh_connections(ssh.host.address)
    ssh.close()
    connection.join(5)
    assert not connection.is_alive()
    assert established_ssh_connections(ssh.host.address) == open_before - 1


def test_hostile_argv_reaches_the_remote_program_unchanged(ssh: SshTransport) -> None:
    result = ssh.run(["printf", "%s\\0", *HOSTILE_ARGS])
    assert result.stdout.decode().split("\0")[:-1] == HOSTILE_ARGS
    assert not ssh.run(["test", "-e", "/tmp/checkpointctl-pwned"], check=False).ok


def test_run_stdin_stderr_exit_codes_and_check(ssh: SshTransport) -> None:
    result = ssh.run(["sh", "-c", "cat; echo oops >&2; exit 3"], stdin=b"in\n", check=False)
    assert (result.rc, result.stdout, result.stderr) == (3, b"in\n", b"oops\n")
    with pytest.raises(CommandFailed) as info:
        ssh.run(["sh", "-c", "echo why >&2; exit 5"])
    assert (info.value.rc, info.value.stderr_tail) == (5, "why")


def test_run_moves_large_stdin_and_stdout_both_ways(ssh: SshTransport) -> None:
    data = os.urandom(3 * 1024 * 1024)
    assert ssh.run(["cat"], stdin=data).stdout == data
    # Output still in flight when the command exits must not be cut (the exit status can
    # arrive before the last data); repeated because that ordering is a race.
    script = "head -c 4000000 /dev/zero; head -c 1000000 /dev/zero >&2"
    for _ in range(5):
        result = ssh.run(["sh", "-c", script])
        assert (len(result.stdout), len(result.stderr)) == (4_000_000, 1_000_000)


def test_run_timeout(ssh: SshTransport) -> None:
    with pytest.raises(TransportError, match="did not finish within 1s"):
        ssh.run(["sleep", "30"], timeout=1)
    assert ssh.run(["echo", "still usable"]).stdout == b"still usable\n"


def test_files_over_sftp(ssh: SshTransport, scratch: str, full: str, on_host: OnHost) -> None:
    path = f"{scratch}/deep/er/secret.json"
    assert ssh.read_file(path) is None
    assert ssh.stat(path) is None
    ssh.write_file(path, b'{"token": "x"}', mode=0o600, uid=0, gid=0)
    assert ssh.read_file(path) == b'{"token": "x"}'
    assert ssh.stat(path) == FileStat(mode=0o600, uid=0, gid=0, size=14, is_dir=False)
    # Independently, inside the host: mode, owner, parents 0755, no temp left behind.
    assert on_host(full, ["stat", "-c", "%a %u %g %s", path]).stdout == "600 0 0 14\n"
    assert on_host(full, ["stat", "-c", "%a", f"{scratch}/deep", f"{scratch}/deep/er"]).stdout == (
        "755\n755\n"
    )
    assert on_host(full, ["ls", "-A", f"{scratch}/deep/er"]).stdout == "secret.json\n"

    ssh.write_file(path, b"v2", mode=0o640, uid=1000, gid=1000)
    assert on_host(full, ["cat", path]).stdout == "v2"
    assert on_host(full, ["stat", "-c", "%a %u %g", path]).stdout == "640 1000 1000\n"

    big = os.urandom(300_000)
    ssh.write_file(f"{scratch}/big", big, mode=0o644)
    assert ssh.read_file(f"{scratch}/big") == big

    ssh.remove_file(path)
    ssh.remove_file(path)  # already gone: fine
    assert ssh.stat(path) is None
    dir_stat = ssh.stat(scratch)
    assert dir_stat is not None
    assert dir_stat.is_dir


def test_one_connection_serves_commands_files_and_docker(
    lab: LabInfo, ssh: SshTransport, scratch: str
) -> None:
    address = ssh.host.address
    connection = ssh.connection
    before = established_ssh_connections(address)
    for i in range(5):
        ssh.run(["echo", str(i)])
        ssh.write_file(f"{scratch}/f{i}", b"x", mode=0o644)
        ssh.read_file(f"{scratch}/f{i}")
    client = ssh.docker()
    for _ in range(5):
        client.version()
    client.images.list()
    assert ssh.docker() is client
    assert ssh.connection is connection
    assert before == 1
    assert established_ssh_connections(address) == 1


# -- docker -------------------------------------------------------------------------------------


def test_docker_over_the_ssh_connection_sees_the_hosts_engine(
    ssh: SshTransport, full: str, on_host: OnHost
) -> None:
    client = ssh.docker()
    version = client.version()
    assert version["ApiVersion"]
    assert as_tuple(client.api.api_version) <= as_tuple(version["ApiVersion"])
    ours = sorted(image.id for image in client.images.list(all=True))
    theirs = sorted(on_host(full, ["docker", "image", "ls", "-aq", "--no-trunc"]).stdout.split())
    assert ours == sorted(set(theirs))
    engine_id = on_host(full, ["docker", "info", "--format", "{{.ID}}"]).stdout.strip()
    assert client.info()["ID"] == engine_id


def test_docker_on_a_host_without_engine_says_why(lab: LabInfo) -> None:
    if not lab.light_hosts:
        pytest.skip("the lab has no light host")
    light = lab_host(lab, lab.light_hosts[0].name)
    with (
        closing(connect(light)) as transport,
        pytest.raises(CommandFailed, match="dial-stdio") as info,
    ):
        transport.docker()
    assert "exited" in str(info.value)
    assert info.value.argv == ("docker", "system", "dial-stdio")
    assert info.value.rc != 0


# -- host keys ----------------------------------------------------------------------------------


def test_unknown_host_key_is_refused_and_known_hosts_untouched(
    lab: LabInfo, full: str, tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    host = lab_host(lab, full, known_hosts=str(known))
    with pytest.raises(HostKeyError) as info:
        connect(host)
    message = str(info.value)
    assert host_key_fingerprint(lab, host.address) in message
    assert f"ssh-keyscan -t ed25519 {host.address} >> {known}" in message
    assert "trust_on_first_use: true" in message
    assert known.read_text() == ""


def test_changed_host_key_is_refused_even_with_trust_on_first_use(
    lab: LabInfo, full: str, tmp_path: Path
) -> None:
    keygen = tmp_path / "impostor"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keygen)], check=True)
    impostor = (tmp_path / "impostor.pub").read_text().split()
    address = lab.host(full).address
    known = tmp_path / "known_hosts"
    known.write_text(f"{address} {impostor[0]} {impostor[1]}\n")
    content = known.read_bytes()
    for tofu in (False, True):
        host = lab_host(lab, full, known_hosts=str(known), trust_on_first_use=tofu)
        with pytest.raises(HostKeyError, match="possible man-in-the-middle") as info:
            connect(host)
        expected_old = subprocess.run(
            ["ssh-keygen", "-lf", str(tmp_path / "impostor.pub")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[1]
        assert expected_old in str(info.value)
        assert host_key_fingerprint(lab, address) in str(info.value)
        assert known.read_bytes() == content


def test_trust_on_first_use_records_the_key(lab: LabInfo, full: str, tmp_path: Path) -> None:
    known = tmp_path / "new" / "known_hosts"
    known.parent.mkdir()
    host = lab_host(lab, full, known_hosts=str(known), trust_on_first_use=True)
    with closing(connect(host)) as transport:
        assert transport.run(["true"]).ok
    recorded = subprocess.run(
        ["ssh-keygen", "-l", "-F", host.address, "-f", str(known)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert host_key_fingerprint(lab, host.address) in recorded
    assert len(known.read_text().splitlines()) == 1
    # The recorded key is now trusted strictly.
    strict = lab_host(lab, full, known_hosts=str(known))
    with closing(connect(strict)) as transport:
        assert transport.run(["true"]).ok
    assert len(known.read_text().splitlines()) == 1


def with_known_hosts(host: Host, *files: Path, accept_new: bool = False) -> Host:
    """``host`` with ``-o UserKnownHostsFile=<files>`` (and ``StrictHostKeyChecking``)."""
    options = [("userknownhostsfile", " ".join(str(f) for f in files))]
    options.append(("stricthostkeychecking", "accept-new" if accept_new else "yes"))
    return dataclasses.replace(host, ssh=SshSettings(options=tuple(options)))


def test_several_known_hosts_files_accept_a_key_listed_by_any(
    lab: LabInfo, full: str, tmp_path: Path
) -> None:
    """OpenSSH's rules for ``UserKnownHostsFile a b c``: the host's key in any file will do,
    even when another file lists an impostor's; a key of the host's type listed only with
    another key is a changed key; accept-new records into the first file only."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "impostor")],
        check=True,
    )
    kind, blob = (tmp_path / "impostor.pub").read_text().split()[:2]
    address = lab.host(full).address
    impostor = tmp_path / "impostor_known_hosts"
    impostor.write_text(f"{address} {kind} {blob}\n")
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    host = lab_host(lab, full)

    with closing(connect(with_known_hosts(host, empty, impostor, lab.known_hosts))) as t:
        assert t.run(["true"]).ok

    with pytest.raises(HostKeyError, match="possible man-in-the-middle") as info:
        connect(with_known_hosts(host, empty, impostor))
    assert f"-f {impostor}" in str(info.value)  # the file to edit: the one with the old key
    assert host_key_fingerprint(lab, address) in str(info.value)

    first = tmp_path / "first_known_hosts"
    # the key is known from the second file: nothing to record
    with closing(connect(with_known_hosts(host, first, lab.known_hosts, accept_new=True))) as t:
        assert t.run(["true"]).ok
    assert not first.exists()
    with closing(connect(with_known_hosts(host, first, empty, accept_new=True))) as t:
        assert t.run(["true"]).ok
    recorded = subprocess.run(
        ["ssh-keygen", "-l", "-F", address, "-f", str(first)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert host_key_fingerprint(lab, address) in recorded
    assert empty.read_text() == ""


def test_a_known_hosts_file_named_by_tokens_and_chosen_by_match_exec(
    lab: LabInfo, full: str, tmp_path: Path
) -> None:
    """An ssh_config as operators write it: ``UserKnownHostsFile "…/known dir/known_%h"`` (a
    quoted path with a space, one file per host) in a ``Match exec`` block, which applies only
    while its command exits 0; otherwise the host's own block names an empty file."""
    address = lab.host(full).address
    folder = tmp_path / "known dir"
    folder.mkdir()
    (folder / f"known_{address}").write_text(lab.known_hosts.read_text())
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    flag = tmp_path / "on-the-vpn"
    config = tmp_path / "ssh_config"
    config.write_text(
        f'Match originalhost {full} exec "test -e {flag}"\n'
        f'    UserKnownHostsFile "{folder}/known_%h"\n'
        f"Host {full}\n"
        f"    HostName {address}\n"
        "    User root\n"
        f"    IdentityFile {lab.identity_file}\n"
        "    IdentitiesOnly yes\n"
        f"    UserKnownHostsFile {empty}\n"
        "    StrictHostKeyChecking yes\n"
    )
    host = Host(full, full, ssh=SshSettings(given=frozenset(), config_file=str(config)))
    with pytest.raises(HostKeyError, match=f"not in {re.escape(str(empty))}"):
        connect(host)
    flag.touch()
    with closing(connect(host)) as t:
        assert t.run(["true"]).ok


def test_a_proxycommand_with_a_quoted_path_runs_as_ssh_runs_it(
    lab: LabInfo, full: str, tmp_path: Path
) -> None:
    """``ProxyCommand "…/my tools/hop" … -W %h:%p …``: the quoted program path with a space is
    one word (the command runs with the user's shell, as ssh runs it); OpenSSH's client,
    under that name, forwards to the host through its own sshd."""
    address = lab.host(full).address
    tools = tmp_path / "my tools"
    tools.mkdir()
    (tools / "hop").symlink_to(shutil.which("ssh") or "/usr/bin/ssh")
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host {full}\n"
        f"    HostName {address}\n"
        "    User root\n"
        f"    IdentityFile {lab.identity_file}\n"
        f"    UserKnownHostsFile {lab.known_hosts}\n"
        f'    ProxyCommand "{tools}/hop" -F /dev/null -i {lab.identity_file} -o BatchMode=yes '
        f"-o UserKnownHostsFile={lab.known_hosts} -W %h:%p %r@%h  # through its own sshd\n"
    )
    host = Host(full, full, ssh=SshSettings(given=frozenset(), config_file=str(config)))
    with closing(connect(host)) as t:
        seen = t.run(["sh", "-c", 'echo "${SSH_CONNECTION%% *}"']).text().strip()
    assert seen == address  # the forwarded connection comes from the host itself


# -- failures to connect ------------------------------------------------------------------------


def test_down_host_is_unreachable(lab: LabInfo) -> None:
    host = Host(
        name="ghost",
        address=DOWN_ADDRESS,
        identity_file=str(lab.identity_file),
        known_hosts=str(lab.known_hosts),
        connect_timeout=2.0,
    )
    with pytest.raises(HostUnreachable, match=rf"^ghost \({re.escape(DOWN_ADDRESS)}:22\): "):
        connect(host)


def test_closed_port_is_unreachable_at_once(lab: LabInfo) -> None:
    # A port freed a moment ago on loopback: nothing listens and no firewall drops it, so the
    # kernel answers RST. (A lab host's port is not used: an earlier test may have applied a
    # firewall there that drops instead of refusing, which is the other failure mode.)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    host = Host(
        name="closed",
        address="127.0.0.1",
        port=port,
        identity_file=str(lab.identity_file),
        known_hosts=str(lab.known_hosts),
        connect_timeout=10.0,
    )
    expected = rf"^closed \(127\.0\.0\.1:{port}\): connection refused$"
    with pytest.raises(HostUnreachable, match=expected):
        connect(host)


def test_wrong_key_is_an_authentication_failure(lab: LabInfo, full: str, tmp_path: Path) -> None:
    key = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    with pytest.raises(HostUnreachable, match=r"authentication as root with key .* failed"):
        connect(lab_host(lab, full, identity_file=str(key)))


# -- the local transport, run inside a lab host -------------------------------------------------

LOCAL_SNIPPET = """
import json, os, sys
from checkpointctl.model import Host, SshSettings
from checkpointctl.transport.connect import connect
path = sys.argv[1]
with connect(Host("inside", "127.0.0.1", connection="local")) as t:
    t.write_file(path, b"local", mode=0o640, uid=0, gid=0)
    st = t.stat(path)
    client = t.docker()
    print(json.dumps({
        "read": t.read_file(path).decode(),
        "mode": st.mode,
        "echo": t.run(["hostname"]).text(),
        "engine": client.info()["ID"],
        "images": sorted(i.id for i in client.images.list(all=True)),
    }))
    t.remove_file(path)
"""


def test_local_transport_inside_a_lab_host(ssh: SshTransport, full: str, scratch: str) -> None:
    path = f"{scratch}/local.txt"
    repo = str(Path(__file__).resolve().parents[2])
    out = subprocess.run(
        [*exec_argv(full), "env", f"PYTHONPATH={repo}", sys.executable, "-c", LOCAL_SNIPPET, path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    seen = json.loads(out)
    assert seen["read"] == "local"
    assert seen["mode"] == 0o640
    assert seen["echo"] == ssh.run(["hostname"]).text()
    # The same engine as SSH reaches, seen through the local socket of that host.
    client = ssh.docker()
    assert seen["engine"] == client.info()["ID"]
    assert seen["images"] == sorted(i.id for i in client.images.list(all=True))
    assert ssh.stat(path) is None


def test_docker_containers_exec_and_logs_over_ssh(lab: LabInfo, ssh: SshTransport) -> None:
    """The calls the containers resource relies on, including docker-py's raw-socket reads."""
    client = ssh.docker()
    image = lab.checkpoint_image
    client.images.pull(image)
    name = f"test-transport-{uuid.uuid4().hex[:8]}"
    container = client.containers.run(
        image, ["sh", "-c", "echo started; exec sleep 60"], name=name, detach=True
    )
    try:
        rc, output = container.exec_run(["sh", "-c", "echo out; echo err >&2; exit 7"])
        assert rc == 7
        assert sorted(output.decode().split()) == ["err", "out"]
        container.reload()
        assert container.status == "running"
        assert client.containers.get(name).id == container.id
    finally:
        container.remove(force=True)
    assert name not in {c.name for c in client.containers.list(all=True)}


# -- a command that fails on a reachable host ----------------------------------------------------

DOCKER_SOCKET = "/run/docker.sock"


def test_a_read_that_fails_on_a_reachable_host_is_a_failure_not_unreachable(
    lab: LabInfo, on_host: OnHost, capsys: pytest.CaptureFixture[str]
) -> None:
    """The host's Docker socket is made a plain file, so ``docker system dial-stdio`` (the
    command every Docker read goes through) fails there for real: drift reports the host failed,
    naming the command, its exit status and its stderr, while the host stays reachable."""
    from checkpointctl.cli.main import main

    name = lab.full_hosts[-1].name
    away = f"{DOCKER_SOCKET}.test-transport-{uuid.uuid4().hex[:8]}"
    repo = Path(__file__).resolve().parents[2]
    argv = [
        "drift",
        str(repo / "policies"),
        "-i",
        str(lab.inventory),
        "--vault-password-file",
        str(repo / "examples" / "lab-vault-password"),
        "--limit",
        name,
        "--format",
        "json",
    ]
    on_host(name, ["mv", DOCKER_SOCKET, away])
    try:
        on_host(name, ["touch", DOCKER_SOCKET])
        code = main(argv)
        report = json.loads(capsys.readouterr().out)
    finally:
        on_host(name, ["rm", "-f", DOCKER_SOCKET])
        on_host(name, ["mv", away, DOCKER_SOCKET])
    (host,) = report["hosts"]
    assert code == 1
    assert host["host"] == name
    assert host["status"] == "failed"
    # the command, its exit status and its stderr, as the docker CLI on the host said it
    command = host["command"]
    assert command["command"] == "docker system dial-stdio"
    assert command["exit_status"] == 1
    assert "docker.sock: connect:" in command["stderr"], command
    assert "`docker system dial-stdio` exited 1:" in host["error"], host["error"]
    # restored: the engine answers through the socket again, and drift reaches it
    on_host(name, ["docker", "info", "--format", "{{.ID}}"])
    assert main(argv[:-2]) in (0, 2)
    capsys.readouterr()


# -- the host lock's held shell, adopted by the transport ----------------------------------------

#: Prints the command lines of the shell's ancestors, one a line, its parent first.
ANCESTORS = (
    "sh",
    "-c",
    'p=$PPID; while [ "$p" -gt 1 ]; do tr "\\0" " " </proc/$p/cmdline; echo; '
    "read -r _ _ _ p _ </proc/$p/stat; done",
)


def test_batches_run_in_the_held_lock_shell_while_it_is_lent(
    ssh: SshTransport, full: str, on_host: OnHost
) -> None:
    """While the lock lends its shell, a batch runs inside it (the ``flock`` holding the lock
    is an ancestor of its shell: the request's own shell runs under the host's bound), not in a
    session of its own; once the lock takes it back, batches get their own session again and
    the lock still answers."""
    from checkpointctl.engine.lock import LockPaths, acquire, current_owner

    state = f"/tmp/test-transport-lock-{uuid.uuid4().hex[:8]}"
    batch = [Command(ANCESTORS), Command(("echo", "second"))]
    lock = acquire(ssh, current_owner(), paths=LockPaths.under(state))
    try:
        assert lock.lend_shell() is True
        ancestors, second = ssh.run_many(batch)
        assert ancestors.ok
        chain = ancestors.text().splitlines()
        assert chain[0].startswith("timeout "), chain
        assert any(line.startswith("flock ") for line in chain), chain
        assert second.stdout == b"second\n"
        problems = lock.write_records(b'{"r": 1}', b'{"a": 1}', release=True)
        assert problems == []
    finally:
        lock.release()
    ancestors, second = ssh.run_many(batch)
    assert not any(line.startswith("flock ") for line in ancestors.text().splitlines())
    assert second.stdout == b"second\n"
    assert on_host(full, ["cat", f"{state}/last-apply.json"]).stdout == '{"r": 1}\n'
    on_host(full, ["rm", "-rf", state])
