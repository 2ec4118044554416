"""The policy pipeline, end to end, collecting every diagnostic on the way.

Work is shared wherever hosts agree: a policy is rendered once per distinct set of variables its
templates read (and each of its templates once per distinct value of the variables *it* reads),
hosts selecting the same policies with the same renders share one merge, one lint and one build,
and hosts with equal firewalls share one firewall lint. That is what keeps ``validate`` of 1,000
policies × 1,000 hosts in seconds (``bench/validate_bench.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from checkpointctl.errors import CheckpointctlError, Diagnostic, Severity
from checkpointctl.inventory import Inventory, label_value
from checkpointctl.model import Host
from checkpointctl.policy.build import Decrypt, build_state
from checkpointctl.policy.checkpoints import expand_checkpoints
from checkpointctl.policy.layering import Layer, merge
from checkpointctl.policy.lint import lint_spec
from checkpointctl.policy.policy_file import Policy, Selector
from checkpointctl.policy.schema import validate_document, validate_rendered
from checkpointctl.policy.templating import (
    CompiledTemplates,
    RenderCache,
    TemplateFailure,
    compile_document,
    render_document,
    variables_key,
)
from checkpointctl.resources.firewall.lint import lint_firewall
from checkpointctl.spec import DesiredState
from checkpointctl.yamlsource import SourceError, expand_paths, load_file


@dataclass
class LoadResult:
    """Policies, the desired state of every selected host, and all diagnostics."""

    policies: list[Policy] = field(default_factory=list)
    states: dict[str, DesiredState] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    unselected: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]


def _selector(data: dict[str, Any]) -> Selector:
    sel = data.get("selector") or {}
    return Selector(
        groups=tuple(sel.get("groups") or ()),
        hosts=tuple(sel.get("hosts") or ()),
        labels=tuple(sorted((sel.get("labels") or {}).items())),
    )


class _SelectorIndex:
    """Policies by one label their selector requires, so a host is matched only against the
    policies that could select it: 1,000 customer policies selected by ``customer: cNNN`` cost
    one dictionary lookup per host instead of 1,000 selector matches."""

    def __init__(self, policies: Sequence[Policy]) -> None:
        self._any: list[tuple[int, Policy]] = []
        self._by_label: dict[str, dict[object, list[tuple[int, Policy]]]] = {}
        for i, p in enumerate(policies):
            if not p.selector.labels:
                self._any.append((i, p))
                continue
            key, value = p.selector.labels[0]
            try:
                self._by_label.setdefault(key, {}).setdefault(value, []).append((i, p))
            except TypeError:  # an unhashable label value: match it the slow way
                self._any.append((i, p))

    def select(self, host: Host) -> list[Policy]:
        """The policies selecting ``host``, in the order they were loaded."""
        candidates = list(self._any)
        for key, table in self._by_label.items():
            try:
                candidates.extend(table.get(label_value(host, key), ()))
            except TypeError:  # the host's value is unhashable, so it equals no label value
                continue
        candidates.sort(key=lambda c: c[0])
        return [p for _, p in candidates if p.selector.matches(host)]


def _firewall_problems(
    state: DesiredState, *, pull_mode: bool, cache: dict[tuple[str, bool], list[str]]
) -> list[Diagnostic]:
    """The firewall rules that would lock the controller out or that nft would refuse,
    checked here so ``validate`` catches them before any host does (apply checks again).

    The lint parses every address, and hosts whose states differ elsewhere mostly share one
    firewall, so its findings are cached by the firewall's ``repr`` (which, unlike equality,
    keeps ``1``, ``1.0`` and ``True`` apart, as the messages do)."""
    if state.firewall is None:
        return []
    key = (repr(state.firewall), pull_mode)
    if key not in cache:
        cache[key] = lint_firewall(state.firewall, pull_mode=pull_mode)
    return [
        Diagnostic(problem, state.source("firewall"), field="spec.firewall")
        for problem in cache[key]
    ]


def load_policies(
    paths: Sequence[str],
) -> tuple[list[Policy], dict[str, CompiledTemplates], list[Diagnostic]]:
    """Parse, schema-check and compile the templates of every policy file under ``paths``."""
    policies: list[Policy] = []
    compiled: dict[str, CompiledTemplates] = {}
    diags: list[Diagnostic] = []
    seen: dict[str, Policy] = {}
    files = expand_paths(list(paths))
    if not files:
        diags.append(Diagnostic(f"no policy files (*.yml, *.yaml) under {', '.join(paths)}"))
    for path in files:
        try:
            docs = load_file(path)
        except SourceError as exc:
            diags.append(exc.diagnostic)
            continue
        for doc in docs:
            problems = validate_document(doc)
            if problems:
                diags.extend(problems)
                continue
            templates, template_errors = compile_document(doc)
            if template_errors:
                diags.extend(template_errors)
                continue
            name = str(doc.data["metadata"]["name"])
            if name in seen:
                diags.append(
                    Diagnostic(
                        f"policy name {name!r} is already used at {seen[name].location}",
                        doc.where(("metadata", "name")),
                        field="metadata.name",
                    )
                )
                continue
            policy = Policy(
                name=name,
                priority=int(doc.data.get("priority", 0)),
                selector=_selector(doc.data),
                doc=doc,
                template_vars=templates.variables,
            )
            seen[name] = policy
            compiled[name] = templates
            policies.append(policy)
    return policies, compiled, diags


def load_desired(
    paths: Sequence[str],
    inventory: Inventory,
    hosts: Sequence[Host] | None = None,
    *,
    decrypt: Decrypt | None = None,
    today: date | None = None,
) -> LoadResult:
    """The desired state of each host in ``hosts`` (default: all), with every diagnostic."""
    policies, compiled, diags = load_policies(paths)
    result = LoadResult(policies=policies)
    seen_diag: set[str] = set()

    def add(ds: list[Diagnostic]) -> None:
        for d in ds:
            key = str(d)
            if key not in seen_diag:
                seen_diag.add(key)
                result.diagnostics.append(d)

    add(diags)
    renders: dict[tuple[str, tuple[object, ...]], Any] = {}
    template_values: RenderCache = {}
    firewall_lint: dict[tuple[str, bool], list[str]] = {}
    combos: dict[tuple[object, ...], DesiredState | None] = {}
    index = _SelectorIndex(policies)
    for host in hosts if hosts is not None else inventory.hosts:
        selected = index.select(host)
        if not selected:
            result.unselected.append(host.name)
            continue
        layers: list[Layer] = []
        combo: list[object] = []
        failed = False
        for p in selected:
            vkey = variables_key(p.template_vars, host.vars)
            rkey = (p.name, vkey)
            if rkey not in renders:
                try:
                    data = render_document(
                        p.doc, compiled[p.name], host.vars, host.name, template_values
                    )
                    templated = [at for at, _ in compiled[p.name].items]
                    problems = (
                        validate_rendered(data, p.doc, host.name, templated) if templated else []
                    )
                    renders[rkey] = problems or data
                except TemplateFailure as exc:
                    renders[rkey] = [exc.diagnostic]
            rendered = renders[rkey]
            if isinstance(rendered, list):
                add(rendered)
                failed = True
                continue
            layers.append(Layer(p.name, p.priority, rendered.get("spec") or {}, p.doc))
            combo.append(rkey)
        if failed:
            continue
        pull_mode = host.vars.get("pull_mode") is True
        ckey = (*combo, pull_mode)
        if ckey not in combos:
            merged, conflicts = merge(layers)
            expanded = expand_checkpoints(merged.spec, merged.sources)
            merged = dataclasses.replace(merged, spec=expanded.spec, sources=expanded.sources)
            problems = [
                *conflicts,
                *expanded.diagnostics,
                *lint_spec(merged.spec, merged.where, today),
            ]
            add(problems)
            combos[ckey] = None
            if not any(d.severity is Severity.ERROR for d in problems):
                try:
                    built = build_state(
                        host.name, merged.spec, merged.sources, merged.policies, decrypt
                    )
                except CheckpointctlError as exc:  # a secret that does not decrypt
                    add([Diagnostic(exc.diagnostics())])
                else:
                    lockout = _firewall_problems(built, pull_mode=pull_mode, cache=firewall_lint)
                    add(lockout)
                    combos[ckey] = None if lockout else built
        state = combos[ckey]
        if state is not None:
            result.states[host.name] = (
                state if state.host == host.name else dataclasses.replace(state, host=host.name)
            )
    return result
