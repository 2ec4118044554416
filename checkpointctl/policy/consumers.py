"""Which code gives each policy field its effect: no field may validate and do nothing.

Every field path of the schema (list items transparent, as in :mod:`.reference`) maps to the
functions (``module:qualified.name``) that read it and act on it: for a container setting,
the builder that reads it, the compiler that sends it to Docker and the diff that reports it
as drift. ``tests/unit/policy/test_policy_consumers.py`` walks the schema and fails for a field
without an entry, an entry without a field, a consumer that does not exist, or a consumer whose
source does not mention the field (its last name, or the ``#token`` given after the consumer
when the code calls it something else).

Two kinds of field have no code on purpose: :data:`CONSTANTS` (``apiVersion`` and ``kind``,
whose one allowed value is what makes a document a policy) and :data:`FOR_PEOPLE` (notes for
the policy's readers, described as such in the schema).
"""

from __future__ import annotations

from collections.abc import Mapping

_BUILD = "checkpointctl.policy.build:build_state"
_SCAN_GATE = "checkpointctl.policy.build:scan_gate"
_FIREWALL = "checkpointctl.policy.build:_firewall"
_CREATE = "checkpointctl.resources.containers.compile:compile_create"
_DRIFT = "checkpointctl.resources.containers.diff:container_fields"
_COLLECTION = "checkpointctl.policy.build:collection_for"
_TOGGLES = "checkpointctl.spec:COLLECTION_TOGGLES"
_TABLE = "checkpointctl.resources.firewall.compile:desired_table"
_COMPILE = "checkpointctl.resources.containers.compile"
_RESOURCE = "checkpointctl.resources.containers.resource"
_EXPAND = "checkpointctl.policy.checkpoints"
_EXPANDER = f"{_EXPAND}:_Expander"
_LOGGING = "checkpointctl.policy.build:_logging"
_SECRET_FILE = "checkpointctl.policy.secret_files:build_secret_file"  # noqa: S105 - a name

CONSTANTS = frozenset({"apiVersion", "kind"})
FOR_PEOPLE = frozenset({"metadata.description", "metadata.owner"})


def _container(field: str, *extra: str) -> tuple[str, ...]:
    """A container setting: built, sent to Docker and compared for drift."""
    return (f"{_BUILD}#{field}", f"{_CREATE}#{field}", f"{_DRIFT}#{field}", *extra)


def _toggle(name: str) -> tuple[str, ...]:
    return (f"{_COLLECTION}#COLLECTION_TOGGLES", f"{_TOGGLES}#{name}")


CONSUMERS: Mapping[str, tuple[str, ...]] = {
    "metadata": ("checkpointctl.policy.loader:load_policies",),
    "metadata.name": ("checkpointctl.policy.loader:load_policies",),
    "selector": ("checkpointctl.policy.loader:_selector",),
    "selector.groups": ("checkpointctl.policy.policy_file:Selector.matches",),
    "selector.hosts": ("checkpointctl.policy.policy_file:Selector.matches",),
    "selector.labels": ("checkpointctl.policy.policy_file:Selector.matches",),
    "priority": (
        "checkpointctl.policy.loader:load_policies",
        "checkpointctl.policy.layering:merge",
    ),
    "spec": ("checkpointctl.policy.loader:load_desired",),
    # registries: trust and the scan gate
    "spec.registries": (_BUILD,),
    "spec.registries.trusted": (_BUILD, "checkpointctl.resources.containers.images:trust_problem"),
    "spec.registries.trusted.registry": (_BUILD, "checkpointctl.spec:TrustedRegistry.allows"),
    "spec.registries.trusted.prefix": (_BUILD, "checkpointctl.spec:TrustedRegistry.allows"),
    "spec.registries.scan": (_BUILD, "checkpointctl.resources.containers.images:gate_problem"),
    "spec.registries.scan.required": (
        _SCAN_GATE,
        "checkpointctl.resources.containers.images:gate_problem",
    ),
    "spec.registries.scan.max_severity": (
        _SCAN_GATE,
        "checkpointctl.resources.containers.images:gate_verdict",
    ),
    "spec.registries.scan.reports": (
        _SCAN_GATE,
        "checkpointctl.resources.containers.images:gate_problem",
    ),
    "spec.registries.scan.allow": (
        _SCAN_GATE,
        "checkpointctl.resources.containers.images:gate_verdict",
    ),
    "spec.registries.scan.allow.id": (
        _SCAN_GATE,
        "checkpointctl.resources.containers.images:gate_verdict",
    ),
    "spec.registries.scan.allow.reason": (
        _SCAN_GATE,
        "checkpointctl.resources.containers.images:gate_verdict",
    ),
    "spec.registries.scan.allow.owner": (
        _SCAN_GATE,
        "checkpointctl.resources.containers.images:gate_verdict",
    ),
    "spec.registries.scan.allow.expires": (
        _SCAN_GATE,
        "checkpointctl.resources.containers.images:gate_verdict",
    ),
    # containers
    "spec.containers": (_BUILD, "checkpointctl.resources.containers.diff:diff_containers"),
    "spec.containers.name": (
        _BUILD,
        _CREATE,
        "checkpointctl.resources.containers.diff:plan_container",
    ),
    "spec.containers.image": _container("image"),
    "spec.containers.pin": ("checkpointctl.gitops.yamlsplice:find_images",),
    "spec.containers.track": (
        "checkpointctl.gitops.yamlsplice:find_images",
        "checkpointctl.gitops.update:_examine",
    ),
    "spec.containers.command": _container("command"),
    "spec.containers.env": (
        _BUILD,
        _CREATE,
        "checkpointctl.resources.containers.diff:_env_changes",
    ),
    "spec.containers.user": _container("user"),
    "spec.containers.read_only": _container("read_only"),
    "spec.containers.cap_drop": _container("cap_drop"),
    "spec.containers.cap_add": _container("cap_add"),
    "spec.containers.no_new_privileges": _container("no_new_privileges"),
    "spec.containers.privileged": _container("privileged"),
    "spec.containers.ports": _container("ports"),
    "spec.containers.network_mode": _container("network_mode"),
    "spec.containers.pid": _container("pid"),
    "spec.containers.ipc": _container("ipc"),
    "spec.containers.userns_mode": _container("userns_mode"),
    "spec.containers.security_opt": _container("security_opt"),
    "spec.containers.devices": _container("devices"),
    "spec.containers.sysctls": _container("sysctls"),
    "spec.containers.mounts": (
        _BUILD,
        "checkpointctl.resources.containers.compile:desired_mounts",
        f"{_DRIFT}#mounts",
    ),
    "spec.containers.mounts.source": (
        _BUILD,
        "checkpointctl.resources.containers.compile:desired_mounts",
    ),
    "spec.containers.mounts.target": (
        _BUILD,
        "checkpointctl.resources.containers.compile:desired_mounts",
    ),
    "spec.containers.mounts.read_only": (
        _BUILD,
        "checkpointctl.resources.containers.compile:desired_mounts",
    ),
    "spec.containers.tmpfs": (
        _BUILD,
        "checkpointctl.resources.containers.compile:desired_tmpfs",
        f"{_DRIFT}#tmpfs",
    ),
    "spec.containers.resources": (_BUILD, f"{_CREATE}#limits", f"{_DRIFT}#limits"),
    "spec.containers.resources.memory": _container("memory"),
    "spec.containers.resources.cpus": (
        _BUILD,
        "checkpointctl.resources.containers.compile:desired_nano_cpus",
        f"{_DRIFT}#cpus",
    ),
    "spec.containers.resources.pids": _container("pids"),
    "spec.containers.restart": (
        _BUILD,
        "checkpointctl.resources.containers.compile:desired_restart",
        f"{_DRIFT}#restart",
    ),
    "spec.containers.healthcheck": _container("healthcheck"),
    "spec.containers.healthcheck.test": (
        _BUILD,
        "checkpointctl.resources.containers.compile:desired_healthcheck",
    ),
    "spec.containers.healthcheck.interval": (
        _BUILD,
        "checkpointctl.resources.containers.compile:desired_healthcheck",
    ),
    "spec.containers.healthcheck.timeout": (
        _BUILD,
        "checkpointctl.resources.containers.compile:desired_healthcheck",
    ),
    "spec.containers.healthcheck.retries": (
        _BUILD,
        "checkpointctl.resources.containers.compile:desired_healthcheck",
    ),
    "spec.containers.healthcheck.start_period": (
        _BUILD,
        "checkpointctl.resources.containers.compile:desired_healthcheck",
    ),
    "spec.containers.health_signal": (
        f"{_BUILD}#health_signal",
        "checkpointctl.engine.health:signal_argv#health_signal",
    ),
    "spec.containers.labels": (
        _BUILD,
        "checkpointctl.resources.containers.compile:desired_labels",
    ),
    "spec.containers.data_collection": (_BUILD,),
    "spec.containers.data_collection.profile": (_COLLECTION,),
    "spec.containers.data_collection.screenshots": _toggle("screenshots"),
    "spec.containers.data_collection.page_content": _toggle("page_content"),
    "spec.containers.data_collection.console_logs": _toggle("console_logs"),
    "spec.containers.data_collection.http_headers": _toggle("http_headers"),
    "spec.containers.data_collection.http_bodies": _toggle("http_bodies"),
    "spec.containers.data_collection.resolved_ips": _toggle("resolved_ips"),
    "spec.containers.data_collection.traces": _toggle("traces"),
    "spec.containers.data_collection.agent_telemetry": _toggle("agent_telemetry"),
    # checkpoint primitives on any container
    "spec.containers.network": (
        f"{_BUILD}#network",
        f"{_CREATE}#network_mode",
        f"{_DRIFT}#network_mode",
        f"{_RESOURCE}:converge#network",
    ),
    "spec.containers.depends_on": (f"{_BUILD}#depends_on", f"{_EXPAND}:check_depends_on"),
    "spec.containers.logging": (
        f"{_BUILD}#logging",
        f"{_COMPILE}:desired_logging#logging",
        f"{_DRIFT}#desired_logging",
    ),
    "spec.containers.logging.driver": (f"{_LOGGING}#driver", f"{_COMPILE}:desired_logging#driver"),
    "spec.containers.logging.max_size": (f"{_LOGGING}#max_size",),
    "spec.containers.logging.max_file": (f"{_LOGGING}#max_file",),
    "spec.containers.volumes": (f"{_BUILD}#volumes", f"{_COMPILE}:desired_mounts#volume"),
    "spec.containers.volumes.name": (f"{_BUILD}#name",),
    "spec.containers.volumes.target": (f"{_BUILD}#target",),
    "spec.containers.volumes.read_only": (f"{_BUILD}#read_only",),
    "spec.containers.files": (
        f"{_BUILD}#files",
        "checkpointctl.resources.credentials.files:diff_secret_files",
    ),
    "spec.containers.files.path": (f"{_SECRET_FILE}#path",),
    "spec.containers.files.format": (
        f"{_SECRET_FILE}#format",
        "checkpointctl.resources.credentials.files:render_secret_file",
    ),
    "spec.containers.files.content": (f"{_SECRET_FILE}#content",),
    # firewall
    "spec.firewall": (_BUILD, "checkpointctl.resources.firewall.resource:FirewallResource.diff"),
    "spec.firewall.table": (_FIREWALL, _TABLE),
    "spec.firewall.management": (_FIREWALL,),
    "spec.firewall.management.ssh_port": (
        _FIREWALL,
        "checkpointctl.resources.firewall.compile:_management_rules#management_port",
    ),
    "spec.firewall.management.from": (
        _FIREWALL,
        "checkpointctl.resources.firewall.compile:_management_rules#management_from",
    ),
    "spec.firewall.inbound": (_FIREWALL, f"{_TABLE}#inbound"),
    "spec.firewall.inbound.default": (_FIREWALL, f"{_TABLE}#inbound_default"),
    "spec.firewall.inbound.allow": (_FIREWALL, f"{_TABLE}#inbound"),
    "spec.firewall.inbound.allow.proto": (
        _FIREWALL,
        "checkpointctl.resources.firewall.compile:_allow_rules",
    ),
    "spec.firewall.inbound.allow.port": (
        _FIREWALL,
        "checkpointctl.resources.firewall.compile:_allow_rules",
    ),
    "spec.firewall.inbound.allow.from": (
        _FIREWALL,
        "checkpointctl.resources.firewall.compile:_allow_rules#cidrs",
    ),
    "spec.firewall.inbound.allow.hosts": (
        _FIREWALL,
        "checkpointctl.resources.firewall.compile:_allow_rules",
    ),
    "spec.firewall.inbound.allow.comment": (
        _FIREWALL,
        "checkpointctl.resources.firewall.compile:_comment",
    ),
    "spec.firewall.outbound": (
        _FIREWALL,
        "checkpointctl.resources.firewall.compile:_egress_rules#outbound",
    ),
    "spec.firewall.outbound.default": (_FIREWALL, f"{_TABLE}#outbound_default"),
    "spec.firewall.outbound.allow": (
        _FIREWALL,
        "checkpointctl.resources.firewall.compile:_egress_rules#outbound",
    ),
    "spec.firewall.outbound.allow.proto": (
        _FIREWALL,
        "checkpointctl.resources.firewall.compile:_allow_rules",
    ),
    "spec.firewall.outbound.allow.port": (
        _FIREWALL,
        "checkpointctl.resources.firewall.compile:_allow_rules",
    ),
    "spec.firewall.outbound.allow.to": (
        _FIREWALL,
        "checkpointctl.resources.firewall.compile:_allow_rules#cidrs",
    ),
    "spec.firewall.outbound.allow.hosts": (
        _FIREWALL,
        "checkpointctl.resources.firewall.compile:_allow_rules",
    ),
    "spec.firewall.outbound.allow.comment": (
        _FIREWALL,
        "checkpointctl.resources.firewall.compile:_comment",
    ),
    "spec.firewall.outbound.dns": (
        _FIREWALL,
        "checkpointctl.resources.firewall.compile:_egress_rules",
    ),
    "spec.firewall.outbound.ntp": (
        _FIREWALL,
        "checkpointctl.resources.firewall.compile:_egress_rules",
    ),
    # credentials
    "spec.credentials": (
        _BUILD,
        "checkpointctl.resources.credentials.resource:render_credential#spec",
    ),
    "spec.credentials.name": (_BUILD,),
    "spec.credentials.username": (_BUILD,),
    "spec.credentials.secret": (_BUILD,),
    "spec.credentials.scope": (_BUILD,),
    "spec.credentials.scope.containers": (_BUILD,),
    "spec.credentials.scope.targets": (_BUILD,),
    "spec.credentials.scope.permissions": (_BUILD,),
    "spec.credentials.expires": (_BUILD,),
    "spec.credentials.path": (_BUILD, "checkpointctl.spec:CredentialSpec.file_path"),
    # data collection (host level; containers may override, above)
    "spec.data_collection": (_BUILD,),
    "spec.data_collection.profile": (_COLLECTION,),
    "spec.data_collection.screenshots": _toggle("screenshots"),
    "spec.data_collection.page_content": _toggle("page_content"),
    "spec.data_collection.console_logs": _toggle("console_logs"),
    "spec.data_collection.http_headers": _toggle("http_headers"),
    "spec.data_collection.http_bodies": _toggle("http_bodies"),
    "spec.data_collection.resolved_ips": _toggle("resolved_ips"),
    "spec.data_collection.traces": _toggle("traces"),
    "spec.data_collection.agent_telemetry": _toggle("agent_telemetry"),
    # health gate
    "spec.health": (_BUILD, "checkpointctl.resources.containers.diff:target_for"),
    "spec.health.require_healthy": (
        _BUILD,
        "checkpointctl.resources.containers.diff:target_for",
    ),
    "spec.health.timeout": (_BUILD, "checkpointctl.resources.containers.diff:target_for"),
    # update strategy and maintenance window
    "spec.updates": (_BUILD, "checkpointctl.engine.updates:image_hold"),
    "spec.updates.strategy": (_BUILD, "checkpointctl.engine.updates:image_hold"),
    "spec.updates.window": (
        _BUILD,
        "checkpointctl.engine.updates:image_hold",
        "checkpointctl.policy.window:window_problems",
    ),
    # exceptions: known differences drift accepts until they expire
    "spec.exceptions": (_BUILD, "checkpointctl.policy.exceptions:build_exceptions"),
    "spec.exceptions.resource": (
        "checkpointctl.policy.exceptions:build_exceptions",
        "checkpointctl.engine.provenance:_covers",
    ),
    "spec.exceptions.field": (
        "checkpointctl.policy.exceptions:build_exceptions",
        "checkpointctl.engine.provenance:_covers",
    ),
    "spec.exceptions.reason": (
        "checkpointctl.policy.exceptions:build_exceptions",
        "checkpointctl.report.provenance:_exception",
    ),
    "spec.exceptions.owner": (
        "checkpointctl.policy.exceptions:build_exceptions",
        "checkpointctl.report.provenance:_exception",
    ),
    "spec.exceptions.expires": (
        "checkpointctl.policy.exceptions:build_exceptions",
        "checkpointctl.engine.provenance:apply_exceptions",
    ),
    # waivers
    "spec.waivers": (
        "checkpointctl.policy.lint:waivers_of",
        "checkpointctl.policy.build:_waivers",
    ),
    "spec.waivers.rule": (
        "checkpointctl.policy.lint:waivers_of",
        "checkpointctl.engine.waivers:waiver_findings",
    ),
    "spec.waivers.target": (
        "checkpointctl.policy.lint:waivers_of",
        "checkpointctl.engine.waivers:waiver_findings",
    ),
    "spec.waivers.reason": (
        "checkpointctl.policy.lint:waivers_of",
        "checkpointctl.engine.waivers:waiver_findings",
    ),
}
"""Field path → the functions that give it its effect (``module:name[#token]``)."""

__all__ = ["CONSTANTS", "CONSUMERS", "FOR_PEOPLE"]


def _checkpoints(base: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """``spec.checkpoints``: expanded into containers (:mod:`checkpointctl.policy.checkpoints`),
    whose fields then have the consumers of the same container fields."""
    out: dict[str, tuple[str, ...]] = {
        "spec.checkpoints": (
            f"{_EXPANDER}.run#checkpoints",
            "checkpointctl.policy.loader:load_desired#expand_checkpoints",
        ),
        "spec.checkpoints.name": (f"{_EXPANDER}.checkpoint#name",),
        "spec.checkpoints.vendor": (f"{_EXPANDER}.checkpoint#vendor", f"{_EXPAND}:profiles"),
        "spec.checkpoints.network": (f"{_EXPANDER}.checkpoint#network",),
        "spec.checkpoints.settings": (f"{_EXPANDER}.vendor#settings",),
        "spec.checkpoints.egress": (
            f"{_EXPANDER}.vendor#egress",
            f"{_EXPANDER}.waivers_and_egress#egress",
        ),
        "spec.checkpoints.data_collection": (f"{_EXPANDER}.toggles#data_collection",),
        "spec.checkpoints.data_collection.profile": (f"{_EXPAND}:collection_values#profile",),
        "spec.checkpoints.containers": (f"{_EXPANDER}.checkpoint#containers",),
    }
    for toggle in ("screenshots", "page_content", "console_logs", "http_headers", "http_bodies",
                   "resolved_ips", "traces", "agent_telemetry"):  # fmt: skip
        out[f"spec.checkpoints.data_collection.{toggle}"] = (
            f"{_EXPAND}:collection_values#COLLECTION_TOGGLES",
            f"{_TOGGLES}#{toggle}",
        )
    for path, consumers in base.items():
        if path.startswith("spec.containers."):
            out["spec.checkpoints." + path.removeprefix("spec.")] = (
                *consumers,
                f"{_EXPANDER}.checkpoint#containers",
            )
    return out


CONSUMERS = {**CONSUMERS, **_checkpoints(CONSUMERS)}
