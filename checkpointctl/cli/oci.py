"""``publish BUNDLE oci://REGISTRY/REPO:TAG``, and the agent's fetcher for ``oci://`` sources.

``publish`` pushes a signed bundle as an OCI artifact and points the tag at it (see
:mod:`checkpointctl.gitops.ocibundle`); it prints the artifact's digest and exits 0, or 1 on
an error. Registry credentials come from ``CHECKPOINTCTL_REGISTRY_USERNAME`` and
``CHECKPOINTCTL_REGISTRY_PASSWORD`` as for ``pin``; a registry reached over plain HTTP must be
named with ``--insecure-registry`` (or ``CHECKPOINTCTL_INSECURE_REGISTRIES``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from checkpointctl.errors import CheckpointctlError

if TYPE_CHECKING:
    from checkpointctl.gitops.ocibundle import CachedOciSource


def oci_fetcher(
    source: str, state_dir: str, insecure: Sequence[str], timeout: float
) -> CachedOciSource:
    """The agent's fetcher for an ``oci://`` source (one HEAD per run while the tag stays)."""
    from checkpointctl.gitops.ocibundle import CachedOciSource, OciClient
    from checkpointctl.gitops.registry import RegistryClient, insecure_from_env

    client = RegistryClient(insecure_from_env(insecure), timeout=timeout)
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
    client = OciClient(RegistryClient(insecure_from_env(args.insecure_registry)))
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
    p.set_defaults(func=_cmd_publish)
