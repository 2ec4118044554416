"""checkpointctl as a Python library: the functions the ``checkpointctl`` command itself calls.

Everything an embedding program needs is importable from here, typed, with no private name:
load an inventory and the policies, render the desired states, run ``drift``, ``check`` or
``apply`` (with an :class:`Observer` for progress), read fleet health, and render or read back
reports. The command line is a thin layer over these functions, so a program that uses them
gets exactly what the command gives. See ``docs/api.md`` for a runnable example.

Errors are :class:`CheckpointctlError` (bad policies: :class:`PolicyError`, whose message names
each file:line:col and field). Secrets stay :class:`Secret` everywhere and render as
``<sensitive>``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from checkpointctl.engine.fanout import DEFAULT_FORKS
from checkpointctl.engine.run import (
    ApplyOptions,
    Connect,
    NullObserver,
    Observer,
    Rollout,
    run_fleet,
    stream_fleet,
)
from checkpointctl.errors import CheckpointctlError, Diagnostic, PolicyError
from checkpointctl.gitops.scangate import attach_scan_verdicts
from checkpointctl.inventory import Inventory
from checkpointctl.inventory import load_inventory as _load_inventory
from checkpointctl.inventory.ansible_vault import VaultPasswords
from checkpointctl.inventory.ansiblecfg import NO_CONFIG, AnsibleConfig, read_ansible_config
from checkpointctl.model import (
    Action,
    Change,
    DataCollection,
    FieldChange,
    Finding,
    Host,
    HostResult,
    HostStatus,
    JSONValue,
    RunMode,
    RunReport,
    Secret,
    report_to_json,
)
from checkpointctl.model.health import HostHealth, fleet_json
from checkpointctl.model.impact import Impact
from checkpointctl.model.locations import LocationHealth, has_locations, location_health_json
from checkpointctl.model.locations import location_health as _location_health
from checkpointctl.model.readback import ReportFormatError, report_from_json, status_from_json
from checkpointctl.policy.build import Decrypt
from checkpointctl.policy.loader import LoadResult, load_desired
from checkpointctl.report import FORMATS, Format, render, summary_line
from checkpointctl.report.recap import Recap, recap, recap_lines
from checkpointctl.spec import DesiredState, state_to_data

DEFAULT_POLICY_PATHS: tuple[str, ...] = ("policies",)
"""Where the command looks for policies when none are named."""

StatusFormat = Literal["text", "json", "html"]
"""``status`` renders as ``text`` (a table), ``json`` or ``html``."""

__all__ = [
    "DEFAULT_POLICY_PATHS",
    "FORMATS",
    "Action",
    "AnsibleConfig",
    "ApplyOptions",
    "Change",
    "CheckpointctlError",
    "Connect",
    "DataCollection",
    "Decrypt",
    "DesiredState",
    "Diagnostic",
    "FieldChange",
    "Finding",
    "Format",
    "Host",
    "HostHealth",
    "HostResult",
    "HostStatus",
    "Impact",
    "Inventory",
    "JSONValue",
    "LoadResult",
    "LocationHealth",
    "NullObserver",
    "Observer",
    "PolicyError",
    "Recap",
    "ReportFormatError",
    "Rollout",
    "RunMode",
    "RunReport",
    "Secret",
    "StatusFormat",
    "VaultPasswords",
    "apply",
    "check",
    "drift",
    "load_inventory",
    "load_policies",
    "location_health",
    "read_ansible_config",
    "read_report",
    "read_status",
    "recap",
    "recap_lines",
    "render_impact",
    "render_report",
    "render_states",
    "render_status",
    "report_from_json",
    "report_to_json",
    "status",
    "status_exit_code",
    "status_from_json",
    "stream_read",
    "summary_line",
    "vault_decryptor",
]


# --- loading ---------------------------------------------------------------------------------


def load_inventory(
    sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    playbook_dir: str | os.PathLike[str] | None = None,
    passwords: VaultPasswords | None = None,
    ssh_config: str | os.PathLike[str] | None = None,
    ansible_config: AnsibleConfig | None = None,
) -> Inventory:
    """One or several inventory sources, in order, as Ansible reads them (YAML, INI, folders,
    ``group_vars``/``host_vars``; ``playbook_dir``: the policy repository, whose
    ``group_vars``/``host_vars`` apply too). ``passwords`` open Ansible-vaulted values.
    ``ssh_config`` is the ssh_config file (``ssh -F``) of every host whose inventory names
    none (else ``~/.ssh/config``, then ``/etc/ssh/ssh_config``). ``ansible_config``: the
    Ansible config to apply (``read_ansible_config()`` reads the one in effect, as the CLI
    does; its ``check`` raises what it refuses); None: Ansible's defaults, whatever the machine
    has.

    Raises:
        CheckpointctlError: every problem, naming file:line:col where known.
    """
    names = (
        [os.fspath(sources)]
        if isinstance(sources, str | os.PathLike)
        else [os.fspath(s) for s in sources]
    )
    base = None if playbook_dir is None else os.fspath(playbook_dir)
    config = NO_CONFIG if ansible_config is None else ansible_config
    inventory = _load_inventory(names, passwords=passwords, playbook_dir=base, config=config)
    if ssh_config is not None:
        inventory = inventory.with_ssh_config(os.fspath(ssh_config))
    return inventory


def vault_decryptor(
    password_file: str | os.PathLike[str] | None = None, *, interactive: bool = False
) -> Decrypt | None:
    """A function that decrypts the policies' vaulted values, or None when no key is set.

    The key comes from ``password_file`` (a file holding the passphrase, or an executable that
    prints it), else ``$CHECKPOINTCTL_VAULT_PASSWORD(_FILE)``, else a prompt when
    ``interactive``.
    """
    from checkpointctl.trust import vault

    path = None if password_file is None else os.fspath(password_file)
    key = vault.load_key(path, interactive=interactive)
    if key is None:
        return None

    def decrypt(text: str, where: str) -> Secret:
        return Secret(vault.decrypt(text, key, where))

    return decrypt


def load_policies(
    paths: Sequence[str | os.PathLike[str]],
    inventory: Inventory,
    *,
    limit: str | None = None,
    decrypt: Decrypt | None = None,
    need_secrets: bool = False,
    on_warning: Callable[[Diagnostic], None] | None = None,
    hosts: Sequence[Host] | None = None,
) -> LoadResult:
    """The policies under ``paths`` and the desired state of each host ``limit`` selects.

    ``limit`` is an Ansible-style host pattern (None: every host); ``hosts``, when given, are
    the hosts instead (``drift --shard``'s share of the selection). Scan-gate verdicts are
    attached to each state, as for the command. Warnings go to ``on_warning`` (they also stay
    in ``result.warnings``).

    Raises:
        PolicyError: any policy error, each naming file:line:col and field.
        CheckpointctlError: ``need_secrets`` and the policies hold vaulted credentials but no
            ``decrypt`` was given.
    """
    names = [os.fspath(p) for p in paths] or list(DEFAULT_POLICY_PATHS)
    selected = inventory.select(limit) if hosts is None else hosts
    result = load_desired(names, inventory, selected, decrypt=decrypt)
    if on_warning is not None:
        for warning in result.warnings:
            on_warning(warning)
    if result.errors:
        raise PolicyError(result.errors)
    attach_scan_verdicts(result, names)
    if need_secrets and decrypt is None and any(s.credentials for s in result.states.values()):
        raise CheckpointctlError(
            "the policies hold vaulted credentials: give the vault key with "
            "--vault-password-file FILE or CHECKPOINTCTL_VAULT_PASSWORD(_FILE)"
        )
    return result


def render_states(result: LoadResult, host: str | None = None) -> dict[str, object]:
    """Each host's desired state as plain data (what ``checkpointctl render`` prints), secrets
    as ``<sensitive>``; only ``host`` when given (empty when it has no state)."""
    if host is not None:
        state = result.states.get(host)
        return {host: state_to_data(state) if state is not None else {}}
    return {name: state_to_data(state) for name, state in result.states.items()}


# --- runs ------------------------------------------------------------------------------------


def _default_connect() -> Connect:
    from checkpointctl.transport.connect import connect

    return connect


def _selected(hosts: Inventory | Sequence[Host], limit: str | None) -> Sequence[Host]:
    if isinstance(hosts, Inventory):
        return hosts.select(limit)
    return hosts


def drift(
    hosts: Inventory | Sequence[Host],
    states: LoadResult | dict[str, DesiredState],
    *,
    limit: str | None = None,
    connect: Connect | None = None,
    forks: int = DEFAULT_FORKS,
    observer: Observer | None = None,
    options: ApplyOptions | None = None,
) -> RunReport:
    """Read every host that has a desired state, diff, and report; changes nothing.

    ``report.exit_code`` is the command's: 0 in sync, 2 drift, 1 a host failed or was
    unreachable. ``observer`` is called from worker threads as hosts start and finish.
    ``options.today`` is the day ``spec.exceptions`` are judged on (``drift --at``),
    ``options.fail_on`` the classes of change that make it exit 2 (``drift --fail-on``).
    """
    return _run("drift", hosts, states, limit, connect, forks, observer, None, options)


def check(
    hosts: Inventory | Sequence[Host],
    states: LoadResult | dict[str, DesiredState],
    *,
    limit: str | None = None,
    connect: Connect | None = None,
    forks: int = DEFAULT_FORKS,
    observer: Observer | None = None,
    options: ApplyOptions | None = None,
) -> RunReport:
    """What :func:`apply` would do (``apply --check``): a plan worded as a preview."""
    return _run("check", hosts, states, limit, connect, forks, observer, None, options)


def apply(
    hosts: Inventory | Sequence[Host],
    states: LoadResult | dict[str, DesiredState],
    *,
    limit: str | None = None,
    connect: Connect | None = None,
    forks: int = DEFAULT_FORKS,
    observer: Observer | None = None,
    rollout: Rollout | None = None,
    options: ApplyOptions | None = None,
) -> RunReport:
    """Converge the hosts to their desired states, in batches as ``rollout`` says.

    Each host is locked, converged, re-read and verified; ``options`` sets the lock wait, the
    owner and the audit log (defaults suit a library: no controller-side audit log).
    """
    return _run("apply", hosts, states, limit, connect, forks, observer, rollout, options)


def _run(
    mode: RunMode,
    hosts: Inventory | Sequence[Host],
    states: LoadResult | dict[str, DesiredState],
    limit: str | None,
    connect: Connect | None,
    forks: int,
    observer: Observer | None,
    rollout: Rollout | None = None,
    options: ApplyOptions | None = None,
) -> RunReport:
    desired = states.states if isinstance(states, LoadResult) else states
    return run_fleet(
        _selected(hosts, limit),
        desired,
        mode,
        connect or _default_connect(),
        forks=forks,
        rollout=rollout,
        observer=observer,
        options=options,
    )


def stream_read(
    mode: Literal["drift", "check"],
    hosts: Inventory | Sequence[Host],
    states: LoadResult | dict[str, DesiredState],
    emit: Callable[[HostResult], None],
    *,
    limit: str | None = None,
    connect: Connect | None = None,
    forks: int = DEFAULT_FORKS,
    observer: Observer | None = None,
    options: ApplyOptions | None = None,
) -> None:
    """:func:`drift` or :func:`check` whose host results go to ``emit`` as they finish (in
    the hosts' order) instead of into a report: nothing is kept per host, so a fleet of any
    size costs the same memory. ``emit`` is called from the calling thread; a
    :class:`~checkpointctl.report.stream.ReportStream`'s ``add`` writes the report as it goes.
    """
    desired = states.states if isinstance(states, LoadResult) else states
    stream_fleet(
        _selected(hosts, limit),
        desired,
        mode,
        connect or _default_connect(),
        emit,
        forks=forks,
        observer=observer,
        options=options,
    )


def status(
    hosts: Inventory | Sequence[Host],
    states: LoadResult | dict[str, DesiredState] | None = None,
    *,
    limit: str | None = None,
    connect: Connect | None = None,
    forks: int = DEFAULT_FORKS,
) -> list[HostHealth]:
    """Fleet health: containers, firewall, expiring credentials, last apply, hygiene.

    Without ``states`` hosts are read without comparing them to policies.
    """
    desired: dict[str, DesiredState] = {}
    if isinstance(states, LoadResult):
        desired = states.states
    elif states is not None:
        desired = states
    from checkpointctl.engine.status import read_fleet  # status only: not on drift's path

    return read_fleet(_selected(hosts, limit), desired, connect or _default_connect(), forks=forks)


def location_health(hosts: Sequence[Host], healths: Sequence[HostHealth]) -> list[LocationHealth]:
    """Health per location (inventory ``location``, ``min_healthy``); empty when no host has a
    location."""
    if not has_locations(hosts):
        return []
    return _location_health(hosts, {h.host: h for h in healths})


def status_exit_code(hosts: Sequence[HostHealth]) -> int:
    """The command's exit code for ``status``: 0 when every host is healthy, else 1."""
    from checkpointctl.engine.status import exit_code

    return exit_code(hosts)


# --- reports ---------------------------------------------------------------------------------


def render_report(report: RunReport, fmt: Format = "text", *, color: bool = False) -> str:
    """``report`` as text (``color``: ANSI colours), json, junit, markdown or html."""
    return render(report, fmt, color=color)


def render_status(
    hosts: Sequence[HostHealth],
    fmt: StatusFormat = "text",
    *,
    color: bool = False,
    width: int = 200,
    locations: Sequence[LocationHealth] = (),
) -> str:
    """Fleet health as a ``text`` table (``width`` columns), ``json`` or an ``html`` page;
    ``locations`` (:func:`location_health`) adds health per location to text and json."""
    if fmt == "json":
        doc = fleet_json(hosts)
        if locations:
            doc["locations"] = [location_health_json(loc) for loc in locations]
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"
    # the renderers below bring rich and the HTML page: imported only by the command that
    # prints them, not by every drift that imports this module
    if fmt == "html":
        from checkpointctl.report.html import render_status_html

        return render_status_html(hosts)
    if fmt == "text":
        from checkpointctl.report.status import render_locations, render_table

        return render_table(hosts, color=color, width=width) + render_locations(locations)
    raise ValueError(f"status has no {fmt!r} format (text, json or html)")


def render_impact(impact: Impact, fmt: Format = "text") -> str:
    """The impact of a change (``checkpointctl impact``) as text, json, markdown or html."""
    if fmt == "html":
        from checkpointctl.report.html import render_impact_html

        return render_impact_html(impact)
    from checkpointctl.report.impact import RENDERERS as IMPACT_RENDERERS

    renderer = IMPACT_RENDERERS.get(fmt)
    if renderer is None:
        raise ValueError(f"impact has no {fmt!r} format (text, json, markdown or html)")
    return renderer(impact)


def _read_json(path: str | os.PathLike[str]) -> JSONValue:
    """A saved report's document; a file that is not JSON is a :class:`ReportFormatError`."""
    file = Path(path)
    try:
        document: JSONValue = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ReportFormatError(f"{file}: not JSON: {exc}") from None
    return document


def read_status(path: str | os.PathLike[str]) -> tuple[HostHealth, ...]:
    """The hosts of a status report saved with ``status --format json``, to render again (as
    :func:`render_status` does) without reading the fleet.

    Raises:
        ReportFormatError: not a 1.x status report (the message names the first bad field).
        OSError: the file cannot be read.
    """
    return status_from_json(_read_json(path))


def read_report(path: str | os.PathLike[str]) -> RunReport:
    """A run report saved with ``--format json`` (:func:`report_from_json` takes the parsed
    document instead).

    Raises:
        ReportFormatError: not a 1.x run report (the message names the first bad field).
        OSError: the file cannot be read.
    """
    return report_from_json(_read_json(path))
