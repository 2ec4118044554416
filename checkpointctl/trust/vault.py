"""The vault: secrets kept in the policy repo with authenticated encryption.

A vaulted value is text that fits in a YAML block scalar::

    secret: |
      $CHECKPOINTCTL_VAULT;1;AES256GCM;scrypt
      3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
      ...

The first token is the header ``$CHECKPOINTCTL_VAULT;<version>;<cipher>;<kdf>``; the rest is
base64 (any whitespace, including the newlines a YAML block keeps or the spaces a folded
scalar makes, is ignored) of ``salt(16) || nonce(12) || ciphertext || tag(16)``.

Why these choices:

- **AES-256-GCM** authenticates as well as encrypts: a wrong key and a modified value are both
  detected before any plaintext is returned.
- **The value's logical path is the associated data** (see :func:`vault_path_for`), so a
  ciphertext copied from ``credentials.db.secret`` into ``credentials.api.secret`` fails to
  decrypt instead of silently handing one system's password to another. A whole vaulted file is
  bound to ``file:<basename>`` the same way.
- **Keys**: ``scrypt`` (n=2**15, r=8, p=1) stretches a passphrase, with a fresh random salt per
  value; ``raw`` is a 32-byte key file (hex or base64) from which a per-value key is drawn with
  HKDF-SHA256 over the same salt, so no two values ever share an AES key and the random 96-bit
  nonce never has to carry uniqueness alone. Derived keys are cached per salt in the
  :class:`VaultKey` (thread-safe), so decrypting the same policy for many hosts pays scrypt once
  per value.
- **Keys never come from command-line arguments** (they would show in ``ps`` and shell history):
  see :func:`load_key`.

Every failure is a :class:`~checkpointctl.errors.VaultError` whose message names the value's path
(and, where known, the file and line) and never contains plaintext or key material. File writes
are atomic (temporary file, fsync, ``os.replace``) and keep the file's mode, so an error never
leaves a half-written file.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import json
import os
import re
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NoReturn

import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from checkpointctl.errors import VaultError
from checkpointctl.localfile import write_atomic

__all__ = [
    "ENV_KEY_FILE",
    "ENV_PASSWORD",
    "ENV_PASSWORD_FILE",
    "MAGIC",
    "PLAIN_SEGMENT",
    "RekeyCount",
    "VaultKey",
    "VaultedValue",
    "decrypt",
    "decrypt_file",
    "encrypt",
    "encrypt_file",
    "find_vaulted",
    "is_vaulted",
    "load_key",
    "rekey_file",
    "rekey_files",
    "rekey_text",
    "vault_path_for",
]

MAGIC = "$CHECKPOINTCTL_VAULT"
VERSION = "1"
CIPHER = "AES256GCM"
Kdf = Literal["scrypt", "raw"]

# S105: these are the environment variables' names, not passwords.
ENV_PASSWORD_FILE = "CHECKPOINTCTL_VAULT_PASSWORD_FILE"  # noqa: S105
ENV_PASSWORD = "CHECKPOINTCTL_VAULT_PASSWORD"  # noqa: S105
ENV_KEY_FILE = "CHECKPOINTCTL_VAULT_KEY_FILE"

SALT_LEN = 16
NONCE_LEN = 12
TAG_LEN = 16
KEY_LEN = 32
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
WRAP = 76
_HKDF_INFO = b"checkpointctl-vault-v1 raw"
_CACHE_MAX = 4096
_PASSWORD_READ_MAX = 64 * 1024
_WHITESPACE = re.compile(r"\s+")
PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9_.-]+")
"""A name that needs no quoting, in a vault path or as a YAML key."""


class VaultKey:
    """A vault key: a passphrase (scrypt) or a raw 32-byte key (from a key file).

    It holds key material, so its ``repr`` shows only the kind and it cannot be pickled. Per-value
    keys derived from it are cached by salt under a lock: many threads may share one ``VaultKey``.
    """

    __slots__ = ("_cache", "_kdf", "_lock", "_secret")

    def __init__(self, kdf: Kdf, secret: bytes) -> None:
        """A key of kind ``kdf``; prefer :meth:`from_password` and :meth:`from_key_file`.

        Raises:
            VaultError: a raw key is not 32 bytes, or a passphrase is empty.
        """
        if kdf not in ("scrypt", "raw"):
            raise ValueError(f"unknown vault kdf {kdf!r}")
        if kdf == "raw" and len(secret) != KEY_LEN:
            raise VaultError(f"a raw vault key must be {KEY_LEN} bytes")
        if not secret:
            raise VaultError("the vault password is empty")
        self._kdf: Kdf = kdf
        self._secret = bytes(secret)
        self._cache: dict[bytes, bytes] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_password(cls, password: bytes) -> VaultKey:
        """A key stretched from a passphrase with scrypt.

        Raises:
            VaultError: the passphrase is empty.
        """
        return cls("scrypt", password)

    @classmethod
    def from_key_file(cls, path: str | os.PathLike[str]) -> VaultKey:
        """A raw key read from a file holding 32 bytes as 64 hex digits or as base64.

        Raises:
            VaultError: the file cannot be read or does not hold exactly 32 bytes of key.
        """
        try:
            with open(path, "rb") as f:
                data = f.read(_PASSWORD_READ_MAX)
        except OSError as e:
            raise VaultError(
                f"cannot read vault key file {os.fspath(path)}: {e.strerror}"
            ) from None
        return cls("raw", _parse_key_text(data, os.fspath(path)))

    @property
    def kdf(self) -> Kdf:
        """``scrypt`` for a passphrase, ``raw`` for a key file: the header's last field."""
        return self._kdf

    def derive(self, salt: bytes) -> bytes:
        """The 32-byte AES key for one value's salt (cached; safe to call from many threads)."""
        with self._lock:
            cached = self._cache.get(salt)
        if cached is not None:
            return cached
        # Derive outside the lock: scrypt takes ~0.1 s and other salts need not wait for it.
        # Two threads racing on one salt compute the same key; the second store is harmless.
        if self._kdf == "scrypt":
            derived = Scrypt(salt=salt, length=KEY_LEN, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(
                self._secret
            )
        else:
            derived = HKDF(
                algorithm=hashes.SHA256(), length=KEY_LEN, salt=salt, info=_HKDF_INFO
            ).derive(self._secret)
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.pop(next(iter(self._cache)))
            self._cache[salt] = derived
        return derived

    def __repr__(self) -> str:
        return f"VaultKey(kdf={self._kdf!r})"

    def __reduce__(self) -> NoReturn:  # pickling would copy key material somewhere unplanned
        raise TypeError("VaultKey objects cannot be pickled")


def _parse_key_text(data: bytes, where: str) -> bytes:
    text = data.strip()
    if re.fullmatch(rb"[0-9a-fA-F]{64}", text):
        return bytes.fromhex(text.decode("ascii"))
    try:
        raw = base64.b64decode(_WHITESPACE.sub("", text.decode("ascii")), validate=True)
    except (UnicodeDecodeError, binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_LEN:
        raise VaultError(
            f"vault key file {where} must hold a {KEY_LEN}-byte key as 64 hex digits or base64"
        )
    return raw


# --------------------------------------------------------------------------- loading keys


def load_key(
    password_file: str | None,
    *,
    env: Mapping[str, str] = os.environ,
    interactive: bool = False,
    key_file: str | None = None,
    confirm: bool = False,
    prompt: str = "Vault password: ",
) -> VaultKey | None:
    """Find the vault key the way the CLI promises, first match wins.

    1. ``key_file`` (a raw key file, ``--vault-key-file``) or ``password_file``
       (``--vault-password-file``); giving both is an error.
    2. ``$CHECKPOINTCTL_VAULT_KEY_FILE``, then ``$CHECKPOINTCTL_VAULT_PASSWORD_FILE``, then
       ``$CHECKPOINTCTL_VAULT_PASSWORD`` (empty variables count as unset).
    3. A prompt (``getpass``; asked twice when ``confirm``) if ``interactive`` and stdin is a TTY.
    4. Otherwise ``None``: the caller decides whether a key was needed.

    A password file gives its first line without the line ending. If the file is executable it
    is run instead (argv ``[path]``, no shell, stdin and stderr inherited, like Ansible's
    password scripts) and the first line of its stdout is the password. A key never comes from
    an argument's *value*: only file names do.

    Raises:
        VaultError: a named file is missing, unreadable or empty, a script fails, or the
            confirmation does not match.
    """
    if key_file is not None and password_file is not None:
        raise VaultError("give either a vault key file or a vault password file, not both")
    if key_file is not None:
        return VaultKey.from_key_file(key_file)
    if password_file is not None:
        return VaultKey.from_password(_read_password_file(password_file))
    if env.get(ENV_KEY_FILE):
        return VaultKey.from_key_file(env[ENV_KEY_FILE])
    if env.get(ENV_PASSWORD_FILE):
        return VaultKey.from_password(_read_password_file(env[ENV_PASSWORD_FILE]))
    if env.get(ENV_PASSWORD):
        return VaultKey.from_password(env[ENV_PASSWORD].encode("utf-8", "surrogateescape"))
    if interactive and sys.stdin is not None and sys.stdin.isatty():
        return VaultKey.from_password(_prompt_password(prompt, confirm))
    return None


def _first_line(data: bytes) -> bytes:
    return data.split(b"\n", 1)[0].rstrip(b"\r")


def _read_password_file(path: str) -> bytes:
    try:
        st = os.stat(path)
    except OSError as e:
        raise VaultError(f"cannot read vault password file {path}: {e.strerror}") from None
    if stat.S_ISREG(st.st_mode) and os.access(path, os.X_OK):
        password = _run_password_script(path)
    else:
        try:
            with open(path, "rb") as f:
                password = _first_line(f.read(_PASSWORD_READ_MAX))
        except OSError as e:
            raise VaultError(f"cannot read vault password file {path}: {e.strerror}") from None
    if not password:
        raise VaultError(f"vault password file {path} gave an empty password")
    return password


def _run_password_script(path: str) -> bytes:
    # An absolute path, so a bare name like "pw.sh" runs the file named, not one found on PATH.
    argv = [os.path.abspath(path)]
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, check=False)
    except OSError as e:
        raise VaultError(f"cannot run vault password script {path}: {e.strerror}") from None
    if done.returncode != 0:
        # stdout may hold part of a secret: the message reports only the exit status.
        raise VaultError(f"vault password script {path} exited with status {done.returncode}")
    return _first_line(done.stdout)


def _prompt_password(prompt: str, confirm: bool) -> bytes:
    try:
        first = getpass.getpass(prompt)
        if confirm and getpass.getpass("Confirm " + prompt[:1].lower() + prompt[1:]) != first:
            raise VaultError("the vault passwords entered do not match")
    except EOFError:
        raise VaultError("no vault password entered") from None
    return first.encode("utf-8", "surrogateescape")


# --------------------------------------------------------------------------- values


def is_vaulted(text: object) -> bool:
    """Whether ``text`` is a vaulted value (a string starting with the vault header)."""
    return isinstance(text, str) and text.lstrip().startswith(MAGIC + ";")


def encrypt(plaintext: bytes, key: VaultKey, path: str) -> str:
    """Encrypt ``plaintext`` for the field ``path`` (the associated data).

    Returns the header line and the base64 body wrapped at 76 columns, joined by ``\\n``, with
    no trailing newline. Each call draws a fresh salt and nonce, so equal inputs give different
    outputs.

    Raises:
        VaultError: ``path`` is empty (a value must be bound to somewhere).
    """
    if not path:
        raise VaultError("cannot encrypt: the vault path (associated data) is empty")
    salt = os.urandom(SALT_LEN)
    nonce = os.urandom(NONCE_LEN)
    sealed = AESGCM(key.derive(salt)).encrypt(nonce, bytes(plaintext), path.encode("utf-8"))
    body = base64.b64encode(salt + nonce + sealed).decode("ascii")
    lines = [f"{MAGIC};{VERSION};{CIPHER};{key.kdf}"]
    lines += [body[i : i + WRAP] for i in range(0, len(body), WRAP)]
    return "\n".join(lines)


def decrypt(text: object, key: VaultKey, path: str, *, where: str | None = None) -> bytes:
    """Decrypt a vaulted value that was encrypted for the field ``path``.

    ``where`` (e.g. ``policies/base.yml:12:15``) prefixes the error message, so the user sees
    the file and line as well as the field.

    Raises:
        VaultError: the text is not a vault value, its header or base64 is malformed, its
            version, cipher or kdf is unsupported or does not match ``key``, or authentication
            fails (wrong key, modified, or moved from another field). The message names
            ``path`` and never includes the plaintext.
    """
    return _decrypt(text, key, path, where, "the value was modified / moved from another field")


def _decrypt(text: object, key: VaultKey, path: str, where: str | None, moved: str) -> bytes:
    def fail(reason: str) -> VaultError:
        prefix = f"{where}: " if where else ""
        return VaultError(f"{prefix}cannot decrypt {path}: {reason}")

    if not isinstance(text, str):
        raise fail("not a vault value (expected text starting with " + MAGIC + ";)")
    # The header is the first whitespace-free token: a folded or plain YAML scalar turns the
    # line break after it into a space, so any whitespace separates it from the body.
    parts = text.split(None, 1)
    header = parts[0] if parts else ""
    body = parts[1] if len(parts) > 1 else ""
    fields = header.split(";")
    if fields[0] != MAGIC:
        raise fail("not a vault value (expected text starting with " + MAGIC + ";)")
    if len(fields) != 4:
        raise fail(f"malformed vault header (expected {MAGIC};{VERSION};{CIPHER};<kdf>)")
    _, version, cipher, kdf = fields
    if version != VERSION:
        raise fail(
            f"unsupported vault format version {_shown(version)} (this checkpointctl reads "
            f"version {VERSION}; upgrade checkpointctl)"
        )
    if cipher != CIPHER:
        raise fail(f"unsupported vault cipher {_shown(cipher)} (expected {CIPHER})")
    if kdf not in ("scrypt", "raw"):
        raise fail(f"unsupported vault kdf {_shown(kdf)} (expected scrypt or raw)")
    if kdf != key.kdf:
        wants = "a vault password" if kdf == "scrypt" else "a vault key file"
        has = "a vault password" if key.kdf == "scrypt" else "a vault key file"
        raise fail(f"the value was encrypted with {wants}, but {has} was given")
    try:
        blob = base64.b64decode(_WHITESPACE.sub("", body).encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise fail("malformed vault body (not base64)") from None
    if len(blob) < SALT_LEN + NONCE_LEN + TAG_LEN:
        raise fail("malformed vault body (too short)")
    salt, nonce, sealed = blob[:SALT_LEN], blob[SALT_LEN : SALT_LEN + NONCE_LEN], blob[28:]
    try:
        aad = path.encode("utf-8")
        return AESGCM(key.derive(salt)).decrypt(nonce, sealed, aad)
    except (InvalidTag, UnicodeEncodeError):
        raise fail(f"wrong vault key or {moved}") from None


def _shown(field: str) -> str:
    """A header field from untrusted input, shortened for an error message."""
    return repr(field[:20] + ("..." if len(field) > 20 else ""))


# --------------------------------------------------------------------------- paths


def vault_path_for(node_path: Sequence[str | int], doc: object) -> str:
    """The associated-data path of the value at ``node_path`` inside the YAML document ``doc``.

    This is the name a vaulted value is bound to; the policy builder and :func:`rekey_text` both
    compute it with this function, and ``vault encrypt-string`` needs the same string.

    - ``node_path`` lists mapping keys (``str``) and list indexes (``int``) from the document
      root, e.g. ``["spec", "credentials", 0, "secret"]``; ``doc`` is the whole document as
      ``yaml.safe_load`` returns it.
    - A leading ``spec`` is dropped.
    - A list index becomes the item's ``name`` when the item is a mapping with a non-empty
      string ``name`` (so reordering a list does not break decryption), else ``[<index>]``.
    - Segments are joined with ``.``. A segment with characters other than letters, digits,
      ``.``, ``_`` and ``-`` is written ``["..."]`` (JSON-quoted); the policy schema allows
      none in names or env keys, so for valid policies this equals the plain f-strings
      ``credentials.{name}.secret`` and ``containers.{name}.env.{KEY}``. Those stay
      unambiguous although names may contain dots: the field (``secret``) is fixed and env
      keys cannot contain dots, so each path names one field only.

    Examples: ``spec.credentials[i].secret`` whose item is named ``api-login`` gives
    ``credentials.api-login.secret``; ``spec.containers[i].env.API_KEY`` in container ``probe``
    gives ``containers.probe.env.API_KEY``. A whole vaulted file uses ``file:<basename>``
    instead, which this function can never produce (``:`` is quoted).
    """
    parts: list[str] = []
    cur: object = doc
    for i, seg in enumerate(node_path):
        if isinstance(seg, int) and not isinstance(seg, bool):
            item = cur[seg] if isinstance(cur, list) and -len(cur) <= seg < len(cur) else None
            name = item.get("name") if isinstance(item, Mapping) else None
            parts.append(_segment(name) if isinstance(name, str) and name else f"[{seg}]")
            cur = item
        else:
            key = str(seg)
            if not (i == 0 and key == "spec"):
                parts.append(_segment(key))
            cur = _lookup(cur, key)
    return ".".join(parts).replace(".[", "[")


def _segment(name: str) -> str:
    return name if PLAIN_SEGMENT.fullmatch(name) else f"[{json.dumps(name)}]"


def _lookup(cur: object, key: str) -> object:
    if not isinstance(cur, Mapping):
        return None
    if key in cur:
        return cur[key]
    return next((v for k, v in cur.items() if str(k) == key), None)


# --------------------------------------------------------------------------- YAML scan


@dataclass(frozen=True, slots=True)
class VaultedValue:
    """A vaulted scalar found in YAML text, with what is needed to decrypt or replace it."""

    node_path: tuple[str | int, ...]
    """Keys and list indexes from the document root."""
    path: str
    """The associated data, from :func:`vault_path_for`."""
    text: str
    """The scalar's value (header and base64)."""
    line: int
    """1-based line of the scalar in the source text."""
    col: int
    """1-based column of the scalar in the source text."""
    start: int
    """Index in the source text where the scalar's own text begins (after anchors and tags)."""
    end: int
    """Index in the source text where the scalar's text ends."""
    style: str | None
    """The YAML scalar style: ``|``, ``>``, ``'``, ``"`` or ``None`` (plain)."""


def find_vaulted(yaml_text: str, *, source: str = "<string>") -> list[VaultedValue]:
    """Every vaulted scalar *value* in ``yaml_text`` (all documents), in text order.

    Mapping keys are not considered. A node reached again through an alias is reported once,
    at its first (anchored) position; aliases are not walked again, so alias bombs stay cheap.

    Raises:
        VaultError: the text is not valid YAML (the message gives ``source:line:col``).
    """
    try:
        tokens = {
            tok.end_mark.index: tok
            for tok in yaml.scan(yaml_text, Loader=yaml.SafeLoader)
            if isinstance(tok, yaml.ScalarToken)
        }
        roots = list(yaml.compose_all(yaml_text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        at = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise VaultError(f"{at}: cannot parse YAML: {e.problem or e.context}") from None
    except yaml.YAMLError:
        raise VaultError(f"{source}: cannot parse YAML") from None
    found: list[VaultedValue] = []
    for root in roots:
        doc = _construct(root, source)
        seen: set[int] = set()
        for node_path, node in _walk(root, (), seen):
            tok = tokens.get(node.end_mark.index)
            if tok is None:  # pragma: no cover - every scalar node ends where its token ends
                raise VaultError(f"{source}: cannot locate a vaulted value in the text")
            found.append(
                VaultedValue(
                    node_path=node_path,
                    path=vault_path_for(node_path, doc),
                    text=node.value,
                    line=tok.start_mark.line + 1,
                    col=tok.start_mark.column + 1,
                    start=tok.start_mark.index,
                    end=tok.end_mark.index,
                    style=node.style,
                )
            )
    found.sort(key=lambda v: v.start)
    return found


def _construct(root: yaml.Node, source: str) -> object:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(root)
    except yaml.YAMLError:
        raise VaultError(f"{source}: cannot load YAML document") from None
    finally:
        loader.dispose()


def _walk(
    node: yaml.Node, here: tuple[str | int, ...], seen: set[int]
) -> Iterator[tuple[tuple[str | int, ...], yaml.ScalarNode]]:
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        if node.tag == "tag:yaml.org,2002:str" and is_vaulted(node.value):
            yield here, node
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _walk(item, (*here, i), seen)
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(k.start_mark)
            yield from _walk(v, (*here, str(key)), seen)


def _render_scalar(old: str, new_value: str, style: str | None) -> str:
    """New source text for a vaulted scalar, in the old one's style and layout.

    Block scalars (``|``, ``>``) keep their indicator line (with any comment), their content
    indentation, line endings and surrounding blank lines. Flow scalars become one line in the
    same quoting style, which is always valid where the old one stood.
    """
    lines = new_value.split("\n")
    if style in ("|", ">"):
        nl = "\r\n" if "\r\n" in old else "\n"
        first_end = old.index("\n") + 1
        rest = old[first_end:]
        content = re.search(r"\S(?:.*\S)?", rest, re.DOTALL)
        if content is None:  # pragma: no cover - a vaulted value always has content
            raise VaultError("cannot re-encrypt an empty block scalar")
        line_start = rest.rfind("\n", 0, content.start()) + 1
        indent = rest[line_start : content.start()]
        tail = rest[content.end() :]  # the last line's ending and any blank lines after it
        body = nl.join(indent + line for line in lines)
        return old[:first_end] + rest[:line_start] + body + tail
    one_line = " ".join(lines)
    if style == "'":
        return f"'{one_line}'"
    if style == '"':
        return f'"{one_line}"'
    return one_line


# --------------------------------------------------------------------------- rekey


@dataclass(frozen=True, slots=True)
class RekeyCount:
    """What :func:`rekey_files` re-encrypted: values (a whole vaulted file counts one), in how
    many of the files it was given."""

    values: int
    files_changed: int
    files: int


def rekey_text(
    yaml_text: str, old_key: VaultKey, new_key: VaultKey, *, source: str = "<string>"
) -> str:
    """Re-encrypt every vaulted scalar in a YAML text with ``new_key``, changing nothing else.

    Every byte outside the vaulted scalars (comments, order, quoting, blank lines, line
    endings) is kept. All values are decrypted before anything is returned, and the result is
    parsed again and checked to decrypt with ``new_key`` to the same plaintexts at the same
    paths, so a failure leaves the caller with nothing to write.

    Raises:
        VaultError: the text is not valid YAML, or a value does not decrypt with ``old_key``
            (the message gives ``source:line:col`` and the value's path).
    """
    return _rekey_text(yaml_text, old_key, new_key, source)[0]


def _rekey_text(
    yaml_text: str, old_key: VaultKey, new_key: VaultKey, source: str
) -> tuple[str, int]:
    values = find_vaulted(yaml_text, source=source)
    plain = [decrypt(v.text, old_key, v.path, where=f"{source}:{v.line}:{v.col}") for v in values]
    out: list[str] = []
    pos = 0
    for v, p in zip(values, plain, strict=True):
        out.append(yaml_text[pos : v.start])
        out.append(_render_scalar(yaml_text[v.start : v.end], encrypt(p, new_key, v.path), v.style))
        pos = v.end
    out.append(yaml_text[pos:])
    result = "".join(out)
    # Self-check: the spliced text must hold the same values at the same paths.
    again = find_vaulted(result, source=source)
    if [v.path for v in again] != [v.path for v in values] or any(
        decrypt(v.text, new_key, v.path) != p for v, p in zip(again, plain, strict=True)
    ):  # pragma: no cover - guards the splicing logic; no known input reaches it
        raise VaultError(f"{source}: re-encrypted text did not check out; nothing was written")
    return result, len(values)


def _planned_rekey(path: str, old_key: VaultKey, new_key: VaultKey) -> tuple[bytes, int]:
    """The new bytes of ``path`` rekeyed, and how many values changed (0 = leave it)."""
    data = _read_bytes(path)
    text = _decode(data, path)
    if is_vaulted(text):
        aad = _file_aad(path)
        plain = _decrypt(text, old_key, aad, path, _FILE_MOVED)
        return (encrypt(plain, new_key, aad) + "\n").encode("utf-8"), 1
    new_text, count = _rekey_text(text, old_key, new_key, path)
    return new_text.encode("utf-8"), count


def rekey_file(path: str, old_key: VaultKey, new_key: VaultKey) -> int:
    """Re-encrypt a vaulted file, or every vaulted value in a YAML file, with ``new_key``.

    Returns the number of values re-encrypted (1 for a whole vaulted file, 0 when the file
    holds none, in which case it is not rewritten).

    Raises:
        VaultError: the file cannot be read or written, is not UTF-8 or YAML, or a value does
            not decrypt with ``old_key``. The file is then unchanged.
    """
    data, count = _planned_rekey(path, old_key, new_key)
    if count:
        _write_atomic(path, data)
    return count


# --------------------------------------------------------------------------- files

_FILE_MOVED = "the file was modified / renamed (a vaulted file is bound to its file name)"


def _file_aad(path: str) -> str:
    return "file:" + os.path.basename(os.path.realpath(path))


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise VaultError(f"cannot read {path}: {e.strerror}") from None


def _decode(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise VaultError(f"{path}: not UTF-8 text") from None


def _write_atomic(path: str, data: bytes) -> None:
    """Replace ``path`` by ``data`` atomically, keeping its mode (and owner when allowed).

    The data goes to a temporary file in the same directory (created 0600, then given the old
    mode), is fsynced, and renamed over the target, so readers see the old or the new file and
    an error leaves the old one in place. A symlink is followed on purpose: the file the user
    named through it is the one encrypted, and the link stays.
    """
    target = os.path.realpath(path)
    try:
        old = os.stat(target)
        write_atomic(target, data, mode=stat.S_IMODE(old.st_mode), owner=(old.st_uid, old.st_gid))
    except OSError as e:
        raise VaultError(f"cannot write {path}: {e.strerror}") from None


def encrypt_file(path: str, key: VaultKey) -> None:
    """Replace a file by its vaulted form, bound to ``file:<basename>``; mode kept, atomic.

    Raises:
        VaultError: the file cannot be read or written, or is already vaulted.
    """
    data = _read_bytes(path)
    if is_vaulted(data[:4096].decode("utf-8", "replace")):
        raise VaultError(f"{path} is already vault-encrypted")
    _write_atomic(path, (encrypt(data, key, _file_aad(path)) + "\n").encode("ascii"))


def decrypt_file(path: str, key: VaultKey) -> None:
    """Replace a vaulted file by its plaintext; mode kept, atomic, nothing written on error.

    Raises:
        VaultError: the file cannot be read or written, is not vaulted, or does not decrypt
            (wrong key, modified, or renamed: the file name is part of the associated data).
    """
    text = _decode(_read_bytes(path), path)
    if not is_vaulted(text):
        raise VaultError(f"{path} is not vault-encrypted")
    plain = _decrypt(text, key, _file_aad(path), path, _FILE_MOVED)
    _write_atomic(path, plain)


def rekey_files(paths: Sequence[str], old_key: VaultKey, new_key: VaultKey) -> RekeyCount:
    """Re-encrypt vaulted files and vaulted values in YAML files under ``new_key``.

    Every file is decrypted and re-encrypted in memory first; only if all succeed is each file
    replaced (atomically), so a wrong old key on the last file leaves every file unchanged.
    """
    planned = [(p, *_planned_rekey(p, old_key, new_key)) for p in paths]
    changed = [(p, data, n) for p, data, n in planned if n]
    for p, data, _ in changed:
        _write_atomic(p, data)
    return RekeyCount(
        values=sum(n for _, _, n in changed), files_changed=len(changed), files=len(paths)
    )
