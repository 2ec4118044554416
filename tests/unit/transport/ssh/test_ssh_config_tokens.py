"""ssh_config tokens (``%h %p %r %n %C …``) and ``${VAR}`` expanded per host, as OpenSSH does.

The values are checked against ``ssh -G`` (OpenSSH prints a host's configuration with its
UserKnownHostsFile tokens expanded, without connecting) where the installed ssh knows the
token; ``%j`` (and ``%C``'s use of it) is newer than the ssh of some systems, so it is checked
against its definition in ssh_config(5).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
from pathlib import Path

import pytest
from ssh_oracle import ssh_g

from checkpointctl.errors import TransportError
from checkpointctl.model import Host, SshSettings
from checkpointctl.transport.ssh.route import resolve


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read the real ~/.ssh/config."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def config(tmp_path: Path, text: str) -> SshSettings:
    path = tmp_path / "ssh_config"
    path.write_text(text)
    return SshSettings(given=frozenset(), config_file=str(path))


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


LOCAL = socket.gethostname()


def test_known_hosts_tokens_take_the_hosts_final_values(tmp_path: Path) -> None:
    settings = config(
        tmp_path,
        "Host cp-*\n"
        "    HostName Real-%h.example\n"
        "    Port 2222\n"
        "    User ops\n"
        "    UserKnownHostsFile /kh/%h_%p_%r_%n_%k /kh/%C /kh/%l_%L_%i_%%_%j\n",
    )
    route = resolve(Host("cp-1", "cp-1", ssh=settings))
    host = "real-cp-1.example"  # ssh lower-cases the host it connects to
    assert route.target.address == "Real-cp-1.example"
    assert route.target.known_hosts == (
        f"/kh/{host}_2222_ops_cp-1_cp-1",
        f"/kh/{sha1(f'{LOCAL}{host}2222ops')}",
        f"/kh/{LOCAL}_{LOCAL.split('.')[0]}_{os.getuid()}_%_",
    )


def test_the_inventorys_port_and_user_are_the_tokens_values(tmp_path: Path) -> None:
    """The inventory plays ssh's command line: its port and user win, so %p and %r are them."""
    settings = config(tmp_path, "Host *\n    Port 2222\n    UserKnownHostsFile /kh/%h:%p@%r\n")
    given = SshSettings(given=frozenset({"port", "user"}), config_file=settings.config_file)
    route = resolve(Host("cp-1", "10.0.0.7", port=2201, user="ops", ssh=given))
    assert route.target.known_hosts == ("/kh/cp-1:2201@ops",)
    given = SshSettings(given=frozenset({"address"}), config_file=settings.config_file)
    route = resolve(Host("cp-1", "10.0.0.7", ssh=given))
    assert route.target.known_hosts == ("/kh/10.0.0.7:2222@root",)


def test_j_is_the_proxyjump_value_and_part_of_the_connection_hash(tmp_path: Path) -> None:
    settings = config(
        tmp_path,
        "Host cp-1\n"
        "    ProxyJump ops@gw:2200,inner\n"
        "    UserKnownHostsFile /kh/%j /kh/%C\n"
        "Host gw\n"
        "    HostName 10.0.0.1\n"
        "    UserKnownHostsFile /kh/gw-%h-%p-%r-[%j]\n"
        "Host inner\n"
        "    UserKnownHostsFile /kh/inner-%n-%p-%r-[%j]\n",
    )
    route = resolve(Host("cp-1", "cp-1", user="root", ssh=settings))
    assert route.target.known_hosts == (
        "/kh/ops@gw:2200,inner",
        f"/kh/{sha1(f'{LOCAL}cp-122rootops@gw:2200,inner')}",
    )
    gw, inner = route.jumps
    assert gw.known_hosts == ("/kh/gw-10.0.0.1-2200-ops-[]",)
    # the second hop is reached as `ssh -J ops@gw:2200 inner`: that is its ProxyJump
    assert inner.known_hosts == ("/kh/inner-inner-22-root-[ops@gw:2200]",)


def test_identity_file_tokens_and_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYS", "/srv/keys")
    settings = config(
        tmp_path,
        "Host cp-1\n    User ops\n    IdentityFile ~/.ssh/%r@%h\n    IdentityFile ${KEYS}/%n\n",
    )
    route = resolve(Host("cp-1", "cp-1", ssh=settings))
    home = tmp_path / "home"
    assert route.target.identities == (f"{home}/.ssh/ops@cp-1", "/srv/keys/cp-1")


def test_a_jump_hosts_own_proxycommand_takes_the_specs_port_and_user(tmp_path: Path) -> None:
    settings = config(
        tmp_path,
        "Host cp-1\n    ProxyJump jumper@gw:2022\n"
        "Host gw\n    HostName 10.0.0.9\n    ProxyCommand nc -X connect %h %p %r %n %%\n",
    )
    (gw,) = resolve(Host("cp-1", "cp-1", ssh=settings)).jumps
    assert gw.proxy_command == "nc -X connect 10.0.0.9 2022 jumper gw %"


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("UserKnownHostsFile /kh/%t", r"ssh_config:2: UserKnownHostsFile /kh/%t: token %t is not"),
        ("IdentityFile /k/%T", "IdentityFile /k/%T: token %T is not accepted"),
        ("HostName %p.example", "HostName %p.example: token %p is not accepted"),
        ("ProxyCommand nc %h %C", "ProxyCommand nc %h %C: token %C is not accepted"),
        ("IdentityFile /k/${CPCTL_UNSET_VAR}", r"\$\{CPCTL_UNSET_VAR\} is not set"),
        ("UserKnownHostsFile /k/${HOME", r"unterminated \$\{"),
    ],
)
def test_a_token_an_option_does_not_accept_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str, named: str
) -> None:
    monkeypatch.delenv("CPCTL_UNSET_VAR", raising=False)
    settings = config(tmp_path, f"Host cp-1\n    {line}\n")
    with pytest.raises(TransportError, match=named):
        resolve(Host("cp-1", "cp-1", ssh=settings))


def test_proxycommand_does_not_take_variables(tmp_path: Path) -> None:
    """ssh_config(5) lists ProxyCommand among the keywords without ${VAR}: the shell (not ssh)
    sees it, so it stays as written."""
    settings = config(tmp_path, "Host cp-1\n    ProxyCommand nc ${PROXY} %h %p\n")
    route = resolve(Host("cp-1", "cp-1", ssh=settings))
    assert route.target.proxy_command == "nc ${PROXY} cp-1 22"


def test_inventory_o_options_take_tokens_too(tmp_path: Path) -> None:
    settings = SshSettings(
        given=frozenset({"user"}),
        config_file=None,
        options=(("userknownhostsfile", "/kh/%h-%p /kh/all"), ("identityfile", "/k/%r")),
    )
    route = resolve(Host("cp-1", "10.0.0.4", user="ops", ssh=settings))
    assert route.target.known_hosts == ("/kh/cp-1-22", "/kh/all")
    assert route.target.identities == ("/k/ops",)


# --- ssh itself as the oracle ----------------------------------------------------------------

ORACLE_CONFIGS = [
    "Host alias*\n    HostName Real-%h.example\n    Port 2222\n    User bob\n"
    "    UserKnownHostsFile /kh/%h_%p_%r_%n_%k_%C /kh/%l_%L_%i_%%\n"
    "Host *\n    UserKnownHostsFile /kh/default-%n\n",
    "Host *\n    UserKnownHostsFile /kh/%C-%h\n",
    "Match originalhost ALIAS*\n    User matched\nHost *\n    UserKnownHostsFile /kh/%r/%h\n",
    "Host a* !alias2\n    Port 2200\nHost *\n    UserKnownHostsFile /kh/%p\n",
    'Host *\n    UserKnownHostsFile "/k h/a" \'/k h/b\' /k\\ h/c g"h i"j # comment\n',
]


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs OpenSSH's ssh")
@pytest.mark.parametrize("text", ORACLE_CONFIGS)
@pytest.mark.parametrize("name", ["alias1", "alias2", "ALIAS3", "other"])
def test_the_same_files_as_ssh_G(tmp_path: Path, text: str, name: str) -> None:
    settings = config(tmp_path, text)
    assert settings.config_file is not None
    ssh = ssh_g(settings.config_file, name)
    route = resolve(Host(name, name, user=os.environ.get("USER", "root"), ssh=settings))
    # ssh -G prints the files space-separated (so the quoting case is compared joined)
    assert " ".join(route.target.known_hosts) == ssh["userknownhostsfile"]
    assert route.target.address.lower() == ssh["hostname"]
    assert str(route.target.port) == ssh["port"]
    assert route.target.user == ssh["user"]
