"""Reading files as they were at a Git revision, on full and on shallow checkouts.

Everything goes through ``git`` with argv lists. A revision's files are exported with
``git archive`` into a temporary folder (extracted with tarfile's ``data`` filter, so no entry
can land outside it or become a device or an absolute symlink), and the policy pipeline runs on
that folder as it would on the working tree.

CI checkouts are often shallow: when a revision is missing we fetch it once from ``origin``
(``--depth=1`` when the clone is shallow). When that fails the error says what the pipeline
needs: the full history (``fetch-depth: 0`` on GitHub, ``GIT_DEPTH: 0`` on GitLab).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from collections.abc import Sequence
from datetime import date
from pathlib import Path, PurePosixPath

from checkpointctl.errors import CheckpointctlError

GIT_TIMEOUT = 120.0
SHALLOW_HINT = (
    "give the job the history it compares against: in GitHub Actions, actions/checkout with "
    "`fetch-depth: 0`; in GitLab CI, `GIT_DEPTH: 0` (see docs/ci/README.md)"
)


class GitError(CheckpointctlError):
    """git is missing, the folder is not a repository, or a revision cannot be read."""


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    """Run ``git -C root args…``; raise GitError with git's own message when ``check``."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise GitError("git is not installed (impact reads revisions with git)") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"`git {args[0]}` did not finish in {GIT_TIMEOUT:.0f}s") from None
    if check and proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(f"`git {args[0]}` failed: {message[-1] if message else proc.returncode}")
    return proc


def toplevel(start: Path) -> Path:
    """The root of the work tree that holds ``start`` (a folder)."""
    proc = git(start, "rev-parse", "--show-toplevel", check=False)
    if proc.returncode != 0:
        raise GitError(f"{start} is not inside a Git work tree (impact compares revisions)")
    return Path(proc.stdout.decode().strip())


def _valid_ref(ref: str) -> None:
    if not ref or ref.startswith("-") or any(c in ref for c in "\0\n\r"):
        raise GitError(f"{ref!r} is not a revision")


def _lookup(root: Path, ref: str) -> str | None:
    proc = git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def _fetch_name(ref: str) -> str:
    """What to ask ``origin`` for: ``origin/main`` → ``main``; anything else as written."""
    return ref.removeprefix("refs/remotes/origin/").removeprefix("origin/")


def resolve_commit(root: Path, ref: str, *, fetch: bool = True) -> str:
    """The commit id ``ref`` names, fetching it from ``origin`` once if this clone lacks it."""
    _valid_ref(ref)
    commit = _lookup(root, ref)
    if commit is not None:
        return commit
    if not fetch:
        raise GitError(f"revision {ref!r} is not in this clone")
    shallow = git(root, "rev-parse", "--is-shallow-repository", check=False)
    depth = ["--depth=1"] if shallow.stdout.strip() == b"true" else []
    name = _fetch_name(ref)
    proc = git(root, "fetch", "--quiet", "--no-tags", *depth, "origin", name, check=False)
    commit = _lookup(root, "FETCH_HEAD") if proc.returncode == 0 else None
    if commit is None:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        fatal = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
        reason = (fatal or lines or ["no such revision"])[0]
        command = " ".join(["git fetch", *depth, "origin", name])
        raise GitError(
            f"revision {ref!r} is not in this clone and `{command}` failed ({reason}); "
            f"{SHALLOW_HINT}"
        )
    return commit


def commit_date(root: Path, commit: str) -> date:
    """The committer date of ``commit`` (the day its policies were written for)."""
    out = git(root, "show", "-s", "--format=%cs", commit).stdout.decode().strip()
    return date.fromisoformat(out)


def existing(root: Path, commit: str, paths: Sequence[str]) -> list[str]:
    """Which of ``paths`` (relative to the root; ``.`` for all) exist at ``commit``."""
    out: list[str] = []
    for p in paths:
        proc = git(root, "ls-tree", "--name-only", "--full-tree", commit, "--", p)
        if proc.stdout.strip():
            out.append(p)
    return out


def export(root: Path, commit: str, paths: Sequence[str], dest: Path) -> list[str]:
    """Write the files under ``paths`` as they are at ``commit`` into ``dest``; returns the
    paths that existed there (the others are simply absent from ``dest``)."""
    present = existing(root, commit, paths)
    if not present:
        return []
    proc = git(root, "archive", "--format=tar", commit, "--", *present)
    with tarfile.open(fileobj=io.BytesIO(proc.stdout), mode="r:") as tar:
        if HAS_EXTRACTION_FILTERS:
            tar.extractall(dest, filter="data")
        else:
            _extract_plain(tar, dest)
    return present


HAS_EXTRACTION_FILTERS = hasattr(tarfile, "data_filter")
"""Extraction filters came with Python 3.11.4 (and security releases of older lines); Debian 12
ships 3.11.2, where ``extractall(filter=...)`` is a TypeError."""


def _extract_plain(tar: tarfile.TarFile, dest: Path) -> None:
    """What the ``data`` filter would keep of a ``git archive``, without it: directories and
    regular files, written by us (no modes, owners or links from the archive), and nothing
    whose name leaves ``dest``. Links are skipped: policies and inventories are regular files.

    Raises:
        GitError: a member's name is absolute or climbs out with ``..``.
    """
    for member in tar.getmembers():
        parts = PurePosixPath(member.name).parts
        if member.name.startswith("/") or ".." in parts:
            raise GitError(f"git archive holds a path outside the export: {member.name!r}")
        target = dest.joinpath(*parts)
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
        elif member.isfile():
            source = tar.extractfile(member)
            if source is None:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with source, target.open("wb") as out:
                shutil.copyfileobj(source, out)


def relative(root: Path, path: str) -> str | None:
    """``path`` relative to the work tree root (``.`` for the root), or None if outside it."""
    try:
        rel = Path(path).resolve().relative_to(root.resolve())
    except ValueError:
        return None
    return rel.as_posix() if rel.parts else "."
