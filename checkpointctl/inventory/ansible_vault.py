"""Ansible Vault: ``!vault |`` values and vault-encrypted files, decrypted without Ansible.

The format is Ansible's documented one (``docs.ansible.com``, "Vault format"): a header line
``$ANSIBLE_VAULT;1.1;AES256`` (or ``1.2;AES256;<vault-id>``), then the hexlified *envelope*
wrapped at 80 columns. The envelope, once unhexlified, is three lines of hex: the 32-byte salt,
the HMAC-SHA256 of the ciphertext, and the ciphertext. PBKDF2-HMAC-SHA256 (10,000 iterations)
stretches the password and salt into 80 bytes: the AES-256 key, the HMAC key and the CTR
counter's initial block. The plaintext is PKCS#7-padded to the AES block size before CTR
encryption (a historical quirk the format keeps).

Ansible-core is GPL, so this is written from the format, with ``cryptography``; the
differential test (tests/unit/inventory/test_oracle.py) checks it against ansible-vault.

Why a lazy :class:`VaultPasswords`: most inventories hold no vaulted value, so nobody is asked
for a password (or has a password script run) unless a vaulted value is actually read.
Decrypted values become :class:`~checkpointctl.model.Secret` in the callers, never ``str``.
"""

from __future__ import annotations

import binascii
import getpass
import hmac
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from hashlib import sha256

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from checkpointctl.errors import VaultError
from checkpointctl.inventory.ansiblecfg import VaultDefaults

HEADER = "$ANSIBLE_VAULT"
ENV_PASSWORD_FILE = "ANSIBLE_VAULT_PASSWORD_FILE"  # noqa: S105  (a variable's name)
ITERATIONS = 10_000
KEY_LEN = 32
IV_LEN = 16
SCRIPT_TIMEOUT = 60.0
_READ_MAX = 64 * 1024


def is_vaulted(text: str | bytes) -> bool:
    """Whether ``text`` is an Ansible vault envelope (a whole file or a ``!vault`` value)."""
    head = text.lstrip()[: len(HEADER)]
    return (head.decode("ascii", "replace") if isinstance(head, bytes) else head) == HEADER


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed vault text: header fields and the three binary parts."""

    version: str
    cipher: str
    vault_id: str | None
    salt: bytes
    mac: bytes
    ciphertext: bytes


def parse_envelope(text: str | bytes) -> Envelope:
    """Split a vault text into its parts.

    Raises:
        VaultError: not a vault text, an unsupported version or cipher, or bad hex.
    """
    raw = text.decode("ascii", "replace") if isinstance(text, bytes) else text
    lines = raw.strip().splitlines()
    if not lines or not lines[0].startswith(HEADER + ";"):
        raise VaultError("not an Ansible vault text (no $ANSIBLE_VAULT header)")
    fields = [f.strip() for f in lines[0].strip().split(";")]
    version = fields[1] if len(fields) > 1 else ""
    cipher = fields[2] if len(fields) > 2 else ""
    if version not in ("1.1", "1.2"):
        raise VaultError(f"Ansible vault format version {version!r} is not supported (1.1, 1.2)")
    if cipher != "AES256":
        raise VaultError(f"Ansible vault cipher {cipher!r} is not supported (AES256)")
    vault_id = fields[3] if version == "1.2" and len(fields) > 3 and fields[3] else None
    try:
        body = binascii.unhexlify("".join(line.strip() for line in lines[1:]))
        salt_hex, mac_hex, data_hex = body.split(b"\n", 2)
        salt = binascii.unhexlify(salt_hex)
        mac = binascii.unhexlify(mac_hex)
        ciphertext = binascii.unhexlify(data_hex.strip())
    except (ValueError, binascii.Error):
        raise VaultError("the Ansible vault text is damaged (bad hex envelope)") from None
    return Envelope(version, cipher, vault_id, salt, mac, ciphertext)


def _keys(password: bytes, salt: bytes) -> tuple[bytes, bytes, bytes]:
    kdf = PBKDF2HMAC(
        algorithm=hashes.SHA256(), length=2 * KEY_LEN + IV_LEN, salt=salt, iterations=ITERATIONS
    )
    derived = kdf.derive(password)
    return derived[:KEY_LEN], derived[KEY_LEN : 2 * KEY_LEN], derived[2 * KEY_LEN :]


def decrypt_with(envelope: Envelope, password: bytes) -> bytes | None:
    """The plaintext, or None when ``password`` is not the one (the HMAC does not match)."""
    aes_key, mac_key, iv = _keys(password, envelope.salt)
    expected = hmac.new(mac_key, envelope.ciphertext, sha256).digest()
    if not hmac.compare_digest(expected, envelope.mac):
        return None
    decryptor = Cipher(algorithms.AES(aes_key), modes.CTR(iv)).decryptor()
    padded = decryptor.update(envelope.ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(algorithms.AES.block_size).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise VaultError("the Ansible vault text is damaged (bad padding)") from None


PasswordSource = Callable[[], bytes]
"""Gives one password when first needed (reads a file, runs a script or prompts)."""


class VaultPasswords:
    """The Ansible vault passwords of one command, each obtained on first use.

    A 1.2 text names its vault id: the password of that label is tried first, then the
    others, as Ansible does. Passwords are held as bytes in this object only; its ``repr``
    shows labels, never material.
    """

    def __init__(self, sources: list[tuple[str | None, PasswordSource]]) -> None:
        self._sources = list(sources)
        self._cache: dict[int, bytes] = {}

    def __repr__(self) -> str:
        return f"VaultPasswords({[label for label, _ in self._sources]!r})"

    def __bool__(self) -> bool:
        return bool(self._sources)

    def _password(self, index: int) -> bytes:
        if index not in self._cache:
            self._cache[index] = self._sources[index][1]()
        return self._cache[index]

    def decrypt(self, text: str | bytes) -> bytes:
        """The plaintext of a vault text.

        Raises:
            VaultError: no password was given, none fits, or the text is malformed.
        """
        envelope = parse_envelope(text)
        if not self._sources:
            raise VaultError(
                "an Ansible-vaulted value needs the vault password: give "
                f"--ansible-vault-password-file FILE or ${ENV_PASSWORD_FILE}"
            )
        order = sorted(
            range(len(self._sources)),
            key=lambda i: self._sources[i][0] != envelope.vault_id,
        )
        for i in order:
            plain = decrypt_with(envelope, self._password(i))
            if plain is not None:
                return plain
        named = f" (vault id {envelope.vault_id!r})" if envelope.vault_id else ""
        raise VaultError(f"no Ansible vault password given decrypts this value{named}")


def read_password_file(path: str) -> bytes:
    """A password from a file as Ansible reads it: the whole file without surrounding
    whitespace, or, if the file is executable, the stdout of running it (argv ``[path]``, no
    shell, a timeout) without its line ending.

    Raises:
        VaultError: the file is missing or unreadable, the script fails, or it gives nothing.
    """
    try:
        st = os.stat(path)
    except OSError as e:
        raise VaultError(f"cannot read Ansible vault password file {path}: {e.strerror}") from None
    if stat.S_ISREG(st.st_mode) and os.access(path, os.X_OK):
        try:
            done = subprocess.run(  # argv of a file the user named, no shell
                [os.path.abspath(path)],
                stdout=subprocess.PIPE,
                check=False,
                timeout=SCRIPT_TIMEOUT,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise VaultError(f"cannot run Ansible vault password script {path}: {e}") from None
        if done.returncode != 0:
            # stdout may hold part of a secret: the message reports only the status
            raise VaultError(
                f"Ansible vault password script {path} exited with status {done.returncode}"
            )
        password = done.stdout.strip(b"\r\n")
    else:
        try:
            with open(path, "rb") as fh:
                password = fh.read(_READ_MAX).strip()
        except OSError as e:
            raise VaultError(
                f"cannot read Ansible vault password file {path}: {e.strerror}"
            ) from None
    if not password:
        raise VaultError(f"Ansible vault password file {path} gave an empty password")
    return password


PROMPT = "prompt"
"""The password source Ansible's ``--vault-id`` spells ``prompt``: ask on the terminal."""


def split_vault_id(value: str) -> tuple[str | None, str]:
    """``label@file`` → (label, file); a plain path has no label (Ansible's ``--vault-id``)."""
    label, sep, path = value.partition("@")
    if sep and label and path and not os.path.exists(value):
        return label, path
    return None, value


def passwords_from(
    files: list[str] | None,
    *,
    env: Mapping[str, str] = os.environ,
    interactive: bool = False,
    config: VaultDefaults | None = None,
) -> VaultPasswords:
    """The passwords a command was given, the way our own vault finds its key.

    1. Each ``--ansible-vault-password-file`` / ``--vault-id`` (``label@FILE`` gives the vault
       id; ``prompt`` or ``label@prompt``, as with Ansible's ``--vault-id``, asks on the
       terminal when a value first needs it, unless a file of that name exists).
    2. Else ``$ANSIBLE_VAULT_PASSWORD_FILE`` (Ansible's own variable).
    3. Else a prompt on first use, when ``interactive`` and stdin is a TTY.
    4. Else none: a vaulted value is then an error naming where it is.

    With ``config`` (the Ansible config's vault settings, which already read
    ``$ANSIBLE_VAULT_PASSWORD_FILE``), as Ansible combines them instead: the config's
    ``vault_identity_list``, then the command line's, then its ``vault_password_file``, and a
    prompt with ``ask_vault_pass`` (or, when there is nothing else, on a terminal).
    """
    if config is not None:
        return _as_ansible_does(files or [], config, interactive)
    sources = [_vault_id_source(item) for item in files or []]
    if not sources and env.get(ENV_PASSWORD_FILE):
        sources.append((None, _file_source(env[ENV_PASSWORD_FILE])))
    if not sources and interactive and sys.stdin is not None and sys.stdin.isatty():
        sources.append((None, _prompt))
    return VaultPasswords(sources)


def _vault_id_source(item: str) -> tuple[str | None, PasswordSource]:
    """``[label@]FILE`` or ``[label@]prompt``, as ``--vault-id`` takes it."""
    label, path = split_vault_id(item)
    if path == PROMPT and not os.path.exists(path):
        return label, _prompt_source(label)
    return label, _file_source(path)


def _as_ansible_does(files: list[str], config: VaultDefaults, interactive: bool) -> VaultPasswords:
    sources = [_vault_id_source(item) for item in (*config.identity_list, *files)]
    if config.password_file:
        sources.append((config.identity, _file_source(config.password_file)))
    if config.ask or (not sources and interactive and sys.stdin is not None and sys.stdin.isatty()):
        sources.append((config.identity, _prompt_source(config.identity)))
    return VaultPasswords(sources)


def _file_source(path: str) -> PasswordSource:
    return lambda: read_password_file(path)


def _prompt_source(label: str | None) -> PasswordSource:
    """A password asked on the terminal when first needed; an error without a terminal (a
    pipeline given ``label@prompt`` must fail, not wait on input that never comes)."""

    def ask() -> bytes:
        if sys.stdin is None or not sys.stdin.isatty():
            named = f"{label}@{PROMPT}" if label else PROMPT
            raise VaultError(f"--vault-id {named} needs a terminal to ask on")
        return _prompt(label)

    return ask


def _prompt(label: str | None = None) -> bytes:
    question = f"Ansible vault password ({label}): " if label else "Ansible vault password: "
    try:
        entered = getpass.getpass(question)
    except EOFError:
        raise VaultError("no Ansible vault password entered") from None
    if not entered:
        raise VaultError("the Ansible vault password entered is empty")
    return entered.encode("utf-8", "surrogateescape")
