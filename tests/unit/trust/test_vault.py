"""The vault: round trips, every way decryption must fail, key loading, files and rekey."""

from __future__ import annotations

import base64
import os
import pickle
import re
import stat
import sys
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkpointctl.errors import VaultError
from checkpointctl.trust import vault
from checkpointctl.trust.vault import (
    VaultKey,
    decrypt,
    decrypt_file,
    encrypt,
    encrypt_file,
    find_vaulted,
    is_vaulted,
    load_key,
    rekey_file,
    rekey_files,
    rekey_text,
    vault_path_for,
)

PLAINTEXT = b"S3cr3t-Plaintext-do-not-leak"
PATH = "credentials.api-login.secret"
WRONG_KEY_MSG = (
    f"cannot decrypt {PATH}: wrong vault key or the value was modified / moved from another field"
)

# One scrypt key per session keeps the suite fast; the raw keys cost nothing to derive.
PASSWORD_KEY = VaultKey.from_password(b"correct horse battery staple")
RAW_A = VaultKey("raw", bytes(range(32)))
RAW_B = VaultKey("raw", bytes(range(1, 33)))


def _blob(text: str) -> bytes:
    return base64.b64decode("".join(text.split()[1:]))


def _with_blob(text: str, blob: bytes) -> str:
    return text.split("\n", 1)[0] + "\n" + base64.b64encode(blob).decode()


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("key", [PASSWORD_KEY, RAW_A], ids=["scrypt", "raw"])
def test_round_trip(key: VaultKey) -> None:
    text = encrypt(PLAINTEXT, key, PATH)
    assert text.split("\n")[0] == f"$CHECKPOINTCTL_VAULT;1;AES256GCM;{key.kdf}"
    assert is_vaulted(text)
    assert decrypt(text, key, PATH) == PLAINTEXT
    assert PLAINTEXT not in text.encode()


def test_round_trip_through_a_fresh_key_object_with_the_same_password() -> None:
    text = encrypt(PLAINTEXT, PASSWORD_KEY, PATH)
    assert decrypt(text, VaultKey.from_password(b"correct horse battery staple"), PATH) == PLAINTEXT


def test_body_is_wrapped_at_76_columns_and_holds_salt_nonce_ciphertext_tag() -> None:
    text = encrypt(b"x" * 300, RAW_A, PATH)
    body_lines = text.split("\n")[1:]
    assert len(body_lines) > 1
    assert all(len(line) <= 76 for line in body_lines)
    assert len(_blob(text)) == 16 + 12 + 300 + 16


def test_empty_plaintext_round_trips() -> None:
    assert decrypt(encrypt(b"", RAW_A, PATH), RAW_A, PATH) == b""


@pytest.mark.parametrize(
    "reshape",
    [
        pytest.param(lambda t: t + "\n", id="block-literal-trailing-newline"),
        pytest.param(lambda t: t.replace("\n", " "), id="folded-to-spaces"),
        pytest.param(lambda t: t.replace("\n", "\r\n"), id="crlf"),
        pytest.param(lambda t: "  " + t.replace("\n", "\n    ") + "\n\n", id="indented"),
        pytest.param(
            lambda t: t.split("\n")[0] + "\n" + "\n".join(textwrap.wrap("".join(t.split()[1:]), 7)),
            id="rewrapped",
        ),
    ],
)
def test_decrypt_accepts_any_whitespace_in_the_body(reshape: object) -> None:
    text = encrypt(PLAINTEXT * 4, RAW_A, PATH)
    assert callable(reshape)
    assert decrypt(reshape(text), RAW_A, PATH) == PLAINTEXT * 4


def test_fresh_salt_and_nonce_per_encryption() -> None:
    a, b = encrypt(PLAINTEXT, PASSWORD_KEY, PATH), encrypt(PLAINTEXT, PASSWORD_KEY, PATH)
    assert a != b
    blob_a, blob_b = _blob(a), _blob(b)
    assert blob_a[:16] != blob_b[:16]  # salt
    assert blob_a[16:28] != blob_b[16:28]  # nonce


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("enc_key", "dec_key"),
    [
        (PASSWORD_KEY, VaultKey.from_password(b"not the password")),
        (RAW_A, RAW_B),
    ],
    ids=["scrypt", "raw"],
)
def test_wrong_key_names_the_path(enc_key: VaultKey, dec_key: VaultKey) -> None:
    text = encrypt(PLAINTEXT, enc_key, PATH)
    with pytest.raises(VaultError) as err:
        decrypt(text, dec_key, PATH)
    assert str(err.value) == WRONG_KEY_MSG


def test_where_prefixes_the_message_with_file_and_line() -> None:
    text = encrypt(PLAINTEXT, RAW_A, PATH)
    with pytest.raises(VaultError, match=r"^policies/base\.yml:12:15: cannot decrypt "):
        decrypt(text, RAW_B, PATH, where="policies/base.yml:12:15")


@pytest.mark.parametrize("offset", [0, 15, 16, 27, 28, 40, -17, -1], ids=lambda o: f"byte{o}")
def test_tampered_byte_is_refused(offset: int) -> None:
    text = encrypt(PLAINTEXT, RAW_A, PATH)
    blob = bytearray(_blob(text))
    blob[offset] ^= 0x01
    with pytest.raises(VaultError) as err:
        decrypt(_with_blob(text, bytes(blob)), RAW_A, PATH)
    assert str(err.value) == WRONG_KEY_MSG


def test_truncated_or_extended_ciphertext_is_refused() -> None:
    text = encrypt(PLAINTEXT, RAW_A, PATH)
    blob = _blob(text)
    for changed in (blob[:-1], blob + b"\0", blob[:28] + blob[29:]):
        with pytest.raises(VaultError, match="cannot decrypt"):
            decrypt(_with_blob(text, changed), RAW_A, PATH)


def test_value_moved_to_another_field_is_refused() -> None:
    text = encrypt(PLAINTEXT, PASSWORD_KEY, PATH)
    other = "credentials.db-login.secret"
    with pytest.raises(VaultError) as err:
        decrypt(text, PASSWORD_KEY, other)
    assert str(err.value).startswith(f"cannot decrypt {other}: wrong vault key or ")
    assert "moved from another field" in str(err.value)


def test_kdf_mismatch_is_explained() -> None:
    text = encrypt(PLAINTEXT, RAW_A, PATH)
    with pytest.raises(VaultError, match="encrypted with a vault key file, but a vault password"):
        decrypt(text, PASSWORD_KEY, PATH)


_GOOD = encrypt(PLAINTEXT, RAW_A, PATH)
_GOOD_BODY = _GOOD.split("\n", 1)[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "not a vault value"),
        ("hunter2", "not a vault value"),
        (42, "not a vault value"),
        (None, "not a vault value"),
        ("$ANSIBLE_VAULT;1.1;AES256\n6162", "not a vault value"),
        ("$CHECKPOINTCTL_VAULT;1;AES256GCM", "malformed vault header"),
        ("$CHECKPOINTCTL_VAULT;1;AES256GCM;raw;x\n" + _GOOD_BODY, "malformed vault header"),
        ("$CHECKPOINTCTL_VAULT;2;AES256GCM;raw\n" + _GOOD_BODY, "unsupported vault format version"),
        ("$CHECKPOINTCTL_VAULT;1;AES128CBC;raw\n" + _GOOD_BODY, "unsupported vault cipher"),
        ("$CHECKPOINTCTL_VAULT;1;AES256GCM;pbkdf2\n" + _GOOD_BODY, "unsupported vault kdf"),
        ("$CHECKPOINTCTL_VAULT;1;AES256GCM;raw", "too short"),
        ("$CHECKPOINTCTL_VAULT;1;AES256GCM;raw\nAAAA", "too short"),
        ("$CHECKPOINTCTL_VAULT;1;AES256GCM;raw\n" + _GOOD_BODY + "!", "not base64"),
        ("$CHECKPOINTCTL_VAULT;1;AES256GCM;raw\n" + _GOOD_BODY[:-1], "not base64"),
        ("$CHECKPOINTCTL_VAULT;1;AES256GCM;raw\n" + _GOOD_BODY + "é", "not base64"),
    ],
)
def test_malformed_input_is_a_vault_error_naming_the_path(text: object, expected: str) -> None:
    with pytest.raises(VaultError) as err:
        decrypt(text, RAW_A, PATH)
    assert str(err.value).startswith(f"cannot decrypt {PATH}: ")
    assert expected in str(err.value)
    assert PLAINTEXT.decode() not in str(err.value)


def test_unsupported_version_is_quoted_shortly() -> None:
    text = "$CHECKPOINTCTL_VAULT;" + "9" * 500 + ";AES256GCM;raw\n" + _GOOD_BODY
    with pytest.raises(VaultError) as err:
        decrypt(text, RAW_A, PATH)
    assert len(str(err.value)) < 200


def test_encrypt_refuses_an_empty_path() -> None:
    with pytest.raises(VaultError, match="path"):
        encrypt(PLAINTEXT, RAW_A, "")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_fuzz_random_text_only_raises_vault_error(text: str) -> None:
    with pytest.raises(VaultError):
        decrypt(text, RAW_A, PATH)


@settings(max_examples=300, deadline=None)
@given(
    version=st.sampled_from(["1", "2", "", "1.0"]),
    cipher=st.sampled_from(["AES256GCM", "x"]),
    kdf=st.sampled_from(["raw", "scrypt", ""]),
    sep=st.sampled_from(["\n", " ", "\r\n", "\t", ";"]),
    body=st.one_of(
        st.binary(max_size=120).map(lambda b: base64.b64encode(b).decode()),
        st.text(alphabet="ABCDabcd0189+/= \n\r\t-_é", max_size=200),
    ),
)
def test_fuzz_header_and_body_only_raise_vault_error(
    version: str, cipher: str, kdf: str, sep: str, body: str
) -> None:
    text = f"$CHECKPOINTCTL_VAULT;{version};{cipher};{kdf}{sep}{body}"
    with pytest.raises(VaultError):
        decrypt(text, RAW_A, PATH)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_fuzz_mutated_valid_values_never_decrypt_and_never_leak(data: st.DataObject) -> None:
    text = _GOOD
    pos = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    repl = data.draw(st.characters(codec="utf-8"))
    mutated = text[:pos] + repl + text[pos + 1 :]
    try:
        result = decrypt(mutated, RAW_A, PATH)
    except VaultError as e:
        message = str(e)
    else:
        # Only whitespace changes, or base64 changes that decode to the same bytes, may pass.
        assert result == PLAINTEXT
        assert _blob(mutated) == _blob(text) or mutated.split() == text.split()
        return
    assert PLAINTEXT.decode() not in message


def test_plaintext_never_appears_in_any_error_message() -> None:
    text = encrypt(PLAINTEXT, RAW_A, PATH)
    blob = bytearray(_blob(text))
    blob[-1] ^= 1
    attempts: list[Callable[[], object]] = [
        lambda: decrypt(text, RAW_B, PATH),
        lambda: decrypt(text, RAW_A, "credentials.other.secret"),
        lambda: decrypt(_with_blob(text, bytes(blob)), RAW_A, PATH),
        lambda: decrypt(text, PASSWORD_KEY, PATH),
        lambda: rekey_text(f"secret: |\n  {text.replace(chr(10), chr(10) + '  ')}\n", RAW_B, RAW_A),
    ]
    for attempt in attempts:
        with pytest.raises(VaultError) as err:
            attempt()
        assert PLAINTEXT.decode() not in str(err.value)
        assert PLAINTEXT.decode() not in repr(err.value)
        assert err.value.__cause__ is None


def test_key_material_is_not_in_repr_and_cannot_be_pickled() -> None:
    key = VaultKey.from_password(b"very-secret-passphrase")
    assert "very-secret" not in repr(key)
    assert repr(key) == "VaultKey(kdf='scrypt')"
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_empty_password_and_short_raw_key_are_refused() -> None:
    with pytest.raises(VaultError, match="empty"):
        VaultKey.from_password(b"")
    with pytest.raises(VaultError, match="32 bytes"):
        VaultKey("raw", b"k" * 16)


def test_shared_key_decrypts_correctly_from_many_threads() -> None:
    values = [(f"credentials.c{i}.secret", f"value-{i}".encode()) for i in range(4)]
    texts = [(p, encrypt(v, PASSWORD_KEY, p), v) for p, v in values]
    fresh = VaultKey.from_password(b"correct horse battery staple")  # empty cache: races derive
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda t: decrypt(t[1], fresh, t[0]) == t[2], texts * 4))
    assert all(results)
    assert len(results) == 16


# --------------------------------------------------------------------------- key files


def test_key_file_hex_and_base64(tmp_path: Path) -> None:
    raw = os.urandom(32)
    hex_file, b64_file = tmp_path / "k.hex", tmp_path / "k.b64"
    hex_file.write_text(raw.hex() + "\n")
    b64_file.write_text(base64.b64encode(raw).decode() + "\n")
    k1, k2 = VaultKey.from_key_file(hex_file), VaultKey.from_key_file(str(b64_file))
    assert k1.kdf == k2.kdf == "raw"
    assert decrypt(encrypt(PLAINTEXT, k1, PATH), k2, PATH) == PLAINTEXT


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"00" * 31,
        b"00" * 33,
        base64.b64encode(b"k" * 31),
        b"not a key at all \xff",
        b"\0" * 32,
    ],
)
def test_bad_key_file_is_refused_without_showing_it(tmp_path: Path, content: bytes) -> None:
    f = tmp_path / "key"
    f.write_bytes(content)
    with pytest.raises(VaultError, match="must hold a 32-byte key") as err:
        VaultKey.from_key_file(f)
    if content.strip():
        assert content.decode("latin-1").strip() not in str(err.value)


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(VaultError, match="cannot read vault key file"):
        VaultKey.from_key_file(tmp_path / "absent")


# --------------------------------------------------------------------------- load_key


_PROBE_SALT = b"\x01" * 16
_CANDIDATES = {
    pw: VaultKey.from_password(pw)
    for pw in (b"from-file", b"from-script", b"from-env-file", b"from-env", b"from-prompt")
}


def _which_password(key: VaultKey | None) -> bytes | None:
    """Identify a loaded key by the AES key it derives for a fixed salt (candidates are cached)."""
    if key is None:
        return None
    derived = key.derive(_PROBE_SALT)
    return next((pw for pw, c in _CANDIDATES.items() if c.derive(_PROBE_SALT) == derived), b"?")


@pytest.fixture
def pw_file(tmp_path: Path) -> Path:
    f = tmp_path / "pw.txt"
    f.write_bytes(b"from-file\r\nsecond line ignored\n")
    f.chmod(0o600)
    return f


@pytest.fixture
def pw_script(tmp_path: Path) -> Path:
    f = tmp_path / "pw.sh"
    f.write_text("#!/bin/sh\necho from-script\necho ignored\n")
    f.chmod(0o700)
    return f


@pytest.fixture
def env_pw_file(tmp_path: Path) -> Path:
    f = tmp_path / "env-pw.txt"
    f.write_text("from-env-file\n")
    return f


def test_load_key_from_password_file_takes_first_line(pw_file: Path) -> None:
    assert _which_password(load_key(str(pw_file), env={})) == b"from-file"


def test_load_key_keeps_inner_whitespace_of_the_password(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    f.write_bytes(b" a b \n")
    key = load_key(str(f), env={})
    assert key is not None
    text = encrypt(b"v", key, "p")
    assert decrypt(text, VaultKey.from_password(b" a b "), "p") == b"v"


def test_load_key_runs_an_executable_password_file(pw_script: Path) -> None:
    assert _which_password(load_key(str(pw_script), env={})) == b"from-script"


def test_load_key_runs_a_relative_script_from_the_cwd_not_from_path(
    pw_script: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    decoy_dir = tmp_path / "bin"
    decoy_dir.mkdir()
    decoy = decoy_dir / "pw.sh"
    decoy.write_text("#!/bin/sh\necho from-prompt\n")
    decoy.chmod(0o700)
    monkeypatch.setenv("PATH", f"{decoy_dir}:{os.environ['PATH']}")
    monkeypatch.chdir(pw_script.parent)
    assert _which_password(load_key("pw.sh", env={})) == b"from-script"


def test_failing_password_script_is_reported_without_its_output(tmp_path: Path) -> None:
    f = tmp_path / "bad.sh"
    f.write_text("#!/bin/sh\necho half-a-secret\nexit 3\n")
    f.chmod(0o700)
    with pytest.raises(VaultError, match="exited with status 3") as err:
        load_key(str(f), env={})
    assert "half-a-secret" not in str(err.value)


def test_password_script_that_cannot_run(tmp_path: Path) -> None:
    f = tmp_path / "notascript"
    f.write_text("just a password, but executable\n")
    f.chmod(0o700)
    with pytest.raises(VaultError, match="cannot run vault password script"):
        load_key(str(f), env={})


@pytest.mark.parametrize("content", [b"", b"\n", b"\r\nsecond"])
def test_empty_password_file_is_an_error(tmp_path: Path, content: bytes) -> None:
    f = tmp_path / "pw"
    f.write_bytes(content)
    with pytest.raises(VaultError, match="empty password"):
        load_key(str(f), env={})


def test_missing_password_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(VaultError, match="cannot read vault password file"):
        load_key(str(tmp_path / "absent"), env={})


def test_load_key_precedence(pw_file: Path, pw_script: Path, env_pw_file: Path) -> None:
    env_all = {
        vault.ENV_PASSWORD_FILE: str(env_pw_file),
        vault.ENV_PASSWORD: "from-env",
    }
    assert _which_password(load_key(str(pw_file), env=env_all)) == b"from-file"
    assert _which_password(load_key(str(pw_script), env=env_all)) == b"from-script"
    assert _which_password(load_key(None, env=env_all)) == b"from-env-file"
    assert _which_password(load_key(None, env={vault.ENV_PASSWORD: "from-env"})) == b"from-env"
    empty = {vault.ENV_PASSWORD_FILE: "", vault.ENV_PASSWORD: ""}
    assert load_key(None, env=empty) is None
    assert load_key(None, env={}) is None


def test_load_key_from_key_file_argument_and_env(tmp_path: Path, pw_file: Path) -> None:
    kf = tmp_path / "vault.key"
    kf.write_text(bytes(range(32)).hex())
    from_arg = load_key(None, key_file=str(kf), env={vault.ENV_PASSWORD: "from-env"})
    from_env = load_key(None, env={vault.ENV_KEY_FILE: str(kf), vault.ENV_PASSWORD: "from-env"})
    for key in (from_arg, from_env):
        assert key is not None
        assert key.kdf == "raw"
        assert decrypt(encrypt(b"v", key, "p"), RAW_A, "p") == b"v"
    with pytest.raises(VaultError, match="not both"):
        load_key(str(pw_file), key_file=str(kf), env={})


def test_an_empty_password_file_name_is_not_silently_ignored() -> None:
    with pytest.raises(VaultError, match="cannot read vault password file"):
        load_key("", env={vault.ENV_PASSWORD: "from-env"})


def test_interactive_without_a_tty_gives_none(monkeypatch: pytest.MonkeyPatch) -> None:
    # Under pytest stdin is not a terminal, so no prompt may be attempted.
    assert not sys.stdin.isatty()
    assert load_key(None, env={}, interactive=True) is None


def _run_on_a_tty(code: str, answers: list[bytes]) -> bytes:
    """Run ``code`` with a pseudo-terminal as its controlling terminal, answering its prompts.

    Each answer is typed only after a prompt ending in ``": "`` shows up, because getpass
    flushes input typed earlier. If the child stops producing output for a long time it is
    killed, so a broken prompt fails the test instead of hanging the suite.
    """
    import pty
    import select
    import signal

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - child
        os.execv(sys.executable, [sys.executable, "-c", code])
    out = b""
    pending = list(answers)
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 60)
            if not ready:
                break  # hung: the finally clause kills the child and the asserts fail
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if pending and out.endswith(b": "):
                os.write(fd, pending.pop(0))
    finally:
        if os.waitpid(pid, os.WNOHANG) == (0, 0):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    return out


_PROMPT_CODE = """
from checkpointctl.errors import VaultError
from checkpointctl.trust.vault import VaultKey, decrypt, encrypt, load_key
try:
    key = load_key(None, env={}, interactive=True, confirm=True, prompt="New vault password: ")
except VaultError as e:
    print("ERROR", e)
else:
    text = encrypt(b"v", key, "p")
    print("OK" if decrypt(text, VaultKey.from_password(b"from-prompt"), "p") == b"v" else "BAD")
"""


def test_interactive_prompt_on_a_tty_asks_twice() -> None:
    out = _run_on_a_tty(_PROMPT_CODE, [b"from-prompt\n", b"from-prompt\n"])
    assert b"New vault password: " in out
    assert b"Confirm new vault password: " in out
    assert b"OK" in out
    assert b"from-prompt" not in out  # not echoed


def test_interactive_prompt_mismatch_is_an_error() -> None:
    out = _run_on_a_tty(_PROMPT_CODE, [b"from-prompt\n", b"something-else\n"])
    assert b"ERROR the vault passwords entered do not match" in out


# --------------------------------------------------------------------------- files


def _no_temp_files(directory: Path) -> bool:
    return not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


def test_encrypt_and_decrypt_file_round_trip_keeping_mode(tmp_path: Path) -> None:
    f = tmp_path / "secrets.yml"
    original = b"db: " + PLAINTEXT + b"\n\xff binary too\n"
    f.write_bytes(original)
    f.chmod(0o640)
    encrypt_file(str(f), RAW_A)
    vaulted = f.read_text()
    assert vaulted.startswith("$CHECKPOINTCTL_VAULT;1;AES256GCM;raw\n")
    assert PLAINTEXT not in f.read_bytes()
    assert stat.S_IMODE(f.stat().st_mode) == 0o640
    assert decrypt(vaulted, RAW_A, "file:secrets.yml") == original
    decrypt_file(str(f), RAW_A)
    assert f.read_bytes() == original
    assert stat.S_IMODE(f.stat().st_mode) == 0o640
    assert _no_temp_files(tmp_path)


def test_encrypt_file_twice_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "s"
    f.write_bytes(b"x")
    encrypt_file(str(f), RAW_A)
    before = f.read_bytes()
    with pytest.raises(VaultError, match="already vault-encrypted"):
        encrypt_file(str(f), RAW_A)
    assert f.read_bytes() == before


def test_decrypt_file_with_wrong_key_leaves_the_file_untouched(tmp_path: Path) -> None:
    f = tmp_path / "s.yml"
    f.write_bytes(PLAINTEXT)
    encrypt_file(str(f), RAW_A)
    before = f.read_bytes()
    with pytest.raises(VaultError) as err:
        decrypt_file(str(f), RAW_B)
    assert str(err.value).startswith(f"{f}: cannot decrypt file:s.yml: wrong vault key or ")
    assert f.read_bytes() == before
    assert _no_temp_files(tmp_path)


def test_decrypt_file_refuses_a_renamed_file(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yml", tmp_path / "b.yml"
    a.write_bytes(PLAINTEXT)
    encrypt_file(str(a), RAW_A)
    a.rename(b)
    with pytest.raises(VaultError, match="renamed"):
        decrypt_file(str(b), RAW_A)


def test_decrypt_file_refuses_a_plain_file(tmp_path: Path) -> None:
    f = tmp_path / "plain"
    f.write_text("hello\n")
    with pytest.raises(VaultError, match="is not vault-encrypted"):
        decrypt_file(str(f), RAW_A)


def test_file_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    target, link = tmp_path / "real.yml", tmp_path / "link.yml"
    target.write_bytes(PLAINTEXT)
    link.symlink_to(target)
    encrypt_file(str(link), RAW_A)
    assert link.is_symlink()
    assert is_vaulted(target.read_text())
    decrypt_file(str(target), RAW_A)  # bound to the real file's name
    assert target.read_bytes() == PLAINTEXT


def test_missing_file_is_a_vault_error(tmp_path: Path) -> None:
    with pytest.raises(VaultError, match="cannot read"):
        encrypt_file(str(tmp_path / "absent"), RAW_A)


# --------------------------------------------------------------------------- paths


POLICY_DOC = {
    "apiVersion": "checkpointctl/v1",
    "spec": {
        "credentials": [{"name": "api-login", "secret": "x"}, {"secret": "y"}],
        "containers": [{"name": "probe", "env": {"API_KEY": "z", "A.B": "w"}}],
        "registries": {"trusted": [{"name": "a b", "password": "p"}]},
    },
}


@pytest.mark.parametrize(
    ("node_path", "expected"),
    [
        (["spec", "credentials", 0, "secret"], "credentials.api-login.secret"),
        (["spec", "credentials", 1, "secret"], "credentials[1].secret"),
        (["spec", "containers", 0, "env", "API_KEY"], "containers.probe.env.API_KEY"),
        (["spec", "containers", 0, "env", "A.B"], "containers.probe.env.A.B"),
        (["spec", "containers", 0, "env", "A B"], 'containers.probe.env["A B"]'),
        (["spec", "registries", "trusted", 0, "password"], 'registries.trusted["a b"].password'),
        (["spec", "credentials", 7, "secret"], "credentials[7].secret"),
        (["all", "vars", "db_password"], "all.vars.db_password"),
        (["file:x"], '["file:x"]'),
    ],
)
def test_vault_path_for(node_path: list[str | int], expected: str) -> None:
    assert vault_path_for(node_path, POLICY_DOC) == expected


@given(name=st.from_regex(r"[a-z0-9][a-z0-9._-]{0,62}", fullmatch=True))
def test_vault_path_for_equals_the_plain_form_for_every_schema_valid_name(name: str) -> None:
    # The policy builder may spell these paths as f-strings; they must agree for valid names.
    doc = {"spec": {"credentials": [{"name": name}], "containers": [{"name": name}]}}
    assert vault_path_for(["spec", "credentials", 0, "secret"], doc) == f"credentials.{name}.secret"
    env_path: list[str | int] = ["spec", "containers", 0, "env", "API_KEY"]
    assert vault_path_for(env_path, doc) == f"containers.{name}.env.API_KEY"


def test_vault_path_for_is_stable_when_a_list_is_reordered() -> None:
    doc = {"spec": {"credentials": [{"name": "b"}, {"name": "a"}]}}
    assert vault_path_for(["spec", "credentials", 1, "secret"], doc) == "credentials.a.secret"


# --------------------------------------------------------------------------- rekey


def _block(value: str, indent: str) -> str:
    return "".join(f"{indent}{line}\n" for line in value.split("\n"))


def _policy(key: VaultKey) -> tuple[str, dict[str, bytes]]:
    secrets = {
        "credentials.api-login.secret": b"api-password-1",
        "credentials.db.secret": b"db-password-2",
        "containers.probe.env.API_TOKEN": b"token-3",
        "containers.probe.env.OTHER": b"token-4",
    }
    enc = {p: encrypt(v, key, p) for p, v in secrets.items()}
    text = (
        "# Policy for the Amsterdam checkpoints  \n"
        "apiVersion: checkpointctl/v1\n"
        "kind: CheckpointPolicy\n"
        "metadata: {name: ams}   # inline comment\n"
        "spec:\n"
        "  credentials:\n"
        "    - name: api-login\n"
        "      username: monitor\n"
        "      secret: |  # rotated 2024-05\n"
        + _block(enc["credentials.api-login.secret"], "        ")
        + "\n"
        "      # comment between items\n"
        "    - name: db\n"
        "      secret: &dbsecret >-\n"
        + _block(enc["credentials.db.secret"], "          ")
        + "  containers:\n"
        "    - name: probe\n"
        "      env:\n"
        "        PLAIN: 'hello'\n"
        f'        API_TOKEN: "{enc["containers.probe.env.API_TOKEN"].replace(chr(10), " ")}"\n'
        f"        OTHER: {enc['containers.probe.env.OTHER'].replace(chr(10), ' ')}   # plain\n"
        "        ALIAS: *dbsecret\n"
        "...\n"
    )
    return text, secrets


def _masked(text: str) -> str:
    """The text with every vaulted scalar replaced by a marker: what rekey must not change."""
    out, pos = [], 0
    for v in find_vaulted(text):
        out += [text[pos : v.start], f"<{v.path}|{v.style}>"]
        pos = v.end
    return "".join([*out, text[pos:]])


def _values(text: str, key: VaultKey) -> dict[str, bytes]:
    return {v.path: decrypt(v.text, key, v.path) for v in find_vaulted(text)}


def test_find_vaulted_reports_paths_and_positions() -> None:
    text, secrets = _policy(RAW_A)
    found = find_vaulted(text, source="p.yml")
    assert [v.path for v in found] == list(secrets)
    assert (found[0].line, found[0].col, found[0].style) == (9, 15, "|")
    assert text[found[0].start : found[0].end].startswith("|  # rotated")
    assert _values(text, RAW_A) == secrets


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_rekey_text_changes_only_the_vaulted_values(newline: str) -> None:
    text, secrets = _policy(RAW_A)
    text = text.replace("\n", newline)
    new = rekey_text(text, RAW_A, RAW_B)
    assert new != text
    assert _masked(new) == _masked(text)
    assert _values(new, RAW_B) == secrets
    assert newline == "\r\n" or "\r" not in new
    if newline == "\r\n":
        assert new.count("\r\n") == new.count("\n")
    for v in find_vaulted(new):
        with pytest.raises(VaultError):
            decrypt(v.text, RAW_A, v.path)
    assert yaml.safe_load(new.replace("\r\n", "\n"))["spec"]["containers"][0]["env"]["ALIAS"]


def test_rekey_text_from_password_to_key_file_changes_the_header() -> None:
    text, secrets = _policy(RAW_A)
    text = rekey_text(text, RAW_A, PASSWORD_KEY)
    assert "AES256GCM;scrypt" in text
    assert "AES256GCM;raw" not in text
    assert _values(text, PASSWORD_KEY) == secrets
    back = rekey_text(text, PASSWORD_KEY, RAW_A)
    assert _masked(back) == _masked(text)
    assert _values(back, RAW_A) == secrets


def test_rekey_text_wrong_old_key_names_file_line_and_field() -> None:
    text, _ = _policy(RAW_A)
    with pytest.raises(VaultError) as err:
        rekey_text(text, RAW_B, RAW_A, source="policies/ams.yml")
    assert str(err.value).startswith(
        "policies/ams.yml:9:15: cannot decrypt credentials.api-login.secret: wrong vault key"
    )


def test_rekey_text_without_vaulted_values_returns_the_text() -> None:
    text = "a: 1  # comment\nb: [x, 'y']\n"
    assert rekey_text(text, RAW_A, RAW_B) == text


def test_rekey_text_handles_several_documents_and_keeps_separators() -> None:
    one = encrypt(b"first", RAW_A, "credentials.a.secret")
    two = encrypt(b"second", RAW_A, "credentials.a.secret")
    text = (
        "spec:\n  credentials:\n    - name: a\n      secret: |\n"
        + _block(one, "        ")
        + "---\n# doc two\nspec:\n  credentials:\n    - name: a\n      secret: |-\n"
        + _block(two, "        ")
    )
    new = rekey_text(text, RAW_A, RAW_B)
    assert _masked(new) == _masked(text)
    assert [decrypt(v.text, RAW_B, v.path) for v in find_vaulted(new)] == [b"first", b"second"]


def test_rekey_text_invalid_yaml_is_a_vault_error_with_location() -> None:
    with pytest.raises(VaultError, match=r"^p\.yml:2:5: cannot parse YAML: mapping values"):
        rekey_text("a: 1\nb: c: d\n", RAW_A, RAW_B, source="p.yml")


def test_rekey_text_refuses_python_tags() -> None:
    with pytest.raises(VaultError, match="cannot"):
        rekey_text("a: !!python/object/apply:os.system ['true']\n", RAW_A, RAW_B)


def test_rekey_file_yaml_and_whole_file(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yml"
    text, secrets = _policy(RAW_A)
    policy.write_text(text)
    policy.chmod(0o600)
    whole = tmp_path / "secret.bin"
    whole.write_bytes(PLAINTEXT)
    encrypt_file(str(whole), RAW_A)
    assert rekey_file(str(policy), RAW_A, RAW_B) == 4
    assert rekey_file(str(whole), RAW_A, RAW_B) == 1
    assert stat.S_IMODE(policy.stat().st_mode) == 0o600
    assert _masked(policy.read_text()) == _masked(text)
    assert _values(policy.read_text(), RAW_B) == secrets
    decrypt_file(str(whole), RAW_B)
    assert whole.read_bytes() == PLAINTEXT
    assert _no_temp_files(tmp_path)


def test_rekey_files_writes_nothing_unless_every_file_rekeys(tmp_path: Path) -> None:
    good, bad, plain = tmp_path / "good.yml", tmp_path / "bad.yml", tmp_path / "plain.yml"
    good.write_text(_policy(RAW_A)[0])
    bad.write_text(_policy(RAW_B)[0])  # encrypted with another key
    plain.write_text("a: 1\n")
    before = {p: p.read_bytes() for p in (good, bad, plain)}
    with pytest.raises(VaultError, match=re.escape(f"{bad}:9:15: cannot decrypt")):
        rekey_files([str(good), str(bad), str(plain)], RAW_A, RAW_B)
    assert {p: p.read_bytes() for p in before} == before
    count = rekey_files([str(good), str(plain)], RAW_A, RAW_B)
    assert count == vault.RekeyCount(values=4, files_changed=1, files=2)
    assert plain.read_bytes() == before[plain]
    assert _values(good.read_text(), RAW_B) == _policy(RAW_A)[1]
