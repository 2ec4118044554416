"""A saved JSON run report read back into a :class:`~checkpointctl.model.RunReport`, and a
saved status report into its :class:`~checkpointctl.model.health.HostHealth` list.

The JSON form (``report_to_json``) is the report's stable interface, so a report written by one
run (or by a CI shard) can be rendered again, in any format, without the hosts. What the JSON
does not carry stays unknown: ``desired``, and ``checked`` in reports before 1.2. A redacted
value (``"<sensitive>"``) comes back as an empty :class:`Secret`, so renderers show it redacted
exactly as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Literal, cast

from checkpointctl.errors import CheckpointctlError, Location
from checkpointctl.model import (
    REDACTED,
    Action,
    Change,
    DataCollection,
    FieldChange,
    FieldValue,
    Finding,
    HostResult,
    HostStatus,
    JSONValue,
    ReplaceOrder,
    RunMode,
    RunReport,
    Secret,
)
from checkpointctl.model.health import ContainerStatus, Disk, HostHealth, RunRecord
from checkpointctl.model.provenance import AcceptedDifference, DriftOrigin, ExceptionNote, LastApply

_MODES: tuple[RunMode, ...] = ("drift", "apply", "check")
_SEVERITIES = ("info", "warning", "error")


class ReportFormatError(CheckpointctlError):
    """A JSON document that is not a run report this version can read."""


def _obj(value: JSONValue, where: str) -> Mapping[str, JSONValue]:
    if not isinstance(value, dict):
        raise ReportFormatError(f"{where}: expected an object")
    return value


def _list(value: JSONValue, where: str) -> list[JSONValue]:
    if not isinstance(value, list):
        raise ReportFormatError(f"{where}: expected a list")
    return value


def _str(value: JSONValue, where: str) -> str:
    if not isinstance(value, str):
        raise ReportFormatError(f"{where}: expected a string")
    return value


def _opt_str(value: JSONValue, where: str) -> str | None:
    return None if value is None else _str(value, where)


def _value(value: JSONValue) -> FieldValue:
    return Secret(b"") if value == REDACTED else value


def _location(text: str | None) -> Location | None:
    if text is None:
        return None
    path, _, rest = text.rpartition(":")
    path, _, line = path.rpartition(":")
    if path and line.isdigit() and rest.isdigit():
        return Location(path, int(line), int(rest))
    return Location(text, 0, 0)


def _action(doc: Mapping[str, JSONValue], where: str) -> Action:
    """The action, a replacement told apart by ``replace_order`` (a 1.0 report, which has none,
    only ever replaced destroy-first)."""
    name = _str(doc.get("action"), f"{where}.action")
    if name == "replace":
        order = doc.get("replace_order", ReplaceOrder.DESTROY_FIRST.value)
        if order == ReplaceOrder.CREATE_FIRST.value:
            return Action.REPLACE_CREATE_FIRST
        if order == ReplaceOrder.DESTROY_FIRST.value:
            return Action.REPLACE_DESTROY_FIRST
        raise ReportFormatError(f"{where}.replace_order: unknown order {order!r}")
    try:
        action = Action(name)
    except ValueError:
        raise ReportFormatError(f"{where}.action: unknown action {name!r}") from None
    if action.is_replace:  # the JSON names both replacements "replace"
        raise ReportFormatError(f"{where}.action: unknown action {name!r}")
    return action


def _change(doc: Mapping[str, JSONValue], where: str) -> Change:
    action = _action(doc, where)
    fields = tuple(
        FieldChange(
            _str(f.get("path"), f"{where}.fields[{i}].path"),
            _value(f.get("before")),
            _value(f.get("after")),
        )
        for i, f in (
            (i, _obj(item, f"{where}.fields[{i}]"))
            for i, item in enumerate(_list(doc.get("fields", []), f"{where}.fields"))
        )
    )
    return Change(
        address=_str(doc.get("address"), f"{where}.address"),
        action=action,
        fields=fields,
        reason=_str(doc.get("reason", ""), f"{where}.reason"),
        source=_location(_opt_str(doc.get("source"), f"{where}.source")),
        origin=_origin(doc.get("origin"), f"{where}.origin"),
        exception=_exception(doc.get("exception"), f"{where}.exception"),
    )


def _origin(value: JSONValue, where: str) -> DriftOrigin | None:
    if value is None:
        return None
    try:
        return DriftOrigin(_str(value, where))
    except ValueError:
        raise ReportFormatError(f"{where}: unknown class {value!r}") from None


def _exception(value: JSONValue, where: str) -> ExceptionNote | None:
    if value is None:
        return None
    doc = _obj(value, where)
    expires = _str(doc.get("expires"), f"{where}.expires")
    try:
        day = date.fromisoformat(expires)
    except ValueError:
        raise ReportFormatError(f"{where}.expires: {expires!r} is not a date") from None
    return ExceptionNote(
        resource=_str(doc.get("resource"), f"{where}.resource"),
        field=_str(doc.get("field"), f"{where}.field"),
        reason=_str(doc.get("reason"), f"{where}.reason"),
        owner=_str(doc.get("owner"), f"{where}.owner"),
        expires=day,
        source=_opt_str(doc.get("source"), f"{where}.source") or "",
    )


def _last_apply(value: JSONValue, where: str) -> LastApply | None:
    if value is None:
        return None
    doc = _obj(value, where)
    return LastApply(
        time=_str(doc.get("time"), f"{where}.time"),
        who=_str(doc.get("who"), f"{where}.who"),
        result=_str(doc.get("result"), f"{where}.result"),
        run=_opt_str(doc.get("run"), f"{where}.run"),
        policy_revision=_opt_str(doc.get("policy_revision"), f"{where}.policy_revision"),
    )


def _accepted(doc: Mapping[str, JSONValue], where: str) -> AcceptedDifference:
    note = _exception(doc.get("exception"), f"{where}.exception")
    if note is None:
        raise ReportFormatError(f"{where}.exception: missing")
    fields = _list(doc.get("fields", []), f"{where}.fields")
    return AcceptedDifference(
        _str(doc.get("address"), f"{where}.address"),
        tuple(_str(f, f"{where}.fields") for f in fields),
        note,
    )


def _fail_on(doc: Mapping[str, JSONValue]) -> frozenset[DriftOrigin] | None:
    if "fail_on" not in doc:
        return None
    found = (_origin(v, f"fail_on[{i}]") for i, v in enumerate(_list(doc["fail_on"], "fail_on")))
    return frozenset(o for o in found if o is not None)


def _finding(doc: Mapping[str, JSONValue], where: str) -> Finding:
    severity = doc.get("severity", "warning")
    if severity not in _SEVERITIES:
        raise ReportFormatError(f"{where}.severity: unknown severity {severity!r}")
    return Finding(
        _str(doc.get("address"), f"{where}.address"),
        _str(doc.get("message"), f"{where}.message"),
        cast(Literal["info", "warning", "error"], severity),
    )


def _collection(doc: Mapping[str, JSONValue], where: str) -> DataCollection:
    settings = _obj(doc.get("settings", {}), f"{where}.settings")
    if not all(isinstance(v, bool) for v in settings.values()):
        raise ReportFormatError(f"{where}.settings: expected true or false values")
    return DataCollection(
        _str(doc.get("container"), f"{where}.container"),
        _str(doc.get("profile"), f"{where}.profile"),
        tuple((k, bool(v)) for k, v in settings.items()),
    )


def _host(doc: Mapping[str, JSONValue], where: str) -> HostResult:
    try:
        status = HostStatus(_str(doc.get("status"), f"{where}.status"))
    except ValueError:
        raise ReportFormatError(f"{where}.status: unknown status {doc.get('status')!r}") from None
    seconds = doc.get("seconds", 0.0)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ReportFormatError(f"{where}.seconds: expected a number")

    def items(key: str) -> list[tuple[int, Mapping[str, JSONValue]]]:
        return [
            (i, _obj(item, f"{where}.{key}[{i}]"))
            for i, item in enumerate(_list(doc.get(key, []), f"{where}.{key}"))
        ]

    return HostResult(
        host=_str(doc.get("host"), f"{where}.host"),
        status=status,
        changes=tuple(_change(c, f"{where}.changes[{i}]") for i, c in items("changes")),
        applied=tuple(
            _str(a, f"{where}.applied") for a in _list(doc.get("applied", []), f"{where}.applied")
        ),
        failed=_opt_str(doc.get("failed"), f"{where}.failed"),
        error=_opt_str(doc.get("error"), f"{where}.error"),
        findings=tuple(_finding(f, f"{where}.findings[{i}]") for i, f in items("findings")),
        seconds=float(seconds),
        location=_opt_str(doc.get("location"), f"{where}.location"),
        checked=tuple(
            _str(k, f"{where}.checked") for k in _list(doc.get("checked", []), f"{where}.checked")
        ),
        data_collection=tuple(
            _collection(c, f"{where}.data_collection[{i}]") for i, c in items("data_collection")
        ),
        accepted=tuple(_accepted(a, f"{where}.accepted[{i}]") for i, a in items("accepted")),
        last_apply=_last_apply(doc.get("last_apply"), f"{where}.last_apply"),
    )


def report_from_json(document: JSONValue) -> RunReport:
    """The run report a ``report_to_json`` document describes.

    Raises:
        ReportFormatError: the document is not a 1.x run report, naming the first bad field.
    """
    doc = _obj(document, "report")
    version = _str(doc.get("format_version"), "format_version")
    if not version.startswith("1."):
        raise ReportFormatError(f"format_version: {version!r} is not a 1.x report")
    mode = doc.get("mode")
    if mode not in _MODES:
        raise ReportFormatError(f"mode: unknown mode {mode!r}")
    hosts = _list(doc.get("hosts"), "hosts")
    return RunReport(
        mode=cast(RunMode, mode),
        hosts=tuple(_host(_obj(h, f"hosts[{i}]"), f"hosts[{i}]") for i, h in enumerate(hosts)),
        halted=_opt_str(doc.get("halted"), "halted"),
        format_version=version,
        fail_on=_fail_on(doc),
    )


# --- status reports ------------------------------------------------------------------------------


def _opt_int(value: JSONValue, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReportFormatError(f"{where}: expected a whole number")
    return value


def _opt_bool(value: JSONValue, where: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ReportFormatError(f"{where}: expected true, false or null")


def _strings(doc: Mapping[str, JSONValue], key: str, where: str) -> tuple[str, ...]:
    return tuple(
        _str(s, f"{where}.{key}[{i}]") for i, s in enumerate(_list(doc.get(key, []), where))
    )


def _record(value: JSONValue, where: str) -> RunRecord | None:
    if value is None:
        return None
    doc = _obj(value, where)
    return RunRecord(
        time=_str(doc.get("time"), f"{where}.time"),
        result=_str(doc.get("result"), f"{where}.result"),
        who=_opt_str(doc.get("who"), f"{where}.who"),
        error=_opt_str(doc.get("error"), f"{where}.error"),
    )


def _container_status(doc: Mapping[str, JSONValue], where: str) -> ContainerStatus:
    return ContainerStatus(
        name=_str(doc.get("name"), f"{where}.name"),
        state=_str(doc.get("state"), f"{where}.state"),
        health=_opt_str(doc.get("health"), f"{where}.health"),
        restarts=_opt_int(doc.get("restarts", 0), f"{where}.restarts") or 0,
        digest_ok=_opt_bool(doc.get("digest_matches_policy"), f"{where}.digest_matches_policy"),
        wanted=_opt_bool(doc.get("in_policy", True), f"{where}.in_policy") is not False,
    )


def _host_health(doc: Mapping[str, JSONValue], where: str) -> HostHealth:
    reachable = doc.get("reachable")
    if not isinstance(reachable, bool):
        raise ReportFormatError(f"{where}.reachable: expected true or false")
    disk = doc.get("disk")
    disk_doc = None if disk is None else _obj(disk, f"{where}.disk")

    def items(key: str) -> list[tuple[int, Mapping[str, JSONValue]]]:
        return [
            (i, _obj(item, f"{where}.{key}[{i}]"))
            for i, item in enumerate(_list(doc.get(key, []), f"{where}.{key}"))
        ]

    return HostHealth(
        host=_str(doc.get("host"), f"{where}.host"),
        reachable=reachable,
        error=_opt_str(doc.get("error"), f"{where}.error"),
        docker=_opt_str(doc.get("docker"), f"{where}.docker"),
        containers=tuple(
            _container_status(c, f"{where}.containers[{i}]") for i, c in items("containers")
        ),
        firewall=_str(doc.get("firewall", "-"), f"{where}.firewall"),
        credentials=_strings(doc, "credentials_expiring", where),
        last_apply=_record(doc.get("last_apply"), f"{where}.last_apply"),
        agent=_record(doc.get("agent"), f"{where}.agent"),
        security_updates=_opt_int(doc.get("security_updates"), f"{where}.security_updates"),
        disk=None
        if disk_doc is None
        else Disk(
            used_pct=_opt_int(disk_doc.get("used_percent"), f"{where}.disk.used_percent") or 0,
            avail_kb=_opt_int(disk_doc.get("available_kib"), f"{where}.disk.available_kib") or 0,
        ),
        security=_strings(doc, "security", where),
        problems=_strings(doc, "problems", where),
        warnings=_strings(doc, "warnings", where),
        location=_opt_str(doc.get("location"), f"{where}.location"),
        data_collection=tuple(
            _collection(c, f"{where}.data_collection[{i}]") for i, c in items("data_collection")
        ),
    )


def status_from_json(document: JSONValue) -> tuple[HostHealth, ...]:
    """The hosts a ``status --format json`` document (``fleet_json``) describes.

    What the JSON does not carry stays unknown: the firewall's verdict as an enum (its text is
    kept), the auto-updaters and a run record's own ``healthy`` flag (what they meant is among
    ``problems`` and ``warnings``). Format 1.0 documents have no ``location`` or
    ``data_collection``: they come back as none.

    Raises:
        ReportFormatError: the document is not a 1.x status report, naming the first bad field.
    """
    doc = _obj(document, "status report")
    version = _str(doc.get("format_version"), "format_version")
    if version != "1" and not version.startswith("1."):
        raise ReportFormatError(f"format_version: {version!r} is not a 1.x status report")
    hosts = _list(doc.get("hosts"), "hosts")
    return tuple(_host_health(_obj(h, f"hosts[{i}]"), f"hosts[{i}]") for i, h in enumerate(hosts))
