"""``publish BUNDLE oci://REGISTRY/REPO:TAG``, and the agent's fetcher for ``oci://`` sources.

``publish`` pushes a signed bundle as an OCI artifact and points the tag at it (see
:mod:`checkpointctl.gitops.ocibundle`); it prints the artifact's digest and exits 0, or 1 on
an error. Registry credentials come from ``--registry-auth-file`` (``USERNAME:PASSWORD``, mode
0600; for an agent, a pull-only token) or ``CHECKPOINTCTL_REGISTRY_USERNAME`` and
``CHECKPOINTCTL_REGISTRY_PASSWORD`` as for ``pin``; the password is a ``Secret``. A registry
reached over plain HTTP must be named with ``--insecure-registry`` (or
``CHECKPOINTCTL_INSECURE_REGISTRIES``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from checkpointctl.errors import CheckpointctlError

if TYPE_CHECKING:
    from checkpointctl.gitops.ocibundle import CachedOciSource
    from checkpointctl.model import Secret


def registry_credentials(path: str | None) -> tuple[str, Secret] | None:
    """``USERNAME:PASSWORD`` from the first line of ``path`` (a pull-only token, mode 0600),
    the password kept as a Secret; None without a file (then the environment, as for ``pin``).

    Raises:
        CheckpointctlError: unreadable, readable by others, or not ``USERNAME:PASSWORD``.
    """
    import os
    import stat

    from checkpointctl.model import Secret

    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise CheckpointctlError(f"{path}: registry credentials must be mode 0600")
            line = f.readline().rstrip(b"\r\n")
    except OSError as exc:
        raise CheckpointctlError(f"cannot read {path}: {exc.strerror}") from None
    user, sep, password = line.partition(b":")
    if not sep or not user:
        raise CheckpointctlError(f"{path}: the first line must be USERNAME:PASSWORD")
    return user.decode("utf-8", "replace"), Secret(password)


def oci_fetcher(
    source: str,
    state_dir: str,
    insecure: Sequence[str],
    timeout: float,
    credentials_file: str | None = None,
) -> CachedOciSource:
    """The agent's fetcher for an ``oci://`` source (one HEAD per run while the tag stays)."""
    from checkpointctl.gitops.ocibundle import CachedOciSource, OciClient
    from checkpointctl.gitops.registry import RegistryClient, insecure_from_env

    client = RegistryClient(
        insecure_from_env(insecure),
        timeout=timeout,
        credentials=registry_credentials(credentials_file),
    )
    return CachedOciSource(source, OciClient(client), state_dir)


def _cmd_publish(args: argparse.Namespace) -> int:
    import os

    from checkpointctl.gitops.ocibundle import OciClient, parse_oci
    from checkpointctl.gitops.registry import RegistryClient, insecure_from_env
    from checkpointctl.trust.bundle import MAX_BUNDLE_BYTES

    ref = parse_oci(args.reference)
    try:
        with open(args.bundle, "rb") as f:
            data = f.read(MAX_BUNDLE_BYTES + 1)
    except OSError as exc:
        raise CheckpointctlError(f"cannot read the bundle {args.bundle}: {exc.strerror}") from None
    if len(data) > MAX_BUNDLE_BYTES:
        raise CheckpointctlError(f"{args.bundle}: larger than {MAX_BUNDLE_BYTES} bytes")
    credentials = registry_credentials(args.registry_auth_file)
    client = OciClient(
        RegistryClient(insecure_from_env(args.insecure_registry), credentials=credentials)
    )
    digest = client.publish(data, ref, title=os.path.basename(args.bundle))
    print(f"{args.reference}@{digest}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``publish`` to the main parser (called by ``cli.main``)."""
    p = subparsers.add_parser(
        "publish", help="push a signed bundle to an OCI registry (oci://REGISTRY/REPO:TAG)"
    )
    p.add_argument("bundle", metavar="BUNDLE", help="a bundle made by `bundle` (signed)")
    p.add_argument("reference", metavar="oci://REGISTRY/REPO:TAG")
    p.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="a registry reached over plain HTTP (repeatable)",
    )
    p.add_argument(
        "--registry-auth-file",
        metavar="FILE",
        help="USERNAME:PASSWORD for the registry (default: $CHECKPOINTCTL_REGISTRY_USERNAME "
        "and _PASSWORD)",
    )
    p.set_defaults(func=_cmd_publish)
