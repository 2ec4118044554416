"""Variable values as sources give them: ``!vault`` values decrypted into secrets.

A value read from YAML may be a :class:`~checkpointctl.yamlsource.TaggedScalar`: ``!vault |``
(an Ansible-vaulted string) becomes a :class:`~checkpointctl.model.Secret` here, the moment it
is read, so no plaintext ever sits in a plain ``str``; ``!unsafe`` (Ansible's "never template
this") is its text, since inventory values are never templated. A file that is vaulted as a
whole has every string value turned into a secret (numbers and booleans keep their type: they
are settings such as ports, and a secret cannot be one).
"""

from __future__ import annotations

from collections.abc import Callable

from checkpointctl.errors import CheckpointctlError, Diagnostic, InventoryError, Location
from checkpointctl.inventory.ansible_vault import VaultPasswords
from checkpointctl.model import Secret
from checkpointctl.yamlsource import TaggedScalar

VAULT_TAG = "!vault"
UNSAFE_TAG = "!unsafe"
TAGS = frozenset({VAULT_TAG, UNSAFE_TAG})

Where = Callable[[tuple[str | int, ...]], Location]


def decrypt_value(text: str, passwords: VaultPasswords, where: Location, name: str) -> Secret:
    """A ``!vault`` value as a secret; any failure names the value and where it is."""
    try:
        return Secret(passwords.decrypt(text))
    except CheckpointctlError as exc:
        raise InventoryError([Diagnostic(str(exc), where, name)]) from None


def decrypt_file(text: str, passwords: VaultPasswords, where: Location) -> str:
    """The text of a file vaulted as a whole, to be parsed; its values then become secrets
    (:func:`as_secrets`), so the plaintext lives only while the file is read."""
    try:
        return passwords.decrypt(text).decode("utf-8")
    except UnicodeDecodeError:
        raise InventoryError([Diagnostic("the decrypted file is not UTF-8 text", where)]) from None
    except CheckpointctlError as exc:
        raise InventoryError([Diagnostic(str(exc), where)]) from None


def resolve(
    value: object, passwords: VaultPasswords, where: Where, at: tuple[str | int, ...], name: str
) -> object:
    """``value`` with every tagged scalar inside it interpreted (see the module doc)."""
    if isinstance(value, TaggedScalar):
        if value.tag == VAULT_TAG:
            return decrypt_value(value.text, passwords, where(at), name)
        return value.text
    if isinstance(value, dict):
        return {k: resolve(v, passwords, where, at + (k,), name) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, passwords, where, at + (i,), name) for i, v in enumerate(value)]
    return value


def as_secrets(value: object) -> object:
    """Every string inside ``value`` as a secret (values of a file vaulted as a whole)."""
    if isinstance(value, str):
        return Secret(value)
    if isinstance(value, dict):
        return {k: as_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_secrets(v) for v in value]
    return value
