"""Ansible Vault without Ansible: the envelope, the keys, the passwords and their sources.

The ciphertexts come from ansible-vault itself (the corpus, made with ansible-core 2.19), so
a decryption that passes here is one Ansible agrees with.
"""

from __future__ import annotations

import os
import pty
import stat
import sys
from pathlib import Path

import pytest

from checkpointctl.errors import VaultError
from checkpointctl.inventory.ansible_vault import (
    VaultPasswords,
    decrypt_with,
    is_vaulted,
    parse_envelope,
    passwords_from,
    read_password_file,
    split_vault_id,
)

CORPUS = Path(__file__).resolve().parent / "corpus"
FILE_11 = (CORPUS / "14-vault-files" / "secret-hosts.ini").read_text()
FILE_12 = (CORPUS / "14-vault-files" / "host_vars" / "web1.yml").read_text()


def _pw(value: bytes) -> VaultPasswords:
    return VaultPasswords([(None, lambda: value)])


def test_a_1_1_file_decrypts_with_its_password() -> None:
    plain = _pw(b"corpus-password").decrypt(FILE_11)
    assert plain.startswith(b"[secret]\nsec1 token=abc")


def test_a_1_2_file_names_its_vault_id_and_that_password_is_tried_first() -> None:
    envelope = parse_envelope(FILE_12)
    assert (envelope.version, envelope.cipher, envelope.vault_id) == ("1.2", "AES256", "prod")
    asked: list[str] = []

    def source(label: str, value: bytes):  # type: ignore[no-untyped-def]
        def give() -> bytes:
            asked.append(label)
            return value

        return give

    passwords = VaultPasswords(
        [(None, source("default", b"corpus-password")), ("prod", source("prod", b"prod-password"))]
    )
    assert passwords.decrypt(FILE_12) == b"host_secret: h-1\n"
    assert asked == ["prod"]  # the labelled password, and only it, was needed


def test_a_wrong_password_is_refused_by_the_hmac_not_by_garbage_plaintext() -> None:
    assert decrypt_with(parse_envelope(FILE_11), b"wrong") is None
    with pytest.raises(VaultError, match="no Ansible vault password given decrypts"):
        _pw(b"wrong").decrypt(FILE_11)


def test_without_any_password_the_error_says_how_to_give_one() -> None:
    with pytest.raises(VaultError, match="--ansible-vault-password-file"):
        VaultPasswords([]).decrypt(FILE_11)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("plain text", "no \\$ANSIBLE_VAULT header"),
        ("$ANSIBLE_VAULT;1.0;AES\n00", "version '1.0' is not supported"),
        ("$ANSIBLE_VAULT;1.1;AES128\n00", "cipher 'AES128' is not supported"),
        ("$ANSIBLE_VAULT;1.1;AES256\nzz", "damaged"),
        ("$ANSIBLE_VAULT;1.1;AES256\n" + "61" * 10, "damaged"),
    ],
)
def test_malformed_envelopes_are_named(text: str, message: str) -> None:
    with pytest.raises(VaultError, match=message):
        parse_envelope(text)


def test_a_flipped_ciphertext_bit_fails_the_hmac() -> None:
    envelope = parse_envelope(FILE_11)
    damaged = envelope.__class__(
        envelope.version,
        envelope.cipher,
        envelope.vault_id,
        envelope.salt,
        envelope.mac,
        bytes([envelope.ciphertext[0] ^ 1]) + envelope.ciphertext[1:],
    )
    assert decrypt_with(damaged, b"corpus-password") is None


def test_is_vaulted() -> None:
    assert is_vaulted(FILE_11)
    assert is_vaulted(b"  $ANSIBLE_VAULT;1.1;AES256")
    assert not is_vaulted("all:\n  hosts: {}\n")


def test_password_files_are_read_as_ansible_reads_them(tmp_path: Path) -> None:
    plain = tmp_path / "pw"
    plain.write_bytes(b"  two words\n\n")
    assert read_password_file(str(plain)) == b"two words"  # the whole file, stripped
    script = tmp_path / "pw.sh"
    script.write_text("#!/bin/sh\nprintf 'from-script\\n'\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    assert read_password_file(str(script)) == b"from-script"


def test_password_file_failures_are_clear_and_never_show_output(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(VaultError, match="gave an empty password"):
        read_password_file(str(empty))
    with pytest.raises(VaultError, match="cannot read Ansible vault password file"):
        read_password_file(str(tmp_path / "missing"))
    failing = tmp_path / "fail.sh"
    failing.write_text("#!/bin/sh\necho half-a-secret\nexit 3\n")
    failing.chmod(0o700)
    with pytest.raises(VaultError, match="exited with status 3") as exc:
        read_password_file(str(failing))
    assert "half-a-secret" not in str(exc.value)


def test_passwords_come_from_flags_then_ansibles_variable_and_only_when_needed(
    tmp_path: Path,
) -> None:
    flag = tmp_path / "flag"
    flag.write_text("corpus-password\n")
    env_file = tmp_path / "env"
    env_file.write_text("unused\n")
    env = {"ANSIBLE_VAULT_PASSWORD_FILE": str(env_file)}
    from_flag = passwords_from([str(flag)], env=env)
    assert from_flag.decrypt(FILE_11).startswith(b"[secret]")
    from_env = passwords_from(None, env={"ANSIBLE_VAULT_PASSWORD_FILE": str(flag)})
    assert from_env.decrypt(FILE_11).startswith(b"[secret]")
    # a missing file is only an error once a vaulted value needs it
    lazy = passwords_from([str(tmp_path / "missing")], env={})
    assert lazy
    with pytest.raises(VaultError, match="cannot read"):
        lazy.decrypt(FILE_11)
    assert not passwords_from(None, env={}, interactive=False)


def test_label_at_file_gives_a_vault_id_unless_the_whole_name_is_a_file(tmp_path: Path) -> None:
    assert split_vault_id("prod@/etc/pw") == ("prod", "/etc/pw")
    odd = tmp_path / "a@b"
    odd.write_text("x")
    assert split_vault_id(str(odd)) == (None, str(odd))
    assert split_vault_id("/plain/path") == (None, "/plain/path")


def test_repr_shows_labels_never_passwords() -> None:
    passwords = VaultPasswords([("prod", lambda: b"prod-password")])
    passwords.decrypt(FILE_12)
    assert "prod-password" not in repr(passwords)
    assert "prod" in repr(passwords)


_ASK_ON_A_TERMINAL = """
import sys
from checkpointctl.inventory.ansible_vault import passwords_from
passwords = passwords_from(["prod@prompt"], env={})
sys.stdout.write(passwords.decrypt(open(sys.argv[1]).read()).decode())
"""


def test_label_at_prompt_asks_on_the_terminal_when_a_value_needs_it(tmp_path: Path) -> None:
    """``--vault-id prod@prompt``: a real pseudo-terminal, the question names the vault id."""
    vaulted = tmp_path / "web1.yml"
    vaulted.write_text(FILE_12)
    pid, fd = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty
        os.execv(sys.executable, [sys.executable, "-c", _ASK_ON_A_TERMINAL, str(vaulted)])
    seen = b""
    answered = False
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
        if not answered and b"Ansible vault password (prod): " in seen:
            os.write(fd, b"prod-password\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert answered
    assert b"host_secret: h-1" in seen
    assert b"prod-password" not in seen  # getpass does not echo it


def test_label_at_prompt_without_a_terminal_is_an_error_not_a_wait() -> None:
    passwords = passwords_from(["prod@prompt"], env={})
    with pytest.raises(VaultError, match=r"--vault-id prod@prompt needs a terminal"):
        passwords.decrypt(FILE_12)


def test_a_file_named_prompt_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "prompt").write_text("prod-password\n")
    monkeypatch.chdir(tmp_path)
    assert passwords_from(["prod@prompt"], env={}).decrypt(FILE_12) == b"host_secret: h-1\n"
