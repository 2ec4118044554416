"""``status --from URL|DIR``: pull hosts read from the signed reports their agents PUT.

A pull host accepts no connection, so its status is its agent's last report
(:mod:`checkpointctl.trust.statusreport`), fetched from ``DIR/<host>.json``, from a URL with
``{host}`` in it, or from ``URL/<host>.json``. Nothing in a report is believed unless it verifies
with the host's ``agent_report_key`` from the inventory; then it is flagged when it is older than
three of the agent's intervals (the one it reports, else ``default_interval``), when the host
runs an older bundle serial than the newest reported in the fleet, or when the run itself was
not healthy.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import datetime

from checkpointctl.engine.fanout import fan_out
from checkpointctl.errors import CheckpointctlError
from checkpointctl.model import Host
from checkpointctl.model.pullhealth import PullHostHealth, ReportFlag
from checkpointctl.trust.fetch import fetch
from checkpointctl.trust.statusreport import (
    INVENTORY_VAR,
    HostReport,
    parse_report_public_key,
    report_url,
    verify_report,
)

STALE_INTERVALS = 3
Fetch = Callable[[str], bytes]


def is_pull_host(host: Host) -> bool:
    """A host whose inventory says it converges itself (``pull_mode: true``)."""
    return host.vars.get("pull_mode") is True


def report_location(source: str, host: str) -> str:
    """Where ``host``'s report is: ``{host}`` filled in, else ``source/<host>.json``."""
    if "{host}" in source:
        return report_url(source, host)
    if "://" in source:
        return source.rstrip("/") + "/" + report_url("{host}", host) + ".json"
    return os.path.join(source, f"{host}.json")


def _read(host: Host, source: str, get: Fetch) -> HostReport | PullHostHealth:
    where = report_location(source, host.name)
    try:
        data = get(where)
    except CheckpointctlError as exc:
        return PullHostHealth(host.name, (ReportFlag.MISSING,), detail=str(exc))
    key_text = host.vars.get(INVENTORY_VAR)
    if key_text is None:
        return PullHostHealth(
            host.name,
            (ReportFlag.BAD_SIGNATURE,),
            detail=f"no {INVENTORY_VAR} in the inventory: the report cannot be believed",
        )
    try:
        key = parse_report_public_key(key_text, f"{host.name}: {INVENTORY_VAR}")
        return verify_report(data, key, host.name, where)
    except CheckpointctlError as exc:
        return PullHostHealth(host.name, (ReportFlag.BAD_SIGNATURE,), detail=str(exc))


def read_pull_hosts(
    hosts: Sequence[Host],
    source: str,
    *,
    now: datetime,
    default_interval: float,
    forks: int = 50,
    get: Fetch | None = None,
) -> list[PullHostHealth]:
    """Every host's report, verified and flagged, in the hosts' order."""
    fetcher: Fetch = get or (lambda where: fetch(where))
    read = fan_out(lambda h: _read(h, source, fetcher), hosts, forks=forks)
    newest = max((r.serial for r in read if isinstance(r, HostReport) and r.serial), default=None)
    out: list[PullHostHealth] = []
    for item in read:
        if isinstance(item, PullHostHealth):
            out.append(item)
            continue
        age = (now - item.time).total_seconds()
        interval = item.interval or default_interval
        flags: list[ReportFlag] = []
        details: list[str] = []
        if age > STALE_INTERVALS * interval:
            flags.append(ReportFlag.STALE)
            details.append(f"last report {age:.0f}s ago (interval {interval:.0f}s)")
        if newest is not None and (item.serial is None or item.serial < newest):
            flags.append(ReportFlag.OLD_SERIAL)
            details.append(f"runs serial {item.serial}, the fleet's newest is {newest}")
        if not item.healthy:
            flags.append(ReportFlag.UNHEALTHY)
            details.append(item.message or item.result)
        out.append(
            PullHostHealth(
                item.host, tuple(flags), item.result, item.serial, age, "; ".join(details)
            )
        )
    return out
