"""``checkpointctl vault …``: secrets in the policy repository.

The key never comes from a command-line argument (it would land in shell history and ``ps``):
``--vault-password-file``, ``--vault-key-file``, the ``CHECKPOINTCTL_VAULT_*`` variables, or a
prompt on a terminal. A value to encrypt comes from standard input or a prompt, for the same
reason.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from checkpointctl.errors import CheckpointctlError

if TYPE_CHECKING:
    from checkpointctl.trust.vault import RekeyCount, VaultKey


def encrypt_string_snippet(
    value: bytes, path: str, key: VaultKey, *, name: str | None = None
) -> str:
    """``vault encrypt-string``'s output: a YAML snippet ``<name>: |`` plus the indented vaulted
    value, ending with a newline.

    ``name`` defaults to the last segment of ``path`` (``secret`` for
    ``credentials.api-login.secret``). ``value`` comes from stdin or a prompt, never argv.
    """
    from checkpointctl.trust.vault import PLAIN_SEGMENT, encrypt

    field = name or path.rsplit(".", 1)[-1]
    field_yaml = field if PLAIN_SEGMENT.fullmatch(field) else json.dumps(field)
    lines = encrypt(value, key, path).split("\n")
    return f"{field_yaml}: |\n" + "".join(f"  {line}\n" for line in lines)


def rekey_summary(count: RekeyCount) -> str:
    """``vault rekey``'s one-line summary."""
    values = count.values
    return (
        f"rekeyed {values} value{'s' * (values != 1)} in {count.files_changed} of "
        f"{count.files} files"
    )


def _key(args: argparse.Namespace, *, confirm: bool = False) -> VaultKey:
    from checkpointctl.trust import vault

    key = vault.load_key(
        args.vault_password_file,
        key_file=args.vault_key_file,
        interactive=sys.stdin.isatty(),
        confirm=confirm,
    )
    if key is None:
        raise CheckpointctlError(
            "no vault key: use --vault-password-file FILE, --vault-key-file FILE, "
            "CHECKPOINTCTL_VAULT_PASSWORD(_FILE), or run on a terminal to be prompted"
        )
    return key


def _cmd_encrypt_string(args: argparse.Namespace) -> int:

    key = _key(args, confirm=True)
    if sys.stdin.isatty():
        value = getpass.getpass("Value to encrypt: ").encode()
    else:
        value = sys.stdin.buffer.read()
        if value.endswith(b"\n") and not args.keep_newline:
            value = value[:-1]
    if not value:
        raise CheckpointctlError("nothing to encrypt: the value read from stdin is empty")
    sys.stdout.write(encrypt_string_snippet(value, args.name, key, name=args.key))
    return 0


def _cmd_encrypt(args: argparse.Namespace) -> int:
    from checkpointctl.trust.vault import encrypt_file

    return _in_place(args, encrypt_file, "encrypted", confirm=True)


def _cmd_decrypt(args: argparse.Namespace) -> int:
    from checkpointctl.trust.vault import decrypt_file

    return _in_place(args, decrypt_file, "decrypted", confirm=False)


def _in_place(
    args: argparse.Namespace,
    change: Callable[[str, VaultKey], None],
    done: str,
    *,
    confirm: bool,
) -> int:
    """Encrypt or decrypt each file in place, a line per file as it is done."""
    key = _key(args, confirm=confirm)
    for path in args.files:
        change(path, key)
        print(f"{done} {path}")
    return 0


def _cmd_rekey(args: argparse.Namespace) -> int:
    from checkpointctl.trust import vault

    old = _key(args)
    new = vault.load_key(
        args.new_vault_password_file,
        key_file=args.new_vault_key_file,
        env={},
        interactive=sys.stdin.isatty(),
        confirm=True,
        prompt="New vault password: ",
    )
    if new is None:
        raise CheckpointctlError(
            "no new key: use --new-vault-password-file FILE or --new-vault-key-file FILE"
        )
    print(rekey_summary(vault.rekey_files(args.files, old, new)))
    return 0


def register(sub: Any) -> None:
    """Add ``vault`` and its subcommands to the top-level parser."""
    p = sub.add_parser("vault", help="encrypt secrets for the policy repository")
    vsub = p.add_subparsers(dest="vault_cmd", required=True, metavar="SUBCOMMAND")

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--vault-password-file",
            metavar="FILE",
            help="passphrase file (or an executable printing it)",
        )
        q.add_argument("--vault-key-file", metavar="FILE", help="raw 32-byte key (hex/base64)")

    q = vsub.add_parser("encrypt-string", help="encrypt a value read from stdin or a prompt")
    common(q)
    q.add_argument(
        "--name",
        required=True,
        metavar="PATH",
        help="the field it goes into, e.g. credentials.api-login.secret (bound into "
        "the ciphertext: it will not decrypt anywhere else)",
    )
    q.add_argument(
        "--key",
        default=None,
        metavar="YAML_KEY",
        help="YAML key for the printed snippet (default: the last part of --name)",
    )
    q.add_argument(
        "--keep-newline", action="store_true", help="keep a trailing newline read from stdin"
    )
    q.set_defaults(func=_cmd_encrypt_string)

    q = vsub.add_parser("encrypt", help="encrypt whole files in place")
    common(q)
    q.add_argument("files", nargs="+")
    q.set_defaults(func=_cmd_encrypt)

    q = vsub.add_parser("decrypt", help="decrypt whole files in place")
    common(q)
    q.add_argument("files", nargs="+")
    q.set_defaults(func=_cmd_decrypt)

    q = vsub.add_parser("rekey", help="re-encrypt files and vaulted values with a new key")
    common(q)
    q.add_argument("--new-vault-password-file", metavar="FILE")
    q.add_argument("--new-vault-key-file", metavar="FILE")
    q.add_argument("files", nargs="+")
    q.set_defaults(func=_cmd_rekey)
