"""The vault verbs end to end through the CLI: the key and the value never come from argv."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
import yaml

from checkpointctl.cli.main import main
from checkpointctl.cli.vault import encrypt_string_snippet, rekey_summary
from checkpointctl.trust import vault


class _Stdin(io.TextIOWrapper):
    def isatty(self) -> bool:
        return False


def _stdin(data: bytes) -> _Stdin:
    return _Stdin(io.BytesIO(data))


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    p = tmp_path / "pw"
    p.write_text("unit-test-passphrase\n")
    return p


def test_encrypt_string_reads_the_value_from_stdin_and_binds_the_path(
    password_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", _stdin(b"hunter2-plaintext\n"))
    code = main(
        [
            "vault",
            "encrypt-string",
            "--name",
            "credentials.api.secret",
            "--vault-password-file",
            str(password_file),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "hunter2-plaintext" not in out
    text = yaml.safe_load(out)["secret"]
    key = vault.VaultKey.from_password(b"unit-test-passphrase")
    assert vault.decrypt(text, key, "credentials.api.secret") == b"hunter2-plaintext"
    with pytest.raises(vault.VaultError):
        vault.decrypt(text, key, "credentials.other.secret")


def test_without_a_key_the_error_says_where_keys_come_from(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for var in (
        "CHECKPOINTCTL_VAULT_PASSWORD",
        "CHECKPOINTCTL_VAULT_PASSWORD_FILE",
        "CHECKPOINTCTL_VAULT_KEY_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(sys, "stdin", _stdin(b"x"))
    code = main(["vault", "encrypt-string", "--name", "credentials.api.secret"])
    err = capsys.readouterr().err
    assert code == 1
    assert "checkpointctl: error: no vault key" in err
    assert "--vault-password-file" in err


def test_encrypt_then_decrypt_a_file_in_place(
    tmp_path: Path, password_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("a private note\n")
    assert main(["vault", "encrypt", str(target), "--vault-password-file", str(password_file)]) == 0
    assert "a private note" not in target.read_text()
    assert main(["vault", "decrypt", str(target), "--vault-password-file", str(password_file)]) == 0
    assert target.read_text() == "a private note\n"
    capsys.readouterr()


def test_render_never_shows_a_decrypted_secret(
    tmp_path: Path, password_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = Path(__file__).resolve().parents[2]
    code = main(
        [
            "render",
            str(repo / "policies"),
            "-i",
            str(repo / "inventories" / "prod.yml"),
            "--host",
            "cp-ams-1",
            "--vault-password-file",
            str(repo / "examples" / "lab-vault-password"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "secret: <sensitive>" in out
    assert "correct-horse" not in out


# --- the verbs' text (moved here from trust/vault: trust returns data, the CLI words it) -------

SNIPPET_PLAINTEXT = b"S3cr3t-Plaintext-do-not-leak"
SNIPPET_PATH = "credentials.api-login.secret"
PASSWORD_KEY = vault.VaultKey.from_password(b"correct horse battery staple")
RAW_A = vault.VaultKey("raw", bytes(range(32)))


def test_yaml_block_scalar_round_trip() -> None:
    snippet = encrypt_string_snippet(SNIPPET_PLAINTEXT, SNIPPET_PATH, PASSWORD_KEY)
    assert snippet.startswith("secret: |\n  $CHECKPOINTCTL_VAULT;1;AES256GCM;scrypt\n")
    assert snippet.endswith("\n")
    loaded = yaml.safe_load(snippet)
    assert vault.decrypt(loaded["secret"], PASSWORD_KEY, SNIPPET_PATH) == SNIPPET_PLAINTEXT


def test_encrypt_string_quotes_an_unusual_field_name() -> None:
    snippet = encrypt_string_snippet(b"v", 'containers.probe.env["A: B"]', RAW_A, name="A: B")
    loaded = yaml.safe_load(snippet)
    assert vault.decrypt(loaded["A: B"], RAW_A, 'containers.probe.env["A: B"]') == b"v"


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (vault.RekeyCount(values=4, files_changed=1, files=2), "rekeyed 4 values in 1 of 2 files"),
        (vault.RekeyCount(values=1, files_changed=1, files=1), "rekeyed 1 value in 1 of 1 files"),
    ],
)
def test_rekey_summary(count: vault.RekeyCount, text: str) -> None:
    assert rekey_summary(count) == text
