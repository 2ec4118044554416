"""The plan's seam is typed: what resources used to refuse at run time, mypy refuses now.

A resource once checked ``isinstance`` on the actual state ``diff`` got and on the object
``apply`` found in ``Change.desired``. Those checks are gone because ``Resource[Desired, Actual]``
makes the mistakes they caught type errors. This test runs mypy (strict, the project's own
settings) on a snippet with one such mistake per line and checks that each is reported, on its
line, and that correct uses of the same API are not.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parents[3]

SNIPPET = """
from checkpointctl.engine.run import default_resources
from checkpointctl.model import Action, Change, Planned
from checkpointctl.resources.base import AnyResource, Resource
from checkpointctl.resources.containers.diff import ContainerTarget
from checkpointctl.resources.containers.parse import ContainersActual
from checkpointctl.resources.containers.resource import ContainersResource
from checkpointctl.resources.credentials.resource import CredentialsActual, CredentialsResource
from checkpointctl.resources.firewall.resource import FirewallPlan, FirewallResource
from checkpointctl.spec import DesiredState
from checkpointctl.transport.base import Transport


def uses(t: Transport, d: DesiredState, mine: ContainersActual, theirs: CredentialsActual,
         plan: FirewallPlan, target: ContainerTarget) -> None:
    r = ContainersResource()
    r.diff(d, mine)  # ok
    r.diff(d, theirs)  # error: a foreign actual state
    r.apply(t, Planned(Change("container/x", Action.CREATE), target))  # ok
    r.apply(t, Planned(Change("container/x", Action.CREATE), plan))  # error: a foreign target
    r.apply(t, Change("container/x", Action.CREATE))  # error: a change without a target
    Change("container/x", Action.CREATE, desired=target)  # error: a change carries no target
    typed: Resource[ContainerTarget, ContainersActual] = ContainersResource()  # ok
    wrong: Resource[FirewallPlan, ContainersActual] = ContainersResource()  # error: not that kind
    kinds: list[AnyResource] = [FirewallResource(), CredentialsResource(), r]  # ok
    kinds.extend(default_resources())  # ok
    for step in (k.start(d) for k in kinds):
        for bound in step.plan().changes:
            bound.apply(t)  # ok: the engine applies without knowing any kind's types
"""


def test_mypy_refuses_what_the_isinstance_checks_used_to(tmp_path: Path) -> None:
    snippet = tmp_path / "plan_types_snippet.py"
    snippet.write_text(SNIPPET)
    out, err, status = mypy_api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            "--no-error-summary",
            "--show-error-codes",
            str(snippet),
        ]
    )
    assert status in (0, 1), err
    reported = {int(m.group(1)) for m in re.finditer(r"plan_types_snippet\.py:(\d+): error", out)}
    lines = SNIPPET.splitlines()
    wanted = {i for i, text in enumerate(lines, start=1) if "# error" in text}
    clean = {i for i, text in enumerate(lines, start=1) if "# ok" in text}
    assert len(wanted) == 5
    assert len(clean) == 6
    assert wanted <= reported, out
    assert not (clean & reported), out
    assert reported <= wanted, out
