"""The pure checks the policy lint calls, and the controller-access guard of apply."""

from __future__ import annotations

import pytest

from checkpointctl.resources.firewall.lint import lint_firewall, lint_inbound_open
from checkpointctl.resources.firewall.resource import controller_access_problem
from checkpointctl.spec import FirewallRule, FirewallSpec

MGMT = ("10.213.0.0/16",)


def test_a_sound_spec_has_no_errors() -> None:
    spec = FirewallSpec(
        management_from=MGMT,
        dns=("10.213.0.1",),
        ntp=("10.213.0.1", "time.example.net"),
        outbound=(FirewallRule(port=443, hosts=("api.example.com", "10.213.1.2")),),
    )
    assert lint_firewall(spec) == []


def test_lockout_is_an_error_unless_pull_mode_or_accepting() -> None:
    (msg,) = lint_firewall(FirewallSpec())
    assert msg.startswith("firewall.management_from: empty while inbound_default is drop")
    assert lint_firewall(FirewallSpec(), pull_mode=True) == []
    assert lint_firewall(FirewallSpec(inbound_default="accept")) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            FirewallSpec(management_from=("10.213.0.1/16",)),
            "firewall.management_from[0]: '10.213.0.1/16' is not a valid address or CIDR",
        ),
        (
            FirewallSpec(management_from=("10.213.0.300",)),
            "firewall.management_from[0]: '10.213.0.300' is not a valid address or CIDR",
        ),
        (
            FirewallSpec(management_from=MGMT, dns=("resolver.example",)),
            "firewall.dns[0]: 'resolver.example' must be an IP address",
        ),
        (
            FirewallSpec(management_from=MGMT, inbound=(FirewallRule(proto="icmp", port=8),)),
            "firewall.inbound[0].port: icmp has no ports",
        ),
        (
            FirewallSpec(management_from=MGMT, outbound=(FirewallRule(port=70000),)),
            "firewall.outbound[0].port: 70000 is not a port (1-65535)",
        ),
        (
            FirewallSpec(management_from=MGMT, management_port=0),
            "firewall.management_port: 0 is not a port (1-65535)",
        ),
        (
            FirewallSpec(management_from=MGMT, outbound=(FirewallRule(hosts=("-bad-.com",)),)),
            "firewall.outbound[0].hosts[0]: '-bad-.com' is not a valid host name",
        ),
    ],
)
def test_invalid_values_name_their_field(spec: FirewallSpec, expected: str) -> None:
    problems = lint_firewall(spec)
    assert len(problems) == 1
    assert problems[0].startswith(expected)


def test_inbound_from_anywhere_is_a_warning() -> None:
    spec = FirewallSpec(
        management_from=MGMT,
        inbound=(
            FirewallRule(port=443),
            FirewallRule(port=8443, cidrs=("10.0.0.0/8", "0.0.0.0/0")),
            FirewallRule(proto="any", port=53, cidrs=("::/0",)),
            FirewallRule(proto="udp", port=161, cidrs=("10.213.0.0/16",)),
        ),
    )
    assert lint_inbound_open(spec) == [
        "firewall.inbound[0]: accepts tcp/443 from anywhere (no cidrs or hosts)",
        "firewall.inbound[1].cidrs[1]: accepts tcp/8443 from anywhere",
        "firewall.inbound[2].cidrs[0]: accepts tcp+udp/53 from anywhere",
    ]
    assert lint_inbound_open(FirewallSpec(management_from=MGMT)) == []
    assert lint_inbound_open(FirewallSpec(management_from=MGMT, inbound_default="accept")) == [
        "firewall.inbound_default: accept lets every inbound connection in"
    ]


# --- the controller guard (apply refuses when this returns a problem) -------------------------


def test_controller_inside_management_from_passes() -> None:
    spec = FirewallSpec(management_from=MGMT)
    assert controller_access_problem(spec, "10.213.0.1 40000 10.213.1.1 22") is None
    mapped = "::ffff:10.213.0.1 40000 ::ffff:10.213.1.1 22"
    assert controller_access_problem(spec, mapped) is None


def test_controller_outside_management_from_is_named() -> None:
    spec = FirewallSpec(management_from=("10.213.9.0/24",))
    problem = controller_access_problem(spec, "10.213.0.1 40000 10.213.1.1 22")
    assert problem == (
        "the host sees the controller at 10.213.0.1, which firewall.management_from "
        "(10.213.9.0/24) does not include: the new firewall would lock the controller out"
    )


def test_session_on_another_port_than_management_port_is_refused() -> None:
    spec = FirewallSpec(management_from=MGMT, management_port=2222)
    problem = controller_access_problem(spec, "10.213.0.1 40000 10.213.1.1 22")
    assert problem is not None
    assert "arrives on port 22 but firewall.management_port is 2222" in problem


@pytest.mark.parametrize("value", [None, "", "garbage", "not-an-ip 1 2 22"])
def test_unknown_controller_address_is_refused(value: str | None) -> None:
    assert controller_access_problem(FirewallSpec(management_from=MGMT), value) is not None


def test_accepting_inbound_cannot_lock_out() -> None:
    spec = FirewallSpec(inbound_default="accept")
    assert controller_access_problem(spec, None) is None
