"""Findings: openings outside our table, an unmanaged table, a controller that would be cut off."""

from __future__ import annotations

from firewall_support import load_spec, recorded

from checkpointctl.model import Finding
from checkpointctl.resources.firewall.model import Ruleset
from checkpointctl.resources.firewall.resource import FirewallActual, FirewallResource
from checkpointctl.spec import DesiredState

ADDRESS = "firewall/checkpointctl"


def findings(ruleset_name: str, *, managed: bool = True, ssh: str | None = None) -> list[Finding]:
    spec, resolutions, _ = load_spec("baseline")
    ruleset = recorded(ruleset_name)
    actual = FirewallActual(ruleset.table("inet", "checkpointctl"), ruleset, resolutions, ssh)
    desired = DesiredState(host="cp-1", firewall=spec if managed else None)
    return FirewallResource().findings(desired, actual)


def test_foreign_table_accepting_input_is_named_rule_by_rule() -> None:
    got = findings("baseline-with-othertable")
    assert got == [
        Finding(
            ADDRESS,
            "table inet othertable: chain input (policy accept) accepts tcp/8080 from any "
            "(not managed by checkpointctl; our input chain still drops what the policy does "
            "not allow)",
        ),
        Finding(
            ADDRESS,
            "table inet othertable: chain input (policy accept) accepts udp/161,162 from "
            "192.0.2.0/24 (not managed by checkpointctl; our input chain still drops what the "
            "policy does not allow)",
        ),
    ]


def test_foreign_table_without_ours_has_no_reassurance() -> None:
    (finding,) = findings("othertable-only")
    assert finding.message == (
        "table inet othertable: chain input (policy accept) accepts tcp/8080 from any "
        "(not managed by checkpointctl)"
    )


def test_docker_published_port_is_a_finding() -> None:
    assert findings("docker-nat") == [
        Finding(
            ADDRESS,
            "table ip nat: DNAT tcp/8080 → 172.17.0.2:80 (a published container port)",
        )
    ]


def test_docker_published_port_recorded_in_the_lab() -> None:
    assert [f.message for f in findings("lab-cp1-docker-published")] == [
        "table ip nat: DNAT tcp/18080 → 172.17.0.3:80 (a published container port)"
    ]


def test_our_own_table_is_never_a_finding() -> None:
    assert findings("golden-baseline") == []
    assert findings("baseline-plus-8080") == []  # drift of ours is a change, not a finding


def test_unmanaged_table_of_ours_is_reported_and_left() -> None:
    assert findings("golden-baseline", managed=False) == [
        Finding(
            ADDRESS,
            "table inet checkpointctl exists but no policy manages the firewall; "
            "it is left as it is",
            severity="info",
        )
    ]


def test_controller_outside_management_from_is_an_error_finding() -> None:
    (finding,) = findings("golden-baseline", ssh="192.0.2.7 51234 10.213.1.1 22")
    assert finding.severity == "error"
    assert "sees the controller at 192.0.2.7" in finding.message
    assert finding.message.endswith("apply will refuse")
    assert findings("golden-baseline", ssh="10.213.0.1 51234 10.213.1.1 22") == []


def test_empty_ruleset_has_no_findings() -> None:
    spec, resolutions, _ = load_spec("baseline")
    actual = FirewallActual(None, Ruleset(), resolutions)
    assert FirewallResource().findings(DesiredState(host="h", firewall=spec), actual) == []
