"""Signing keys and host keys: files, modes, passphrases, key IDs, and refusals."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pickle
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

from checkpointctl.cli.main import main
from checkpointctl.errors import TrustError
from checkpointctl.trust.keys import (
    ENV_PASSPHRASE,
    ENV_PASSPHRASE_FILE,
    format_host_public_key,
    generate_host_key,
    generate_signing_key,
    key_id,
    load_host_key,
    load_passphrase,
    load_public_key,
    load_signing_key,
    parse_host_public_key,
    parse_public_key,
    write_host_key,
    write_signing_key,
)

PASS = b"correct horse battery staple"


@pytest.fixture(autouse=True)
def _no_passphrase_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_PASSPHRASE, raising=False)
    monkeypatch.delenv(ENV_PASSPHRASE_FILE, raising=False)


def mode(path: str | Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_key_id_is_the_first_16_hex_of_sha256_of_the_raw_public_key() -> None:
    key = generate_signing_key()
    assert key.key_id == hashlib.sha256(key.public.raw).hexdigest()[:16]
    assert key_id(b"\x00" * 32) == hashlib.sha256(b"\x00" * 32).hexdigest()[:16]


def test_encrypted_key_files_modes_and_round_trip(tmp_path: Path) -> None:
    key = generate_signing_key()
    key_path, pub_path = write_signing_key(str(tmp_path / "fleet"), key, PASS)
    assert (key_path, pub_path) == (str(tmp_path / "fleet.key"), str(tmp_path / "fleet.pub"))
    assert mode(key_path) == 0o600
    assert mode(pub_path) == 0o644
    pem = Path(key_path).read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    loaded = load_signing_key(key_path, PASS)
    assert loaded.key_id == key.key_id
    assert load_public_key(pub_path).key_id == key.key_id
    message = b"manifest bytes"
    assert load_public_key(pub_path).verify(loaded.sign(message), message)


def test_key_files_are_0600_even_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        key_path, _ = write_signing_key(str(tmp_path / "k"), generate_signing_key(), PASS)
    finally:
        os.umask(old)
    assert mode(key_path) == 0o600


def test_wrong_or_missing_passphrase_is_refused(tmp_path: Path) -> None:
    key_path, _ = write_signing_key(str(tmp_path / "k"), generate_signing_key(), PASS)
    with pytest.raises(TrustError, match="wrong passphrase"):
        load_signing_key(key_path, b"not it")
    with pytest.raises(TrustError, match="is encrypted: give its passphrase"):
        load_signing_key(key_path, None)


def test_unencrypted_key_never_asks_for_a_passphrase(tmp_path: Path) -> None:
    key = generate_signing_key()
    key_path, _ = write_signing_key(str(tmp_path / "k"), key, None)
    assert Path(key_path).read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")

    def ask() -> bytes:
        raise AssertionError("the passphrase was asked for an unencrypted key")

    assert load_signing_key(key_path, ask).key_id == key.key_id


def test_empty_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TrustError, match="passphrase is empty"):
        write_signing_key(str(tmp_path / "k"), generate_signing_key(), b"")


def test_existing_files_are_not_overwritten_without_force(tmp_path: Path) -> None:
    prefix = str(tmp_path / "k")
    first = generate_signing_key()
    write_signing_key(prefix, first, PASS)
    with pytest.raises(TrustError, match="already exists"):
        write_signing_key(prefix, generate_signing_key(), PASS)
    assert load_signing_key(prefix + ".key", PASS).key_id == first.key_id
    second = generate_signing_key()
    write_signing_key(prefix, second, PASS, force=True)
    assert load_signing_key(prefix + ".key", PASS).key_id == second.key_id


def test_public_key_file_with_an_edited_key_id_is_refused(tmp_path: Path) -> None:
    key = generate_signing_key()
    doc = json.loads(key.public.to_text())
    doc["key_id"] = "0" * 16
    with pytest.raises(TrustError, match="the file was edited"):
        parse_public_key(json.dumps(doc), "x.pub")


def test_pem_public_keys_are_accepted_and_other_algorithms_refused() -> None:
    key = generate_signing_key()
    pem = key.public.key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    assert parse_public_key(pem, "k.pem").key_id == key.key_id
    ec = generate_private_key(SECP256R1()).public_key()
    ec_pem = ec.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with pytest.raises(TrustError, match="not an Ed25519 public key"):
        parse_public_key(ec_pem, "ec.pem")
    with pytest.raises(TrustError, match="not a checkpointctl public key"):
        parse_public_key("hello", "junk.pub")


def test_a_non_ed25519_private_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ec.key"
    path.write_bytes(
        generate_private_key(SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(TrustError, match="not an Ed25519 private key"):
        load_signing_key(str(path), None)


def test_key_objects_hide_material() -> None:
    key = generate_signing_key()
    host = generate_host_key()
    assert repr(key) == f"SigningKey(key_id={key.key_id!r})"
    assert repr(host) == f"HostKey(key_id={host.key_id!r})"
    for obj in (key, host):
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(obj)


def test_derivation_secrets_differ_per_label_and_per_key() -> None:
    a, b = generate_signing_key(), generate_signing_key()
    assert a.derivation_secret(b"x") == a.derivation_secret(b"x")
    assert a.derivation_secret(b"x") != a.derivation_secret(b"y")
    assert a.derivation_secret(b"x") != b.derivation_secret(b"x")


# --- passphrase sources ------------------------------------------------------------------------


def test_passphrase_sources_in_order(tmp_path: Path) -> None:
    f1 = tmp_path / "p1"
    f1.write_bytes(b"from-file\nsecond line ignored\n")
    f2 = tmp_path / "p2"
    f2.write_bytes(b"from-env-file\r\n")
    env = {ENV_PASSPHRASE_FILE: str(f2), ENV_PASSPHRASE: "from-env"}
    assert load_passphrase(str(f1), env=env) == b"from-file"
    assert load_passphrase(None, env=env) == b"from-env-file"
    assert load_passphrase(None, env={ENV_PASSPHRASE: "from-env"}) == b"from-env"
    assert load_passphrase(None, env={}) is None


def test_empty_or_missing_passphrase_file_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"\n")
    with pytest.raises(TrustError, match="is empty"):
        load_passphrase(str(empty), env={})
    with pytest.raises(TrustError, match="cannot read passphrase file"):
        load_passphrase(str(tmp_path / "nope"), env={})


# --- host keys ---------------------------------------------------------------------------------


def test_host_key_files_and_public_text(tmp_path: Path) -> None:
    key = generate_host_key()
    path = str(tmp_path / "host.key")
    write_host_key(path, key)
    assert mode(path) == 0o600
    text = (tmp_path / "host.pub").read_text().strip()
    assert text == key.public_text() == format_host_public_key(key.public_raw)
    assert text.startswith("x25519:")
    assert base64.b64decode(text[len("x25519:") :]) == key.public_raw
    assert load_host_key(path).key_id == key.key_id
    assert parse_host_public_key(text, "inventory host a") == key.public_raw


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "must be 'x25519:<base64>'"),
        (42, "must be 'x25519:<base64>'"),
        ("ssh-ed25519 AAAA", "must be 'x25519:<base64>'"),
        ("x25519:not base64!", "not a base64 32-byte X25519 key"),
        ("x25519:" + base64.b64encode(b"short").decode(), "not a base64 32-byte X25519 key"),
    ],
)
def test_bad_host_public_keys_name_the_host(value: object, message: str) -> None:
    with pytest.raises(TrustError, match=message) as info:
        parse_host_public_key(value, "inventory host cp-1")
    assert "inventory host cp-1" in str(info.value)


def test_missing_host_key_says_to_run_agent_init(tmp_path: Path) -> None:
    with pytest.raises(TrustError, match="run `checkpointctl agent init`"):
        load_host_key(str(tmp_path / "host.key"))


# --- the CLI -----------------------------------------------------------------------------------


def test_keygen_refuses_an_unencrypted_key_without_the_explicit_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keygen", "-o", str(tmp_path / "k")]) == 1
    assert "pass --unencrypted explicitly" in capsys.readouterr().err
    assert not (tmp_path / "k.key").exists()


def test_keygen_with_a_passphrase_file_and_unencrypted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pp = tmp_path / "pp"
    pp.write_text("s3cret phrase\n")
    assert main(["keygen", "-o", str(tmp_path / "a"), "--passphrase-file", str(pp)]) == 0
    out = capsys.readouterr().out
    kid = load_public_key(str(tmp_path / "a.pub")).key_id
    assert f"key ID {kid}" in out
    assert "encrypted" in out
    assert load_signing_key(str(tmp_path / "a.key"), b"s3cret phrase").key_id == kid
    assert main(["keygen", "-o", str(tmp_path / "b"), "--unencrypted"]) == 0
    assert load_signing_key(str(tmp_path / "b.key"), None).key_id in capsys.readouterr().out
    assert mode(tmp_path / "b.key") == 0o600
