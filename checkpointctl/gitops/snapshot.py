"""The desired state of every host as one revision of the repository describes it.

A *side* of an impact comparison is either a Git revision (its policies, and its inventory when
the inventory lives in the repository, exported into a temporary folder) or the working tree.
It goes through the same pipeline as ``render``; only the error locations are mapped back from
the temporary folder to ``REV:path`` so that they point at something the user can open.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath

from checkpointctl.errors import Diagnostic, InventoryError, PolicyError
from checkpointctl.gitops import gitrev
from checkpointctl.inventory import load_inventory
from checkpointctl.inventory.ansible_vault import VaultPasswords
from checkpointctl.inventory.ansiblecfg import NO_CONFIG, AnsibleConfig
from checkpointctl.policy.build import Decrypt
from checkpointctl.policy.loader import load_desired
from checkpointctl.spec import state_to_data
from checkpointctl.yamlsource import expand_paths

HostData = dict[str, object]
"""One host's desired state as plain data (``state_to_data``), secrets kept as Secret objects
so they compare by value and still print as ``<sensitive>``."""


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a comparison: a label for people, and each host's desired state."""

    label: str
    commit: str | None
    states: dict[str, HostData]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Sources:
    """What to render: policy paths and the inventory, as the user gave them, plus the repo."""

    root: Path
    policy_paths: tuple[str, ...]
    inventory: tuple[str, ...]
    passwords: VaultPasswords | None = None
    """The Ansible vault passwords of the inventories' vaulted values."""
    config: AnsibleConfig = NO_CONFIG
    """The Ansible config in effect where the command runs (hash behaviour, plugins)."""


def _remap(diags: Sequence[Diagnostic], tmp: Path, rev: str) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    prefix = str(tmp) + "/"
    for d in diags:
        loc = d.location
        if loc is not None and loc.path.startswith(prefix):
            loc = dataclasses.replace(loc, path=f"{rev}:{loc.path[len(prefix) :]}")
        message = d.message.replace(prefix, f"{rev}:")
        out.append(dataclasses.replace(d, location=loc, message=message))
    return out


def _render(
    policy_paths: Sequence[str],
    inventory_paths: Sequence[str],
    passwords: VaultPasswords | None,
    decrypt: Decrypt | None,
    today: date | None,
    config: AnsibleConfig,
) -> dict[str, HostData]:
    inventory = load_inventory(
        list(inventory_paths),
        passwords=passwords,
        playbook_dir=_playbook_dir(policy_paths),
        config=config,
    )
    result = load_desired(list(policy_paths), inventory, decrypt=decrypt, today=today)
    if result.errors:
        raise PolicyError(result.errors)
    return {name: state_to_data(state, secret=lambda s: s) for name, state in result.states.items()}


def _playbook_dir(policy_paths: Sequence[str]) -> str | None:
    """The policy repository, where group_vars/host_vars sit as beside a playbook."""
    if not policy_paths:
        return None
    first = Path(policy_paths[0])
    return str(first.parent if first.is_dir() else first.parent.parent)


def working_tree(sources: Sources, decrypt: Decrypt | None) -> Side:
    """The working tree as it is now (uncommitted changes included, like ``git diff REV``)."""
    paths = [p for p in sources.policy_paths if Path(p).exists()]
    notes: list[str] = []
    if not expand_paths(paths):
        notes.append(f"no policy files under {', '.join(sources.policy_paths)} in the working tree")
        return Side("working tree", None, {}, tuple(notes))
    states = _render(paths, sources.inventory, sources.passwords, decrypt, None, sources.config)
    return Side("working tree", None, states)


def at_revision(
    sources: Sources, ref: str, decrypt: Decrypt | None, *, today: date | None = None
) -> Side:
    """Every host's desired state at ``ref``.

    ``today`` is the day credential expiry is judged against (default: the commit's own date,
    so an old base is rendered as it was valid when committed).
    """
    root = sources.root
    commit = gitrev.resolve_commit(root, ref)
    label = f"{ref} ({commit[:12]})"
    rels: list[str] = []
    for p in sources.policy_paths:
        rel = gitrev.relative(root, p)
        if rel is None:
            raise gitrev.GitError(f"policy path {p} is outside the repository {root}")
        rels.append(rel)
    inv_rels = [gitrev.relative(root, inv) for inv in sources.inventory]
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="checkpointctl-impact-") as tmp_name:
        tmp = Path(tmp_name)
        wanted = list(rels)
        for inv, inv_rel in zip(sources.inventory, inv_rels, strict=True):
            if inv_rel is None:
                continue
            wanted.append(inv_rel)
            # group_vars/host_vars beside an inventory file are part of it
            beside = str(PurePosixPath(inv_rel).parent) if not Path(inv).is_dir() else None
            for sub in ("group_vars", "host_vars") if beside is not None else ():
                wanted.append(sub if beside == "." else f"{beside}/{sub}")
        for rel in rels:
            parent = PurePosixPath(rel).parent
            for sub in ("group_vars", "host_vars"):
                wanted.append(sub if str(parent) == "." else f"{parent}/{sub}")
        gitrev.export(root, commit, wanted, tmp)
        inventory: list[str] = []
        for inv, inv_rel in zip(sources.inventory, inv_rels, strict=True):
            if inv_rel is not None and (tmp / inv_rel).exists():
                inventory.append(str(tmp / inv_rel))
            else:
                inventory.append(inv)
                if inv_rel is not None:
                    notes.append(f"{inv_rel} is not in {ref}: used the working copy for it")
        paths = [str(tmp / r) for r in rels if (tmp / r).exists()]
        if not expand_paths(paths):
            notes.append(f"no policy files under {', '.join(rels)} in {ref}")
            return Side(label, commit, {}, tuple(notes))
        when = today or gitrev.commit_date(root, commit)
        try:
            states = _render(paths, inventory, sources.passwords, decrypt, when, sources.config)
        except InventoryError as exc:
            raise InventoryError(_remap(exc.items, tmp, ref)) from None
        except PolicyError as exc:
            raise PolicyError(_remap(exc.items, tmp, ref)) from None
    return Side(label, commit, states, tuple(notes))
