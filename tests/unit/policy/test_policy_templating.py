"""Sandboxed Jinja2 in policy values: types kept, undefined refused, internals unreachable.

Every refusal must be a Diagnostic at the template's line (never a traceback), and values that
come from the inventory are data: a host variable that looks like a template is not rendered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from policy_helpers import IMAGE, inventory, load, only, policy

from checkpointctl.cli.main import main
from checkpointctl.policy import LoadResult

VARS: dict[str, Any] = {
    "region": "eu",
    "p": 5000,
    "p_text": "5000",
    "cidrs": ["192.0.2.10/32", "192.0.2.11/32"],
    "evil": "{{ 7*7 }}",
    "x": "text",
}


def _inv(tmp: Path, **host_vars: Any) -> dict[str, Any]:
    return {
        "all": {
            "vars": VARS,
            "children": {"checkpoints": {"hosts": {"cp-1": host_vars or {"address": "192.0.2.1"}}}},
        }
    }


def _render(tmp: Path, env_value: str, **extra_spec: str) -> LoadResult:
    """One container whose env variable E is ``env_value`` (quoted as YAML), rendered for cp-1."""
    quoted = env_value.replace("\\", "\\\\").replace('"', '\\"')
    p = policy(
        tmp / "t.yml",
        f"""\
        metadata:
          name: t
        spec:
          registries:
            trusted: [{{registry: registry.example.com, prefix: checkpoint/}}]
          containers:
            - name: probe
              image: {IMAGE}
              user: "10001:10001"
              cap_drop: [ALL]
              env:
                E: "{quoted}"
        """,
    )
    return load([p], inventory(tmp, _inv(tmp)))


def _env(result: LoadResult) -> dict[str, object]:
    assert not result.errors, [str(d) for d in result.errors]
    return dict(result.states["cp-1"].containers[0].env)


def test_whole_expression_keeps_the_type_of_the_value(tmp_path: Path) -> None:
    p = policy(
        tmp_path / "fw.yml",
        """\
        metadata:
          name: fw
        spec:
          firewall:
            management:
              from: "{{ cidrs }}"
            outbound:
              allow:
                - {proto: tcp, port: "{{ p }}", to: ["{{ cidrs[0] }}"]}
                - {proto: tcp, port: "{{ p + 1 }}", to: ["198.51.100.0/28"]}
        """,
    )
    result = load([p], inventory(tmp_path, _inv(tmp_path)))
    assert not result.diagnostics
    fw = result.states["cp-1"].firewall
    assert fw is not None
    assert fw.management_from == ("192.0.2.10/32", "192.0.2.11/32")
    assert [r.port for r in fw.outbound] == [5000, 5001]
    assert all(type(r.port) is int for r in fw.outbound)
    assert fw.outbound[0].cidrs == ("192.0.2.10/32",)


def test_a_string_where_the_schema_wants_an_integer_is_refused_after_rendering(
    tmp_path: Path,
) -> None:
    p = policy(
        tmp_path / "fw.yml",
        """\
        metadata:
          name: fw
        spec:
          firewall:
            outbound:
              allow:
                - {proto: tcp, port: "{{ p_text }}", to: [198.51.100.0/28]}
        """,
    )
    d = only(load([p], inventory(tmp_path, _inv(tmp_path))).errors)
    assert str(d.location) == f"{p}:9:30"
    assert d.field == "spec.firewall.outbound.allow[0].port"
    assert 'expected integer, got str "5000"' in d.message
    assert "rendered for host cp-1" in d.message


def test_text_around_an_expression_gives_a_string(tmp_path: Path) -> None:
    assert _env(_render(tmp_path, "{{ region }}-{{ p }}"))["E"] == "eu-5000"


def test_strict_undefined_also_for_attributes_of_defined_values(tmp_path: Path) -> None:
    d = only(_render(tmp_path, "{{ x.nope }}").errors)
    assert "undefined" in d.message
    assert "nope" in d.message


def test_default_filter_still_works_under_strict_undefined(tmp_path: Path) -> None:
    assert _env(_render(tmp_path, "{{ site | default('none') }}"))["E"] == "none"


@pytest.mark.parametrize(
    ("template", "refusal"),
    [
        ("{{ ''.__class__.__mro__ }}", "unsafe attribute '__mro__'"),
        ("{{ x.__class__ }}", "unsafe attribute '__class__'"),
        ("{{ cycler.__init__.__globals__ }}", "unsafe attribute '__globals__'"),
        ("{{ lipsum.__globals__['os'] }}", "unsafe attribute '__globals__'"),
        ("{{ cycler['__init__'] }}", "refused by the sandbox"),
        ("{{ x|attr('__class__') }}", "refused by the sandbox"),
        ("{{ cidrs.append('0.0.0.0/0') }}", "refused by the sandbox"),
        ("{{ 10 ** 100000 }}", "too large"),
        ("{{ 'a' * 100000000 }}", "refused by the sandbox"),
        ("{% for i in range(1000000000) %}a{% endfor %}", "Range too big"),
        ("{{ range(10 ** 9) | list | length }}", "Range too big"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
    ],
)
def test_sandbox_refuses_with_a_diagnostic(
    template: str, refusal: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _render(tmp_path, template)
    d = only(result.errors)
    assert refusal in d.message
    assert d.location is not None
    assert d.location.line == 14  # the line of E: in the policy
    assert d.field == "spec.containers[0].env.E"
    assert not result.states

    # and through the CLI: exit 1, the diagnostic, no traceback
    code = main(["validate", str(tmp_path / "t.yml"), "-i", str(tmp_path / "inv.yml")])
    err = capsys.readouterr().err
    assert code == 1
    assert refusal in err
    assert "Traceback" not in err


def test_a_bounded_loop_is_allowed(tmp_path: Path) -> None:
    template = "{% for i in range(3) %}{{ i }}{% endfor %}"
    assert _env(_render(tmp_path, template))["E"] == "012"


def test_values_from_the_inventory_are_not_rendered_again(tmp_path: Path) -> None:
    env = _env(_render(tmp_path, "{{ evil }}"))
    assert env["E"] == "{{ 7*7 }}"
    env = _env(_render(tmp_path / "b", "before {{ evil }} after"))
    assert env["E"] == "before {{ 7*7 }} after"


def test_each_host_gets_its_own_rendering(tmp_path: Path) -> None:
    inv = {
        "all": {
            "vars": VARS,
            "children": {
                "checkpoints": {
                    "children": {
                        "eu": {"vars": {"region": "eu"}, "hosts": {"cp-ams-1": {}}},
                        "us": {"vars": {"region": "us"}, "hosts": {"cp-nyc-1": {}, "cp-sfo-1": {}}},
                    }
                }
            },
        }
    }
    p = policy(
        tmp_path / "t.yml",
        f"""\
        metadata:
          name: t
        spec:
          registries:
            trusted: [{{registry: registry.example.com, prefix: checkpoint/}}]
          containers:
            - name: probe
              image: {IMAGE}
              user: "10001:10001"
              cap_drop: [ALL]
              env:
                REGION: "{{{{ region }}}}"
                NAME: "{{{{ inventory_hostname }}}}"
                GROUPS: "{{{{ group_names | join(',') }}}}"
        """,
    )
    result = load([p], inventory(tmp_path, inv))
    assert not result.diagnostics
    envs = {h: dict(s.containers[0].env) for h, s in result.states.items()}
    assert envs == {
        "cp-ams-1": {"REGION": "eu", "NAME": "cp-ams-1", "GROUPS": "checkpoints,eu"},
        "cp-nyc-1": {"REGION": "us", "NAME": "cp-nyc-1", "GROUPS": "checkpoints,us"},
        "cp-sfo-1": {"REGION": "us", "NAME": "cp-sfo-1", "GROUPS": "checkpoints,us"},
    }


def _site_env(tmp_path: Path, cp1: dict[str, str]) -> LoadResult:
    """A policy whose container env reads ``site``, for hosts cp-1 (``cp1``) and cp-2 (no site)."""
    inv = {"all": {"children": {"checkpoints": {"hosts": {"cp-1": cp1, "cp-2": {}}}}}}
    p = policy(
        tmp_path / "t.yml",
        f"""\
        metadata:
          name: t
        spec:
          registries:
            trusted: [{{registry: registry.example.com, prefix: checkpoint/}}]
          containers:
            - name: probe
              image: {IMAGE}
              user: "10001:10001"
              cap_drop: [ALL]
              env: {{SITE: "{{{{ site }}}}"}}
        """,
    )
    return load([p], inventory(tmp_path, inv))


def test_only_some_hosts_missing_a_variable_fail_and_are_named(tmp_path: Path) -> None:
    result = _site_env(tmp_path, {"site": "ams"})
    d = only(result.errors)
    assert "'site' is undefined (host cp-2)" in d.message
    assert set(result.states) == {"cp-1"}


def test_rendered_values_are_checked_like_the_whole_document(tmp_path: Path) -> None:
    """Only templated values are re-checked after rendering (for speed); what they find must
    be what checking the whole rendered document finds, uniqueItems of their list included."""
    from checkpointctl.policy.schema import validate_rendered
    from checkpointctl.policy.templating import compile_document, render_document
    from checkpointctl.yamlsource import load_file

    p = policy(
        tmp_path / "bad.yml",
        """\
        metadata:
          name: bad
        spec:
          containers:
            - name: "{{ cidrs[0] }}"
              cap_drop: ["{{ 'ALL' }}", "{{ 'A' ~ 'LL' }}"]
              user: "{{ p }}"
              env: {A: "{{ cidrs }}", B: "{{ region }}"}
              resources: {memory: "{{ region }}", pids: "{{ p }}"}
          firewall:
            outbound:
              allow:
                - {port: "{{ p_text }}", to: ["{{ region }}", "{{ cidrs[1] }}"]}
        """,
    )
    doc = load_file(p)[0]
    compiled, errors = compile_document(doc)
    assert not errors
    data = render_document(doc, compiled, VARS, "cp-1")
    fast = validate_rendered(data, doc, "cp-1", [at for at, _ in compiled.items])
    whole = validate_rendered(data, doc, "cp-1")
    assert {str(d) for d in fast} == {str(d) for d in whole}
    fields = {d.field for d in fast}
    assert {
        "spec.containers[0].name",
        "spec.containers[0].cap_drop",
        "spec.containers[0].user",
        "spec.containers[0].env.A",
        "spec.containers[0].resources.memory",
        "spec.firewall.outbound.allow[0].port",
        "spec.firewall.outbound.allow[0].to[0]",
    } <= fields


def test_a_variable_set_to_the_text_undefined_is_not_an_unset_one(tmp_path: Path) -> None:
    """Renders are shared by the values the templates read: a host whose ``site`` is the
    string ``<undefined>`` and a host without ``site`` must not share one (the second fails)."""
    result = _site_env(tmp_path, {"site": "<undefined>"})
    assert "'site' is undefined (host cp-2)" in only(result.errors).message
    assert dict(result.states["cp-1"].containers[0].env)["SITE"] == "<undefined>"


def test_each_template_renders_once_per_value_of_its_own_variables(tmp_path: Path) -> None:
    """With a cache, a template is rendered again only when a variable *it* reads changes;
    lists and mappings are rendered for each host (hosts share only immutable values)."""
    from checkpointctl.policy.templating import RenderCache, compile_document, render_document
    from checkpointctl.yamlsource import load_file

    p = policy(
        tmp_path / "t.yml",
        """\
        metadata:
          name: t
        spec:
          containers:
            - name: probe
              env: {R: "{{ region }}", N: "{{ name }}", C: "{{ cidrs }}"}
        """,
    )
    doc = load_file(p)[0]
    compiled, errors = compile_document(doc)
    assert not errors
    calls: list[str] = []
    items = []
    for at, template in compiled.items:

        class Counting:
            def __init__(self, inner: Any, at: Any) -> None:
                self.inner, self.at = inner, at

            def render(self, variables: Any) -> object:
                calls.append(self.at[-1])
                return self.inner.render(variables)

        items.append((at, Counting(template, at)))
    counted = type(compiled)(tuple(items), compiled.variables, compiled.reads)
    cache: RenderCache = {}
    rendered = [
        render_document(doc, counted, {**VARS, "name": name}, name, cache)
        for name in ("cp-1", "cp-2", "cp-1")
    ]
    envs = [r["spec"]["containers"][0]["env"] for r in rendered]
    assert [e["N"] for e in envs] == ["cp-1", "cp-2", "cp-1"]
    assert all(e["R"] == "eu" and e["C"] == VARS["cidrs"] for e in envs)
    assert sorted(calls) == ["C", "C", "C", "N", "N", "R"]
    assert envs[0]["C"] is not envs[1]["C"]
