"""Quoted paths with spaces in ssh_config, split exactly as OpenSSH splits a line.

paramiko's parser stripped the quotes around a whole value and nothing else: a quoted
UserKnownHostsFile with a space became two files, two quoted files one garbled name, and a
ProxyCommand whose first and last words were quoted lost those quotes.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from checkpointctl.errors import TransportError
from checkpointctl.model import Host, SshSettings
from checkpointctl.transport.ssh.route import resolve
from checkpointctl.transport.ssh.sshconfig import argv_split, parse_text


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read the real ~/.ssh/config."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def route_for(tmp_path: Path, block: str) -> Host:
    path = tmp_path / "ssh_config"
    path.write_text("Host cp-1\n" + block)
    return Host("cp-1", "cp-1", ssh=SshSettings(given=frozenset(), config_file=str(path)))


def test_a_quoted_identity_file_with_a_space_is_one_path(tmp_path: Path) -> None:
    host = route_for(
        tmp_path,
        '    IdentityFile "/home/op/my keys/id"\n'
        "    IdentityFile /home/op/other\\ keys/id  # the spare key\n"
        "    IdentityFile='/home/op/third keys/id'\n",
    )
    assert resolve(host).target.identities == (
        "/home/op/my keys/id",
        "/home/op/other keys/id",
        "/home/op/third keys/id",
    )


def test_two_words_for_one_identity_file_are_an_error_as_in_ssh(tmp_path: Path) -> None:
    host = route_for(tmp_path, "    IdentityFile /home/op/my keys/id\n")
    with pytest.raises(TransportError, match=r"ssh_config:2: identityfile takes one argument"):
        resolve(host)


@pytest.mark.parametrize(
    ("value", "files"),
    [
        ('"/a b/known"', ("/a b/known",)),
        ('"/a b/k1" "/c d/k2"', ("/a b/k1", "/c d/k2")),
        ("'/a b/k1' /c\\ d/k2 /e/k3", ("/a b/k1", "/c d/k2", "/e/k3")),
        ('/a/"b c"/k # comment', ("/a/b c/k",)),
    ],
)
def test_quoted_known_hosts_files_with_spaces(
    tmp_path: Path, value: str, files: tuple[str, ...]
) -> None:
    host = route_for(tmp_path, f"    UserKnownHostsFile {value}\n")
    assert resolve(host).target.known_hosts == files


def test_a_quoted_proxycommand_keeps_its_quotes_for_the_command_line(tmp_path: Path) -> None:
    host = route_for(tmp_path, '    ProxyCommand "/opt/my tools/nc" -x "%h" %p\n')
    command = resolve(host).target.proxy_command
    assert command == '"/opt/my tools/nc" -x "cp-1" 22'
    assert command is not None
    assert shlex.split(command) == ["/opt/my tools/nc", "-x", "cp-1", "22"]


def test_an_unclosed_quote_names_the_file_and_line(tmp_path: Path) -> None:
    host = route_for(tmp_path, '    User ops\n    IdentityFile "/home/op/my keys/id\n')
    with pytest.raises(TransportError, match=r"ssh_config:3: IdentityFile .*quote is not closed"):
        resolve(host)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a b\tc", ["a", "b", "c"]),
        ('"a b" c', ["a b", "c"]),
        ("'a \"b' c", ['a "b', "c"]),
        ('a\\ b \\"c\\" d\\\\e \\x', ["a b", '"c"', "d\\e", "\\x"]),
        ('"a\\ b"', ["a\\ b"]),  # a backslash before a space escapes it only outside quotes
        ("a #b", ["a"]),
        ("a#b", ["a#b"]),
        ('""', [""]),
    ],
)
def test_argv_split_is_opensshs(text: str, words: list[str]) -> None:
    assert argv_split(text) == words


def test_keyword_and_value_separated_by_an_equals_sign() -> None:
    parsed = parse_text("Host=cp-1\nPort = 2222\nUser= ops\nHostName =h\n", "cfg")
    settings = {s.keyword: s.args for s in parsed.lookup("cp-1")["port"]}
    assert settings == {"port": ("2222",)}
    options = parsed.lookup("cp-1")
    assert [options[k][0].args for k in ("user", "hostname")] == [("ops",), ("h",)]
