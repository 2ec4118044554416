"""Several policies selecting one host: merge by priority, named list items by name, waivers
accumulate, and a same-priority disagreement is an error naming both files and lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from policy_helpers import IMAGE, inventory, load, only, policy

from checkpointctl.policy import LoadResult

DIGEST2 = "sha256:" + "cd" * 32

BASELINE = f"""\
metadata:
  name: baseline
selector:
  groups: [checkpoints]
priority: 10
spec:
  registries:
    trusted: [{{registry: registry.example.com, prefix: checkpoint/}}]
  containers:
    - name: probe
      image: {IMAGE}
      user: "10001:10001"
      cap_drop: [ALL]
      resources: {{memory: 256m, pids: 128}}
    - name: exporter
      image: registry.example.com/checkpoint/exporter@{DIGEST2}
      user: "10002:10002"
      cap_drop: [ALL]
  data_collection:
    profile: minimal
  firewall:
    management:
      from: [192.0.2.10/32]
    outbound:
      allow:
        - {{proto: tcp, port: 443, to: [198.51.100.0/28]}}
        - {{proto: udp, port: 123, to: [192.0.2.123/32]}}
"""

FLEET: dict[str, Any] = {
    "all": {
        "children": {
            "checkpoints": {
                "children": {
                    "eu": {"vars": {"region": "eu"}, "hosts": {"cp-ams-1": {}}},
                    "us": {
                        "vars": {"region": "us"},
                        "hosts": {"cp-nyc-1": {"labels": {"tier": "gold"}}, "cp-sfo-1": {}},
                    },
                }
            }
        }
    }
}


def _load(tmp: Path, *bodies: tuple[str, str]) -> LoadResult:
    paths = [policy(tmp / "policies" / name, body) for name, body in bodies]
    return load(paths, inventory(tmp, FLEET))


def test_regional_override_changes_only_memory_of_the_named_container(tmp_path: Path) -> None:
    result = _load(
        tmp_path,
        ("baseline.yml", BASELINE),
        (
            "region-us.yml",
            """\
            metadata:
              name: region-us
            selector:
              groups: [us]
            priority: 20
            spec:
              containers:
                - name: probe
                  resources: {memory: 384m}
            """,
        ),
    )
    assert not result.diagnostics
    nyc = result.states["cp-nyc-1"]
    ams = result.states["cp-ams-1"]
    probe, exporter = nyc.containers
    assert probe.name == "probe"
    assert probe.limits.memory == 384 * 1024**2
    assert probe.limits.pids == 128  # kept from the baseline
    assert probe.image.reference == IMAGE
    assert probe.user == "10001:10001"
    assert exporter == ams.containers[1]  # untouched, same position
    assert ams.containers[0].limits.memory == 256 * 1024**2
    assert nyc.policies == ("baseline", "region-us")
    assert ams.policies == ("baseline",)
    # the merged value remembers which line wants it (drift shows it)
    src = nyc.source("containers.probe.resources.memory")
    assert src is not None
    assert (Path(src.path).name, src.line) == ("region-us.yml", 11)
    src = nyc.source("containers.probe.resources.pids")
    assert src is not None
    assert (Path(src.path).name, src.line) == ("baseline.yml", 16)


def test_override_adds_a_container_and_replaces_a_plain_list_whole(tmp_path: Path) -> None:
    result = _load(
        tmp_path,
        ("baseline.yml", BASELINE),
        (
            "extra.yml",
            f"""\
            metadata:
              name: extra
            selector:
              hosts: [cp-sfo-*]
            priority: 20
            spec:
              containers:
                - name: journeys
                  image: registry.example.com/checkpoint/journeys@{DIGEST2}
                  user: "10003:10003"
                  cap_drop: [ALL]
              firewall:
                management:
                  from: [192.0.2.10/32]
                outbound:
                  allow:
                    - {{proto: tcp, port: 8443, to: [203.0.113.0/24]}}
            """,
        ),
    )
    assert not result.diagnostics
    sfo = result.states["cp-sfo-1"]
    assert [c.name for c in sfo.containers] == ["probe", "exporter", "journeys"]
    assert sfo.firewall is not None
    assert [(r.port, r.cidrs) for r in sfo.firewall.outbound] == [(8443, ("203.0.113.0/24",))]
    assert [c.name for c in result.states["cp-nyc-1"].containers] == ["probe", "exporter"]


def test_higher_priority_wins_whatever_the_file_order(tmp_path: Path) -> None:
    # "a-" sorts before "baseline": the higher priority must win although it is read first
    result = _load(
        tmp_path,
        (
            "a-override.yml",
            """\
            metadata:
              name: a-override
            priority: 50
            spec:
              data_collection:
                screenshots: true
            """,
        ),
        ("baseline.yml", BASELINE),
        (
            "low.yml",
            """\
            metadata:
              name: low
            priority: 5
            spec:
              data_collection:
                screenshots: false
                console_logs: true
            """,
        ),
    )
    assert not result.diagnostics
    settings = dict(result.states["cp-ams-1"].collection[0].settings)
    assert settings["screenshots"] is True  # priority 50 over 5
    assert settings["console_logs"] is True  # only the low policy sets it
    assert result.states["cp-ams-1"].policies == ("low", "baseline", "a-override")


def test_same_priority_conflict_names_both_files_and_lines(tmp_path: Path) -> None:
    other = """\
        metadata:
          name: other
        selector:
          labels: {tier: gold}
        priority: 10
        spec:
          containers:
            - name: probe
              resources: {memory: 512m}
        """
    result = _load(tmp_path, ("baseline.yml", BASELINE), ("other.yml", other))
    d = only(result.errors)
    base = tmp_path / "policies" / "baseline.yml"
    oth = tmp_path / "policies" / "other.yml"
    assert str(d.location) == f"{oth}:11:27"
    assert f"conflicts with {base}:16:27 (policy 'baseline')" in d.message
    assert "priority 10" in d.message
    assert d.field == "spec.containers.probe.resources.memory"
    assert set(result.states) == {"cp-ams-1", "cp-sfo-1"}  # only cp-nyc-1 is gold


def test_same_priority_same_value_is_no_conflict(tmp_path: Path) -> None:
    other = """\
        metadata:
          name: other
        priority: 10
        spec:
          containers:
            - name: probe
              resources: {memory: 256m}
        """
    result = _load(tmp_path, ("baseline.yml", BASELINE), ("other.yml", other))
    assert not result.diagnostics


def test_a_higher_priority_settles_a_same_priority_conflict(tmp_path: Path) -> None:
    other = """\
        metadata:
          name: other
        priority: 10
        spec:
          containers:
            - name: probe
              resources: {memory: 512m}
        """
    decider = """\
        metadata:
          name: decider
        priority: 30
        spec:
          containers:
            - name: probe
              resources: {memory: 1g}
        """
    result = _load(
        tmp_path,
        ("baseline.yml", BASELINE),
        ("other.yml", other),
        ("decider.yml", decider),
    )
    assert not result.diagnostics
    assert result.states["cp-ams-1"].containers[0].limits.memory == 1024**3


def test_conflicting_images_for_one_named_container(tmp_path: Path) -> None:
    other = f"""\
        metadata:
          name: other
        priority: 10
        spec:
          containers:
            - name: probe
              image: registry.example.com/checkpoint/probe@{DIGEST2}
        """
    result = _load(tmp_path, ("baseline.yml", BASELINE), ("other.yml", other))
    assert result.errors
    assert {d.field for d in result.errors} == {"spec.containers.probe.image"}
    assert all("baseline.yml:13:14" in d.message for d in result.errors)
    assert not result.states


def test_waivers_accumulate_across_policies(tmp_path: Path) -> None:
    risky = """\
        metadata:
          name: risky
        selector:
          groups: [eu]
        priority: 20
        spec:
          containers:
            - name: probe
              ports: ["127.0.0.1:9100:9100"]
              privileged: true
          waivers:
            - rule: privileged
              target: probe
              reason: needs raw sockets for ICMP probes, see SEC-7
        """
    exporter_waiver = """\
        metadata:
          name: exporter-waiver
        selector:
          groups: [checkpoints]
        priority: 5
        spec:
          waivers:
            - rule: published-ports
              target: probe
              reason: scrape endpoint bound to loopback only, see SEC-142
        """
    result = _load(
        tmp_path,
        ("baseline.yml", BASELINE),
        ("risky.yml", risky),
        ("waiver.yml", exporter_waiver),
    )
    assert not result.diagnostics
    assert result.states["cp-ams-1"].containers[0].privileged is True
    assert result.states["cp-ams-1"].containers[0].ports == ("127.0.0.1:9100:9100",)

    # without the second policy's waiver, the published port is reported again
    (tmp_path / "policies" / "waiver.yml").unlink()
    result = load(
        sorted((tmp_path / "policies").glob("*.yml")), inventory(tmp_path / "again", FLEET)
    )
    d = only(result.errors)
    assert d.rule == "published-ports"


def test_selectors_combine_groups_hosts_and_labels(tmp_path: Path) -> None:
    gold_us = """\
        metadata:
          name: gold-us
        selector:
          groups: [us]
          hosts: ["cp-*"]
          labels: {tier: gold, region: us}
        priority: 20
        spec:
          data_collection: {traces: true}
        """
    result = _load(tmp_path, ("baseline.yml", BASELINE), ("gold.yml", gold_us))
    assert not result.diagnostics
    chosen = {h for h, s in result.states.items() if "gold-us" in s.policies}
    assert chosen == {"cp-nyc-1"}


def test_hosts_selected_by_no_policy_are_listed(tmp_path: Path) -> None:
    only_eu = """\
        metadata:
          name: only-eu
        selector:
          groups: [eu]
        spec: {}
        """
    result = _load(tmp_path, ("eu.yml", only_eu))
    assert set(result.states) == {"cp-ams-1"}
    assert sorted(result.unselected) == ["cp-nyc-1", "cp-sfo-1"]


def test_selector_index_selects_what_matching_every_policy_would() -> None:
    """The loader indexes policies by a label for speed; the result must not change."""
    from checkpointctl.model import Host
    from checkpointctl.policy.loader import _SelectorIndex
    from checkpointctl.policy.policy_file import Policy, Selector
    from checkpointctl.yamlsource import Document

    selectors = [
        Selector(),
        Selector(groups=("eu",)),
        Selector(labels=(("customer", "c1"),)),
        Selector(labels=(("customer", "c2"), ("tier", "gold"))),
        Selector(groups=("us",), labels=(("customer", "c1"),)),
        Selector(labels=(("port", 22),)),
        Selector(labels=(("enabled", True),)),
        Selector(hosts=("cp-a*",), labels=(("tier", "gold"),)),
    ]
    policies = [Policy(f"p{i}", 0, s, Document("p.yml", {})) for i, s in enumerate(selectors)]
    hosts = [
        Host("cp-a1", "a", groups=frozenset({"eu"}), vars={"labels": {"customer": "c1"}}),
        Host("cp-a2", "a", groups=frozenset({"us"}), vars={"customer": "c1", "tier": "gold"}),
        Host("cp-b1", "b", vars={"labels": {"customer": "c2", "tier": "gold"}}),
        Host("cp-b2", "b", vars={"labels": {"customer": ["c1"]}, "port": 22.0}),
        Host("cp-b3", "b", vars={"enabled": 1, "labels": {"port": "22"}}),
        Host("cp-b4", "b", vars={"labels": {"customer": {"x": 1}}, "enabled": False}),
    ]
    index = _SelectorIndex(policies)
    for host in hosts:
        naive = [p.name for p in policies if p.selector.matches(host)]
        assert [p.name for p in index.select(host)] == naive, host.name
    assert [p.name for p in index.select(hosts[0])] == ["p0", "p1", "p2"]
