"""Credential files: the login secrets monitors use, each kept to the narrowest scope it needs.

On the host every credential is one small JSON file (``/etc/checkpoint/credentials/<name>`` or
the policy's ``path``), mode 0400, owned by the uid the receiving container runs as, so only that
container's user can read it through its read-only mount at ``/run/secrets/<name>``. Beside the
files, ``manifest.json`` (0444, root) lists each credential's scope, expiry and owner for the
agent to enforce. The manifest holds nothing derived from a secret: a hash of a low-entropy
password can be brute-forced offline, and the manifest is world-readable.

Drift never needs the secret from the host. One fixed script (paths as arguments, never parsed
by the shell) reports mode, owner and the SHA-256 of every credential file, plus the manifest, in
one round trip. The parse keys each digest at once with 32 fresh random bytes per read that
never leave the controller, and keeps only the keyed digest: a digest that escaped into a log or
a ``repr`` could not be brute-forced without the key. Non-secret fields (username, targets,
permissions, expiry) are explained from the manifest; when the digest still differs after
accounting for them, the secret changed and the plan says ``secret: <sensitive> → <sensitive>``.

:func:`render_credential` is the only place a secret is revealed, to build the exact bytes that
are written (or hashed for the comparison); no message, field value or ``repr`` ever holds it.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import posixpath
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import ClassVar, assert_never

from checkpointctl.errors import ResourceError
from checkpointctl.model import (
    Action,
    Change,
    FieldChange,
    Finding,
    Host,
    JSONValue,
    Planned,
    Secret,
)
from checkpointctl.resources.batched import BatchedResource, ReadPlan
from checkpointctl.resources.files import StaleFile
from checkpointctl.resources.paths import PathRepair, apply_path_target, repair_change
from checkpointctl.spec import (
    CHECKPOINT_ROOT,
    RESERVED_CREDENTIAL_NAMES,
    CredentialSpec,
    DesiredState,
)
from checkpointctl.transport import safepath
from checkpointctl.transport.base import CommandResult, Transport, Watch
from checkpointctl.transport.batch import Command
from checkpointctl.transport.checkfunction import CHECK_FUNCTION
from checkpointctl.transport.command import finish
from checkpointctl.transport.safepath import Violation

CREDENTIALS_DIR = f"{CHECKPOINT_ROOT}/credentials"
MANIFEST_PATH = f"{CREDENTIALS_DIR}/manifest.json"
MANIFEST_ADDRESS = "credential/manifest"
MANIFEST_VERSION = 1
FILE_MODE = 0o400
MANIFEST_MODE = 0o444
DIR_MODE_MAX = 0o755
"""The widest mode the credentials directory may have: a directory others can write to lets
them swap a credential file (or its manifest) under the container's mount."""
DIRECTORY_ADDRESS = "credential/directory"
EXPIRY_WARNING = timedelta(days=14)
"""Same window as the policy lint's warning, so ``validate`` and ``drift`` agree."""

RESERVED_NAMES = RESERVED_CREDENTIAL_NAMES

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_MANIFEST_MARKER = b"--manifest--"
_MANIFEST_AS_EXPECTED = b"--manifest-as-expected--\n"
_UNKNOWN_SECRET = Secret(b"\x00actual value not read")
"""The ``before`` of a secret change: the host's value is never read, and prints redacted."""

# Fixed text. $1 is the credentials directory (absolute); $2 the SHA-256 (hex) of the manifest the
# controller expects, or empty; $3 the number G of directories to check (safepath's rule: every
# directory on their path), then those G directories, then the credential paths outside the
# directory. The files read are every existing regular file among those paths
# and in the directory (names holding a newline are skipped: they cannot be parsed back; dot files
# are not listed). Output, in this order:
#   "<D> <N>"              D: 1 when the directory exists, else 0; N: the number of files
#   N lines                the files' paths, in the order of everything below
#   D + N lines            "<mode> <uid> <gid>" of the directory (when D is 1), then of each file
#   N lines                ``sha256sum`` of each file
#   "--manifest--" + raw   only when the manifest exists: its bytes, or
#   "--manifest-as-expected--"  instead, when its SHA-256 (among the N above) is $2
# or, when a directory on the way is unsafe, safepath's refusal (exit 86, ``unsafe ...`` lines).
# The file contents' SHA-256 is keyed on the controller as soon as it is parsed (see
# ``keyed_digest``). Why this shape: a fixed few processes (sh, one ``stat`` that both checks the
# directories and gives the files' metadata, one ``sha256sum``, and a ``cat`` only when the
# manifest is not the one the controller expects) whatever the number of files, and no temporary
# file: creating files costs a host far more than it looks (ext4's inode allocator under a
# fleet's worth of reads), and a process per file per step would cost the host more than the
# whole read. When nothing at all is at the directory's path and there is no file to read, there
# is nothing to check either (no read goes through any directory): the answer is "0 0" without a
# process, the common case of a host with no secret files.
_READ_SCRIPT = r"""cp_shared=1
dir=$1; want=$2; gn=$3; shift 3
nl='
'
n=$#
i=0
for f in "$@" "$dir"/*; do
  i=$((i+1))
  [ "$i" -gt "$gn" ] || continue
  case $f in *"$nl"*) continue;; esac
  [ -f "$f" ] && set -- "$@" "$f"
done
m=$(($# - n))
if [ "$m" = 0 ] && [ ! -e "$dir" ] && [ ! -L "$dir" ]; then echo "0 0"; exit 0; fi
if [ -d "$dir" ]; then d=1; else d=0; fi
k=$#
j=0
if [ "$gn" = 0 ] && [ "$d" = 1 ]; then set -- "$@" "$dir"; fi
for a do
  j=$((j+1))
  if [ "$j" -le "$gn" ] || [ "$j" -gt "$n" ]; then set -- "$@" "$a"; fi
  if [ "$j" = "$gn" ] && [ "$d" = 1 ]; then set -- "$@" "$dir"; fi
done
shift "$k"
cp_chks "$gn" "$@"; s=$?
[ "$s" = 1 ] && exit 86
[ "$s" = 0 ] || exit 5
shift "$((gn + d))"
echo "$d $m"
if [ "$m" -gt 0 ]; then printf '%s\n' "$@"; fi
printf '%s' "$cp_meta"
sums=
if [ "$m" -gt 0 ]; then sums=$(sha256sum -- "$@") || exit 5; printf '%s\n' "$sums"; fi
if [ -f "$dir/manifest.json" ]; then
  if [ -n "$want" ]; then
    case "$nl$sums$nl" in
    *"$nl$want  $dir/manifest.json$nl"*) echo '--manifest-as-expected--'; exit 0;;
    esac
  fi
  echo '--manifest--'; cat -- "$dir/manifest.json"
fi
exit 0
"""


# -- data

# -- data ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CredentialFile:
    """A file as the read script saw it. ``digest`` is keyed by the read's one-time key."""

    path: str
    mode: int
    uid: int
    gid: int
    digest: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """What the manifest records for one credential (nothing derived from the secret)."""

    path: str
    username: str
    containers: tuple[str, ...]
    targets: tuple[str, ...]
    permissions: tuple[str, ...]
    expires: str | None
    uid: int
    gid: int

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "path": self.path,
            "username": self.username,
            "containers": list(self.containers),
            "targets": list(self.targets),
            "permissions": list(self.permissions),
            "expires": self.expires,
            "uid": self.uid,
            "gid": self.gid,
        }


@dataclass(frozen=True, slots=True)
class CredentialsActual:
    """The credential files on a host, its manifest, and the key their digests are made with.

    ``files`` holds every existing file in the credentials directory and every existing desired
    path outside it. ``manifest`` is None when absent; ``manifest_entries`` is None when the
    manifest is absent or not a document this version understands.
    """

    files: Mapping[str, CredentialFile]
    manifest: bytes | None
    manifest_entries: Mapping[str, ManifestEntry] | None
    key: str = field(repr=False)
    directory_mode: int | None = None
    """Permission bits of the credentials directory; None when it does not exist."""
    unsafe: tuple[Violation, ...] = ()
    """Why the read was refused before it looked (a link, foreign owner or writable mode on
    the way to a credential): then nothing else here was read, and the plan is the repair."""


@dataclass(frozen=True, slots=True)
class DirectoryWant:
    """The credentials directory's mode after the repair: only ever narrower than it was."""

    mode: int


@dataclass(frozen=True, slots=True)
class ManifestWant:
    """The manifest to write (public data only, so carrying its bytes is fine)."""

    content: bytes


# -- pure functions -----------------------------------------------------------------------------


def _scope(items: Iterable[str]) -> list[str]:
    """Scopes are sets: sorted and de-duplicated, so reordering a policy changes no bytes."""
    return sorted(set(items))


def _canonical(doc: Mapping[str, JSONValue]) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def _render(
    name: str,
    username: str,
    secret: Secret,
    targets: Iterable[str],
    permissions: Iterable[str],
    expires: str | None,
) -> bytes:
    """The credential file's exact bytes. The one place a secret is revealed.

    Raises:
        ResourceError: the secret is not UTF-8 text (the message names only the credential).
    """
    try:
        plaintext = secret.reveal().decode("utf-8")
    except UnicodeDecodeError:
        # `from None`: the decode error's text quotes a byte of the secret.
        raise ResourceError(
            f"credential {name!r}: the secret is not UTF-8 text and cannot be written as JSON"
        ) from None
    return _canonical(
        {
            "username": username,
            "secret": plaintext,
            "targets": list(_scope(targets)),
            "permissions": list(_scope(permissions)),
            "expires": expires,
        }
    )


def _expires(spec: CredentialSpec) -> str | None:
    return spec.expires.isoformat() if spec.expires else None


def render_credential(spec: CredentialSpec) -> bytes:
    """Canonical JSON of one credential: equal specs give equal bytes.

    ``{"expires": "YYYY-MM-DD" | null, "permissions": [...], "secret": "...", "targets": [...],
    "username": "..."}`` with sorted keys, two-space indent and a final newline. The receiving
    container reads it at ``/run/secrets/<name>``.
    """
    return _render(
        spec.name, spec.username, spec.secret, spec.targets, spec.permissions, _expires(spec)
    )


def manifest_entry(spec: CredentialSpec) -> ManifestEntry:
    """The manifest's record of one desired credential."""
    return ManifestEntry(
        path=spec.file_path,
        username=spec.username,
        containers=tuple(_scope(spec.containers)),
        targets=tuple(_scope(spec.targets)),
        permissions=tuple(_scope(spec.permissions)),
        expires=_expires(spec),
        uid=spec.uid,
        gid=spec.gid,
    )


def render_manifest(specs: Iterable[CredentialSpec]) -> bytes:
    """Canonical JSON of the manifest: ``{"version": 1, "credentials": {name: entry}}``.

    Hosts of a fleet mostly share their credentials, and a drift renders the manifest three
    times per host (the read's expected digest, the parse, the diff): the bytes are kept per
    distinct list of specs (public data only: the manifest holds nothing derived from a secret).
    """
    return _manifest_bytes(tuple(specs))


@functools.lru_cache(maxsize=64)
def _manifest_bytes(specs: tuple[CredentialSpec, ...]) -> bytes:
    entries: dict[str, JSONValue] = {s.name: manifest_entry(s).to_json() for s in specs}
    return _canonical({"version": MANIFEST_VERSION, "credentials": entries})


def keyed_digest(key: str, content: bytes) -> str:
    """SHA-256 of ``key`` then the hex SHA-256 of ``content``.

    The host reports the plain SHA-256 of each file (one ``sha256sum`` for all of them); the
    parse keys it at once with the read's fresh key (:func:`_keyed`) and keeps only the keyed
    digest, so no digest that could be tested against guessed secrets outlives the parse or
    reaches a plan, a report or a ``repr``. Keying on the controller rather than on the host
    costs the host no key on stdin and no temporary files."""
    return _keyed(key, hashlib.sha256(content).hexdigest())


def _keyed(key: str, inner_hex: str) -> str:
    return hashlib.sha256(key.encode() + inner_hex.encode()).hexdigest()


def _str_list(value: JSONValue) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    items = tuple(v for v in value if isinstance(v, str))
    return items if len(items) == len(value) else None


def parse_manifest(raw: bytes) -> dict[str, ManifestEntry] | None:
    """The manifest's entries, or None when it is not a manifest this version wrote."""
    try:
        doc: JSONValue = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("version") != MANIFEST_VERSION:
        return None
    creds = doc.get("credentials")
    if not isinstance(creds, dict):
        return None
    out: dict[str, ManifestEntry] = {}
    for name, item in creds.items():
        if not isinstance(item, dict):
            return None
        lists = [_str_list(item.get(k)) for k in ("containers", "targets", "permissions")]
        path, username, expires = item.get("path"), item.get("username"), item.get("expires")
        uid, gid = item.get("uid"), item.get("gid")
        if (
            lists[0] is None
            or lists[1] is None
            or lists[2] is None
            or not isinstance(path, str)
            or not isinstance(username, str)
            or not (expires is None or isinstance(expires, str))
            or not isinstance(uid, int)
            or not isinstance(gid, int)
        ):
            return None
        out[str(name)] = ManifestEntry(
            path, username, lists[0], lists[1], lists[2], expires, uid, gid
        )
    return out


def _unexpected(number: int) -> ResourceError:
    # The line is not quoted: an unexpected answer is not ours to echo into a report.
    return ResourceError(f"unexpected output from the credential check (line {number})")


def parse_read_output(
    output: bytes, key: str, expected_manifest: bytes | None = None
) -> CredentialsActual:
    """Pure parse of the read script's output (see ``_READ_SCRIPT`` for the format); each
    file's SHA-256 is keyed with ``key`` here and the plain one dropped. ``expected_manifest``
    is the manifest the read was told to expect (:func:`read_command`): the host answers "as
    expected" instead of sending those bytes back.

    Raises:
        ResourceError: the output is not in the script's format (the host is not what we
            expect); the message gives the line number only, never the text.
    """
    pos = 0
    number = 0

    def line() -> bytes:
        nonlocal pos, number
        number += 1
        end = output.find(b"\n", pos)
        if end < 0:
            raise _unexpected(number)
        value = output[pos:end]
        pos = end + 1
        return value

    try:
        head = line().split(b" ")
        if len(head) != 2 or head[0] not in (b"0", b"1"):
            raise ValueError("not a header")
        has_dir, count = head[0] == b"1", int(head[1])
        paths = [line().decode("utf-8", "surrogateescape") for _ in range(count)]
        directory_mode = int(line().split(b" ")[0], 8) if has_dir else None
        metas = []
        for _ in range(count):
            mode, uid, gid = line().split(b" ")
            metas.append((int(mode, 8), int(uid), int(gid)))
        digests = []
        for _ in range(count):
            sums = line()
            inner = sums[1:65] if sums.startswith(b"\\") else sums[:64]
            if len(inner) != 64 or inner.strip(b"0123456789abcdef"):
                raise ValueError("not a SHA-256")
            digests.append(_keyed(key, inner.decode("ascii")))
    except ValueError:
        raise _unexpected(number) from None
    manifest: bytes | None = None
    if expected_manifest is not None and output[pos:] == _MANIFEST_AS_EXPECTED:
        manifest = expected_manifest
    elif pos < len(output):
        if not output.startswith(_MANIFEST_MARKER + b"\n", pos):
            raise _unexpected(number + 1)
        manifest = output[pos + len(_MANIFEST_MARKER) + 1 :]
    files = {
        path: CredentialFile(path, mode, uid, gid, digest)
        for path, (mode, uid, gid), digest in zip(paths, metas, digests, strict=True)
    }
    entries = parse_manifest(manifest) if manifest is not None else None
    return CredentialsActual(files, manifest, entries, key, directory_mode)


def read_command(
    directory: str, outside: Iterable[str] = (), manifest: bytes | None = None
) -> tuple[Command, str]:
    """The read script's command for ``directory`` and the paths ``outside`` it, run only once
    every directory on their way passed the safe-path check, and a fresh key for keying the
    digests of its answer (for the parse). With ``manifest`` (public bytes: the manifest the
    controller expects), the host sends the manifest only when it differs from those bytes;
    the parse is then given the same bytes."""
    key = secrets.token_hex(32)
    files = sorted(set(outside))
    dirs = sorted({directory, *(posixpath.dirname(f) for f in files)})
    script = CHECK_FUNCTION + _READ_SCRIPT
    want = "" if manifest is None else hashlib.sha256(manifest).hexdigest()
    argv = ("sh", "-c", script, "sh", directory, want, str(len(dirs)), *dirs, *files)
    watch = Watch(paths=(directory, *files), globs=(f"{directory}/*",))
    return Command(argv, watch=watch, shares_stat=True), key


def finish_keyed_read(
    host: str, result: CommandResult, key: str, expected_manifest: bytes | None = None
) -> CredentialsActual:
    """The read script's answer parsed with the read's key (and the manifest it was told to
    expect); a refusal by the path check is parsed too (it says which directory is unsafe), any
    other failure raises.

    Raises:
        CommandFailed: the script failed on the host.
        ResourceError: its answer cannot be parsed.
    """
    if safepath.refusal(result) is None:
        finish(host, result, check=True)
    return parse_read_result(result, key, expected_manifest)


def parse_read_result(
    result: CommandResult, key: str, expected_manifest: bytes | None = None
) -> CredentialsActual:
    """The read's answer: refused (see :mod:`~checkpointctl.transport.safepath`) or parsed.

    Raises:
        ResourceError: the output is not in the script's format.
    """
    refused = safepath.refusal(result)
    if refused is not None:
        return CredentialsActual({}, None, None, key, unsafe=tuple(refused))
    return parse_read_output(result.stdout, key, expected_manifest)


def check_specs(specs: Sequence[CredentialSpec]) -> None:
    """Refuse credentials this resource cannot manage safely (defence in depth behind lint).

    Raises:
        ResourceError: a name is reserved or malformed, a path escapes ``/etc/checkpoint``,
            is the manifest, or two credentials share one file.
    """
    seen: dict[str, str] = {}
    for spec in specs:
        if spec.name in RESERVED_NAMES or not _NAME.match(spec.name):
            raise ResourceError(
                f"credential {spec.name!r}: reserved or invalid name "
                f"(names match {_NAME.pattern} and are not {sorted(RESERVED_NAMES)})"
            )
        path = spec.file_path
        if (
            posixpath.normpath(path) != path
            or not path.startswith(CHECKPOINT_ROOT + "/")
            or not path.isprintable()
            or path == MANIFEST_PATH
        ):
            raise ResourceError(
                f"credential {spec.name!r}: path {path!r} must be a normalised file path under "
                f"{CHECKPOINT_ROOT}/ other than the manifest"
            )
        if path in seen:
            raise ResourceError(
                f"credentials {seen[path]!r} and {spec.name!r} both use the file {path}"
            )
        seen[path] = spec.name


def _owner(uid: int, gid: int) -> str:
    return f"{uid}:{gid}"


def _metadata_changes(have: CredentialFile, mode: int, uid: int, gid: int) -> list[FieldChange]:
    out: list[FieldChange] = []
    if have.mode != mode:
        out.append(FieldChange("mode", f"{have.mode:04o}", f"{mode:04o}"))
    if (have.uid, have.gid) != (uid, gid):
        out.append(FieldChange("owner", _owner(have.uid, have.gid), _owner(uid, gid)))
    return out


def _content_fields(
    spec: CredentialSpec, have: CredentialFile, entry: ManifestEntry | None, key: str
) -> list[FieldChange]:
    """Which fields explain a digest mismatch, using the manifest for the non-secret ones.

    The file was written from the fields the manifest records. Rebuilding it from those fields
    and the *desired* secret tells whether the secret differs too, without reading the file.
    """
    if entry is None:
        return [FieldChange("content", _UNKNOWN_SECRET, spec.secret)]
    want = manifest_entry(spec)
    out: list[FieldChange] = []
    if entry.username != want.username:
        out.append(FieldChange("username", entry.username, want.username))
    if _scope(entry.targets) != list(want.targets):
        out.append(FieldChange("targets", list(entry.targets), list(want.targets)))
    if _scope(entry.permissions) != list(want.permissions):
        out.append(FieldChange("permissions", list(entry.permissions), list(want.permissions)))
    if entry.expires != want.expires:
        out.append(FieldChange("expires", entry.expires, want.expires))
    rebuilt = _render(
        spec.name, entry.username, spec.secret, entry.targets, entry.permissions, entry.expires
    )
    if not hmac.compare_digest(keyed_digest(key, rebuilt), have.digest):
        out.append(FieldChange("secret", _UNKNOWN_SECRET, spec.secret))
    return out


def _create_fields(spec: CredentialSpec) -> tuple[FieldChange, ...]:
    want = manifest_entry(spec)
    fields = [
        FieldChange("username", None, spec.username),
        FieldChange("secret", None, spec.secret),
        FieldChange("targets", None, list(want.targets)),
        FieldChange("permissions", None, list(want.permissions)),
    ]
    if want.expires is not None:
        fields.append(FieldChange("expires", None, want.expires))
    fields.append(FieldChange("mode", None, f"{FILE_MODE:04o}"))
    fields.append(FieldChange("owner", None, _owner(spec.uid, spec.gid)))
    return tuple(fields)


def _manifest_fields(
    want: Mapping[str, ManifestEntry], have: Mapping[str, ManifestEntry] | None
) -> list[FieldChange]:
    """Per credential and field, how the manifest's scopes differ (``name.field``)."""
    if have is None:
        return [FieldChange("content", "unreadable", "manifest v1")]
    out: list[FieldChange] = []
    for name in sorted({*want, *have}):
        before = have[name].to_json() if name in have else {}
        after = want[name].to_json() if name in want else {}
        for key in sorted({*before, *after}):
            if before.get(key) != after.get(key):
                out.append(FieldChange(f"{name}.{key}", before.get(key), after.get(key)))
    if not out:
        out.append(FieldChange("content", "non-canonical", "canonical JSON"))
    return out


def _stale_address(path: str, taken: set[str]) -> str:
    """``credential/<file name>``, or the whole path when a wanted credential has that name."""
    address = f"credential/{posixpath.basename(path)}"
    return f"credential/{path.removeprefix('/')}" if address in taken else address


def days_left(spec: CredentialSpec, today: date) -> int | None:
    """Days until ``spec`` expires (negative once expired), or None when it never does."""
    return (spec.expires - today).days if spec.expires else None


# -- the resource -------------------------------------------------------------------------------


CredentialTarget = CredentialSpec | ManifestWant | DirectoryWant | StaleFile | PathRepair
"""What a credential change plans towards: a credential file to write, the manifest, the
directory's narrower mode, a stale file to remove, or an unsafe directory to repair."""


class CredentialsResource(BatchedResource[CredentialTarget, CredentialsActual, str]):
    """Every desired credential file, the manifest of their scopes, and removal of stale ones.

    ``today`` fixes the date expiry findings are computed against (tests); by default it is the
    controller's local date when ``findings`` runs.
    """

    kind: ClassVar[str] = "credential"

    def __init__(self, today: date | None = None) -> None:
        self._today = today

    def read_plan(self, host: Host, desired: DesiredState) -> ReadPlan[str]:
        """The read script's command (see :func:`read_command`); the key is the context. The
        read (mode, owner and keyed digest of every credential file, and the manifest) is this
        one command and :meth:`read_finish`.

        Raises:
            ResourceError: a desired credential is unsafe (see :func:`check_specs`).
        """
        check_specs(desired.credentials)
        outside = [
            s.file_path
            for s in desired.credentials
            if posixpath.dirname(s.file_path) != CREDENTIALS_DIR
        ]
        command, key = read_command(CREDENTIALS_DIR, outside, render_manifest(desired.credentials))
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
        expected = render_manifest(desired.credentials)
        return finish_keyed_read(transport.host.name, results[0], plan.context, expected)

    def diff(
        self, desired: DesiredState, actual: CredentialsActual
    ) -> list[Planned[CredentialTarget]]:
        """Credential changes by name, then stale files by path, then the manifest (last, so
        the agent's view of scopes changes only once the files it describes are in place)."""
        check_specs(desired.credentials)
        if actual.unsafe:
            # nothing was read through it: repair first, the engine then reads again
            return [Planned(*repair_change(v)) for v in actual.unsafe]
        specs = sorted(desired.credentials, key=lambda s: s.name)
        entries = actual.manifest_entries or {}
        changes: list[Planned[CredentialTarget]] = []
        have_mode = actual.directory_mode
        if specs and have_mode is not None and have_mode & ~DIR_MODE_MAX:
            # first: no file is written into a directory others can still swap it in
            want_mode = have_mode & DIR_MODE_MAX
            narrower = Change(
                DIRECTORY_ADDRESS,
                Action.UPDATE,
                (FieldChange("mode", f"{have_mode:04o}", f"{want_mode:04o}"),),
                reason=f"{CREDENTIALS_DIR} is wider than {DIR_MODE_MAX:04o}",
                source=desired.source("credentials"),
            )
            changes.append(Planned(narrower, DirectoryWant(want_mode)))
        for spec in specs:
            address = f"credential/{spec.name}"
            source = desired.source(f"credentials.{spec.name}.name")
            have = actual.files.get(spec.file_path)
            if have is None:
                created = Change(
                    address,
                    Action.CREATE,
                    _create_fields(spec),
                    reason=f"{spec.file_path} is missing",
                    source=source,
                )
                changes.append(Planned(created, spec))
                continue
            fields: list[FieldChange] = []
            content_differs = not hmac.compare_digest(
                have.digest, keyed_digest(actual.key, render_credential(spec))
            )
            if content_differs:
                fields = _content_fields(spec, have, entries.get(spec.name), actual.key)
            fields += _metadata_changes(have, FILE_MODE, spec.uid, spec.gid)
            if fields:
                what = "content differs" if content_differs else "permissions or owner changed"
                updated = Change(
                    address,
                    Action.UPDATE,
                    tuple(fields),
                    reason=f"{spec.file_path}: {what}",
                    source=source,
                )
                changes.append(Planned(updated, spec))
        wanted = {s.file_path for s in specs} | {MANIFEST_PATH}
        taken = {f"credential/{s.name}" for s in specs} | {MANIFEST_ADDRESS}
        for path in sorted(actual.files):
            if path in wanted or posixpath.dirname(path) != CREDENTIALS_DIR:
                continue
            address = _stale_address(path, taken)
            taken.add(address)
            stale = Change(
                address,
                Action.DELETE,
                (FieldChange("file", path, None),),
                reason="stale credential removed: no policy wants it",
            )
            changes.append(Planned(stale, StaleFile(path)))
        manifest = self._manifest_change(desired, specs, actual)
        if manifest is not None:
            changes.append(manifest)
        return changes

    @staticmethod
    def _manifest_change(
        desired: DesiredState, specs: Sequence[CredentialSpec], actual: CredentialsActual
    ) -> Planned[CredentialTarget] | None:
        have = actual.files.get(MANIFEST_PATH)
        source = desired.source("credentials")
        if not specs:
            if have is None:
                return None
            removed = Change(
                MANIFEST_ADDRESS,
                Action.DELETE,
                (FieldChange("file", MANIFEST_PATH, None),),
                reason="no credentials are wanted on this host",
            )
            return Planned(removed, StaleFile(MANIFEST_PATH))
        content = render_manifest(specs)
        want = {s.name: manifest_entry(s) for s in specs}
        if have is None:
            fields = _manifest_fields(want, {})
            created = Change(
                MANIFEST_ADDRESS,
                Action.CREATE,
                tuple(fields),
                reason=f"{MANIFEST_PATH} is missing",
                source=source,
            )
            return Planned(created, ManifestWant(content))
        fields = []
        if actual.manifest != content:
            fields = _manifest_fields(want, actual.manifest_entries)
        fields += _metadata_changes(have, MANIFEST_MODE, 0, 0)
        if not fields:
            return None
        updated = Change(
            MANIFEST_ADDRESS,
            Action.UPDATE,
            tuple(fields),
            reason=f"{MANIFEST_PATH} differs",
            source=source,
        )
        return Planned(updated, ManifestWant(content))

    def findings(self, desired: DesiredState, actual: CredentialsActual) -> list[Finding]:
        """Credentials that expire within 14 days (warning) or have expired (error)."""
        today = self._today or date.today()
        out: list[Finding] = []
        for spec in sorted(desired.credentials, key=lambda s: s.name):
            left = days_left(spec, today)
            if left is None:
                continue
            when = _expires(spec)
            if left < 0:
                out.append(
                    Finding(
                        f"credential/{spec.name}", f"expired on {when}; rotate it", severity="error"
                    )
                )
            elif timedelta(days=left) <= EXPIRY_WARNING:
                out.append(
                    Finding(
                        f"credential/{spec.name}",
                        f"expires on {when} (in {left} days); rotate it soon",
                    )
                )
        return out

    def apply(self, transport: Transport, change: Planned[CredentialTarget]) -> None:
        """Write one credential (0400, its container's uid:gid) or the manifest (0444, root)
        atomically, remove a stale file, narrow the directory's mode, or repair an unsafe
        directory: all through :mod:`~checkpointctl.transport.safepath`, never through a link."""
        target = change.desired
        if isinstance(target, PathRepair):
            apply_path_target(transport, target)
        elif isinstance(target, StaleFile):
            safepath.remove(transport, target.path)
        elif isinstance(target, CredentialSpec):
            safepath.write(
                transport,
                target.file_path,
                render_credential(target),
                mode=FILE_MODE,
                uid=target.uid,
                gid=target.gid,
            )
        elif isinstance(target, ManifestWant):
            safepath.write(
                transport, MANIFEST_PATH, target.content, mode=MANIFEST_MODE, uid=0, gid=0
            )
        elif isinstance(target, DirectoryWant):
            # chmod only removes bits here: the directory never passes through a wider mode
            chmod = Command(("chmod", "--", f"{target.mode:o}", CREDENTIALS_DIR))
            guarded = safepath.guarded(chmod, [CREDENTIALS_DIR])
            result = transport.run(guarded.argv, check=False)
            refused = safepath.refusal(result)
            if refused is not None:
                raise safepath.UnsafePathError(transport.host.name, refused)
            finish(transport.host.name, result, check=True)
        else:
            assert_never(target)
