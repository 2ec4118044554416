"""Secret files: documents with secrets inside (a vendor's configuration file) on a host.

Each is one file in ``/etc/checkpoint/secret-files/`` (``<container>_<file name>``), mode 0400,
owned by the uid the receiving container runs as, mounted read-only at the path the policy
chose. The rules are the credentials' (``resources.credentials.resource``), and so is the code
that reads them: the same fixed script reports mode, owner and SHA-256 of every file in the
directory in one round trip, each digest keyed at once with a fresh random key that never
leaves the controller. Drift says ``content: <sensitive> → <sensitive>``; the file's content is
never read back, shown or logged. :func:`render_secret_file` is the one place its secrets are
revealed, to build the exact bytes that are written (or hashed for the comparison).
"""

from __future__ import annotations

import hmac
import json
import posixpath
import re
from collections.abc import Sequence
from typing import ClassVar, assert_never

from checkpointctl.errors import ResourceError
from checkpointctl.model import Action, Change, FieldChange, Finding, Host, Planned, Secret
from checkpointctl.resources.batched import BatchedResource, ReadPlan
from checkpointctl.resources.credentials.resource import (
    FILE_MODE,
    CredentialFile,
    CredentialsActual,
    finish_keyed_read,
    keyed_digest,
    read_command,
)
from checkpointctl.resources.files import StaleFile
from checkpointctl.resources.paths import PathRepair, apply_path_target, repair_change
from checkpointctl.spec import SECRET_FILES_DIR, DesiredState, SecretFileSpec
from checkpointctl.transport import safepath
from checkpointctl.transport.base import CommandResult, Transport

KIND = "secret-file"
_PLACEHOLDER = re.compile(r"""(["']?)@@checkpointctl-secret-(\d+)@@\1""")
_UNKNOWN = Secret(b"\x00actual value not read")
"""The ``before`` of a content change: the host's content is never read, and prints redacted."""
_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{0,62}_[^/\x00]{1,255}$")


SecretFileTarget = SecretFileSpec | StaleFile | PathRepair
"""What a secret-file change plans towards: a file to write, a stale one to remove, or an
unsafe directory to repair (then nothing else was read)."""


def render_secret_file(spec: SecretFileSpec) -> bytes:
    """The file's exact bytes: the template with each placeholder replaced by its secret (a
    JSON string for ``json`` and ``yaml``, which YAML reads as a double-quoted scalar; the raw
    text for ``text``).

    Raises:
        ResourceError: a secret is not UTF-8 text (the message names only the file).
    """

    def put(match: re.Match[str]) -> str:
        index = int(match.group(2))
        if index >= len(spec.secrets):
            return match.group(0)
        try:
            text = spec.secrets[index].reveal().decode("utf-8")
        except UnicodeDecodeError:
            raise ResourceError(
                f"secret file {spec.target} of {spec.container}: a secret is not UTF-8 text"
            ) from None
        return text if spec.format == "text" else json.dumps(text)

    return _PLACEHOLDER.sub(put, spec.template).encode()


def address(spec: SecretFileSpec) -> str:
    return f"{KIND}/{spec.container}{spec.target}"


def check_specs(specs: Sequence[SecretFileSpec]) -> None:
    """Refuse files this resource cannot manage safely (defence in depth behind the policy).

    Raises:
        ResourceError: a host path is not a plain file name in the directory, or two files
            would share one.
    """
    seen: dict[str, str] = {}
    for spec in specs:
        path = spec.file_path
        leaf = posixpath.basename(path)
        if (
            posixpath.dirname(path) != SECRET_FILES_DIR
            or not _NAME.match(leaf)
            or leaf in (".", "..")
        ):
            raise ResourceError(f"{address(spec)}: unusable file name {leaf!r}")
        if path in seen:
            raise ResourceError(f"{address(spec)} and {seen[path]} would share {path}")
        seen[path] = address(spec)


def _metadata(have: CredentialFile, spec: SecretFileSpec) -> list[FieldChange]:
    out: list[FieldChange] = []
    if have.mode != FILE_MODE:
        out.append(FieldChange("mode", f"{have.mode:04o}", f"{FILE_MODE:04o}"))
    if (have.uid, have.gid) != (spec.uid, spec.gid):
        out.append(FieldChange("owner", f"{have.uid}:{have.gid}", f"{spec.uid}:{spec.gid}"))
    return out


def diff_secret_files(
    desired: DesiredState, actual: CredentialsActual
) -> list[Planned[SecretFileTarget]]:
    """Files to create or put back (by address), then stale files to remove (by path)."""
    check_specs(desired.secret_files)
    if actual.unsafe:
        # nothing was read through it: repair first, the engine then reads again
        return [Planned(*repair_change(v)) for v in actual.unsafe]
    changes: list[Planned[SecretFileTarget]] = []
    for spec in sorted(desired.secret_files, key=address):
        have = actual.files.get(spec.file_path)
        source = desired.source(f"containers.{spec.container}.files")
        if have is None:
            created = Change(
                address(spec),
                Action.CREATE,
                (
                    FieldChange("content", None, Secret(spec.template.encode())),
                    FieldChange("mode", None, f"{FILE_MODE:04o}"),
                    FieldChange("owner", None, f"{spec.uid}:{spec.gid}"),
                ),
                reason=f"{spec.file_path} is missing",
                source=source,
            )
            changes.append(Planned(created, spec))
            continue
        fields: list[FieldChange] = []
        if not hmac.compare_digest(have.digest, keyed_digest(actual.key, render_secret_file(spec))):
            fields.append(FieldChange("content", _UNKNOWN, Secret(spec.template.encode())))
        fields += _metadata(have, spec)
        if fields:
            updated = Change(
                address(spec),
                Action.UPDATE,
                tuple(fields),
                reason=f"{spec.file_path}: "
                + ("content differs" if fields[0].path == "content" else "mode or owner"),
                source=source,
            )
            changes.append(Planned(updated, spec))
    wanted = {s.file_path for s in desired.secret_files}
    for path in sorted(actual.files):
        if path in wanted or posixpath.dirname(path) != SECRET_FILES_DIR:
            continue
        stale = Change(
            f"{KIND}/{posixpath.basename(path)}",
            Action.DELETE,
            (FieldChange("file", path, None),),
            reason="stale secret file removed: no policy wants it",
        )
        changes.append(Planned(stale, StaleFile(path)))
    return changes


class SecretFilesResource(BatchedResource[SecretFileTarget, CredentialsActual, str]):
    """``secret-file/<container><path>``: every desired secret file, and removal of stale ones."""

    kind: ClassVar[str] = KIND

    def read_plan(self, host: Host, desired: DesiredState) -> ReadPlan[str]:
        """The credentials' read script over the secret files' directory; the key is the
        context.

        Raises:
            ResourceError: a desired file is unsafe (see :func:`check_specs`).
        """
        check_specs(desired.secret_files)
        command, key = read_command(SECRET_FILES_DIR)
        return ReadPlan((command,), context=key)

    def read_finish(
        self,
        transport: Transport,
        desired: DesiredState,
        plan: ReadPlan[str],
        results: Sequence[CommandResult],
    ) -> CredentialsActual:
        """Parse the read script's answer with the plan's key.

        Raises:
            CommandFailed: the script failed on the host.
            ResourceError: its answer cannot be parsed.
        """
        return finish_keyed_read(transport.host.name, results[0], plan.context)

    def diff(
        self, desired: DesiredState, actual: CredentialsActual
    ) -> list[Planned[SecretFileTarget]]:
        return diff_secret_files(desired, actual)

    def findings(self, desired: DesiredState, actual: CredentialsActual) -> list[Finding]:
        return []

    def apply(self, transport: Transport, change: Planned[SecretFileTarget]) -> None:
        """Write one file (0400, its container's uid:gid) atomically, remove a stale one, or
        repair an unsafe directory: through :mod:`~checkpointctl.transport.safepath`."""
        target = change.desired
        if isinstance(target, PathRepair):
            apply_path_target(transport, target)
        elif isinstance(target, SecretFileSpec):
            safepath.write(
                transport,
                target.file_path,
                render_secret_file(target),
                mode=FILE_MODE,
                uid=target.uid,
                gid=target.gid,
            )
        elif isinstance(target, StaleFile):
            safepath.remove(transport, target.path)
        else:
            assert_never(target)


__all__ = [
    "SecretFileTarget",
    "SecretFilesResource",
    "check_specs",
    "diff_secret_files",
    "render_secret_file",
]
