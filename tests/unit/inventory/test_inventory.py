"""Ansible-layout inventories and ``--limit`` patterns, as Ansible users expect them.

Variable precedence: deeper groups over their parents, sibling groups by name, the host over
every group; at one level our own names (``address``, ``port``, ``user``) win over Ansible's,
but a more specific level wins whatever the spelling.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from checkpointctl.cli.main import main
from checkpointctl.errors import InventoryError
from checkpointctl.inventory import Inventory, load_inventory, match_pattern

FLEET = """\
# a real-looking fleet: nested groups, vars at every level, both spellings of connection vars
all:
  vars:
    user: checkpointctl
    region: none
    tier: standard
    identity_file: keys/fleet_ed25519
    known_hosts: ../shared/known_hosts
  hosts:
    controller:
      connection: local
  children:
    checkpoints:
      vars:
        ansible_user: ansible-ops
        tier: checkpoint
      children:
        eu:
          vars: {region: eu, tier: eu-standard}
          children:
            eu_west:
              vars: {region: eu-west}
              hosts:
                cp-ams-1: {ansible_host: 192.0.2.21}
                cp-ams-2: {address: 192.0.2.22, ansible_host: 198.51.100.99}
            eu_central:
              hosts:
                cp-fra-1:
                  ansible_host: 192.0.2.31
                  ansible_port: 2222
                  ansible_user: fra-ops
                  ansible_ssh_private_key_file: /etc/checkpointctl/fra_ed25519
        us:
          vars: {region: us}
          hosts:
            cp-nyc-1:
              address: 192.0.2.41
              ansible_host: 198.51.100.41
              port: 2200
              ansible_port: 22
              user: nyc-ops
              ansible_user: ignored
              tier: gold
            cp-sfo-1:
              address: 192.0.2.51
              identity_file: ~/.ssh/sfo_ed25519
    canary:
      hosts:
        cp-ams-1:
        cp-nyc-1:
    alpha:
      vars: {color: alpha}
      hosts:
        cp-sfo-1:
    beta:
      vars: {color: beta}
      hosts:
        cp-sfo-1:
"""

NAMES = ["controller", "cp-ams-1", "cp-ams-2", "cp-fra-1", "cp-nyc-1", "cp-sfo-1"]


@pytest.fixture
def fleet(tmp_path: Path) -> Inventory:
    path = tmp_path / "inventories" / "prod.yml"
    path.parent.mkdir()
    path.write_text(FLEET)
    return load_inventory(str(path))


def test_hosts_in_file_order_with_nested_group_membership(fleet: Inventory) -> None:
    assert [h.name for h in fleet.hosts] == NAMES
    ams = fleet.host("cp-ams-1")
    assert ams.groups == {"all", "checkpoints", "eu", "eu_west", "canary"}
    assert ams.vars["group_names"] == ["canary", "checkpoints", "eu", "eu_west"]
    assert ams.vars["inventory_hostname"] == "cp-ams-1"
    assert fleet.groups["eu"] == {"cp-ams-1", "cp-ams-2", "cp-fra-1"}
    assert fleet.groups["checkpoints"] == set(NAMES) - {"controller"}
    assert fleet.groups["all"] == set(NAMES)


def test_child_group_vars_override_parents_and_host_vars_override_groups(
    fleet: Inventory,
) -> None:
    assert fleet.host("cp-ams-1").vars["region"] == "eu-west"  # eu_west over eu over all
    assert fleet.host("cp-fra-1").vars["region"] == "eu"  # eu_central sets none: eu's
    assert fleet.host("cp-ams-1").vars["tier"] == "eu-standard"  # eu over checkpoints over all
    assert fleet.host("cp-sfo-1").vars["tier"] == "checkpoint"
    assert fleet.host("cp-nyc-1").vars["tier"] == "gold"  # host over group
    assert fleet.host("controller").vars["region"] == "none"


def test_sibling_groups_at_one_depth_apply_in_name_order(fleet: Inventory) -> None:
    assert fleet.host("cp-sfo-1").vars["color"] == "beta"


def test_our_names_win_at_one_level_and_specific_levels_win_across_spellings(
    fleet: Inventory,
) -> None:
    ams1, ams2 = fleet.host("cp-ams-1"), fleet.host("cp-ams-2")
    assert (ams1.address, ams1.port) == ("192.0.2.21", 22)  # ansible_host alone
    assert ams2.address == "192.0.2.22"  # address beats ansible_host on the same host
    nyc = fleet.host("cp-nyc-1")
    assert (nyc.address, nyc.port, nyc.user) == ("192.0.2.41", 2200, "nyc-ops")
    fra = fleet.host("cp-fra-1")
    assert (fra.address, fra.port) == ("192.0.2.31", 2222)
    assert fra.user == "fra-ops"  # host-level ansible_user beats the groups' user
    # the checkpoints group's ansible_user beats all's user (deeper level)
    assert fleet.host("cp-ams-1").user == "ansible-ops"
    assert fleet.host("controller").user == "checkpointctl"
    assert fleet.host("cp-sfo-1").address == "192.0.2.51"


def test_connection_local_and_ssh_default(fleet: Inventory) -> None:
    assert fleet.host("controller").connection == "local"
    assert fleet.host("controller").address == "controller"  # no address: the name
    assert {h.connection for h in fleet.hosts[1:]} == {"ssh"}


def test_key_paths_resolve_against_the_inventory_folder(fleet: Inventory, tmp_path: Path) -> None:
    inv_dir = (tmp_path / "inventories").resolve()
    ams = fleet.host("cp-ams-1")
    assert ams.identity_file == str(inv_dir / "keys" / "fleet_ed25519")
    assert ams.known_hosts == str(inv_dir / ".." / "shared" / "known_hosts")
    assert fleet.host("cp-fra-1").identity_file == "/etc/checkpointctl/fra_ed25519"
    assert fleet.host("cp-sfo-1").identity_file == os.path.expanduser("~/.ssh/sfo_ed25519")


def test_relative_inventory_path_still_resolves_keys_absolutely(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "inv.yml").write_text(FLEET)
    monkeypatch.chdir(tmp_path)
    host = load_inventory("inv.yml").host("cp-ams-1")
    assert host.identity_file == str(tmp_path.resolve() / "keys" / "fleet_ed25519")


def test_the_example_inventory_loads(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[3]
    inv = load_inventory(str(repo / "inventories" / "prod.yml"))
    sfo = inv.host("cp-sfo-1")
    assert (sfo.address, sfo.port, sfo.user) == ("192.0.2.51", 2222, "checkpointctl")
    assert inv.groups["canary"] == {"cp-ams-1"}
    assert inv.host("cp-ams-1").vars["region"] == "eu"


def test_unknown_host_is_an_inventory_error(fleet: Inventory) -> None:
    with pytest.raises(InventoryError, match="no host named 'cp-xyz-1'"):
        fleet.host("cp-xyz-1")


# --- --limit patterns ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("cp-ams-1", ["cp-ams-1"]),
        ("cp-ams-*", ["cp-ams-1", "cp-ams-2"]),
        ("cp-?ra-1", ["cp-fra-1"]),
        ("cp-[fn]*", ["cp-fra-1", "cp-nyc-1"]),
        ("eu", ["cp-ams-1", "cp-ams-2", "cp-fra-1"]),
        ("eu_*", ["cp-ams-1", "cp-ams-2", "cp-fra-1"]),  # a glob also matches group names
        ("all", NAMES),
        ("*", NAMES),
        ("checkpoints:!canary", ["cp-ams-2", "cp-fra-1", "cp-sfo-1"]),
        ("eu,!cp-ams-2", ["cp-ams-1", "cp-fra-1"]),
        ("!checkpoints", ["controller"]),  # only exclusions: from all hosts
        ("checkpoints:&canary", ["cp-ams-1", "cp-nyc-1"]),
        ("eu:&canary", ["cp-ams-1"]),
        ("checkpoints,&canary,!us", ["cp-ams-1"]),
        ("&eu,&canary", ["cp-ams-1"]),
        (r"~cp-(ams|nyc)-\d", ["cp-ams-1", "cp-ams-2", "cp-nyc-1"]),
        ("~^cp-.*-2$", ["cp-ams-2"]),
        ("cp-nyc-1,cp-ams-1", ["cp-ams-1", "cp-nyc-1"]),  # inventory order, not pattern order
        ("cp-nyc-1:cp-ams-1", ["cp-ams-1", "cp-nyc-1"]),
        (" cp-nyc-1 , cp-ams-1 ", ["cp-ams-1", "cp-nyc-1"]),
        ("us:cp-fra-1", ["cp-fra-1", "cp-nyc-1", "cp-sfo-1"]),
        ("", NAMES),
    ],
)
def test_limit_patterns(fleet: Inventory, pattern: str, expected: list[str]) -> None:
    assert [h.name for h in fleet.select(pattern)] == expected


@pytest.mark.parametrize("pattern", ["cp-xyz-*", "nosuchgroup", "eu:&us", "canary:!canary", "~^x"])
def test_a_pattern_matching_nothing_is_an_error(fleet: Inventory, pattern: str) -> None:
    with pytest.raises(InventoryError, match="matches no host"):
        fleet.select(pattern)


def test_a_bad_regex_is_an_inventory_error(fleet: Inventory) -> None:
    with pytest.raises(InventoryError, match="bad regex"):
        fleet.select("~cp-(")


def test_colons_of_ipv6_names_are_not_separators() -> None:
    names = ["fe80::1", "fe80::2"]
    assert match_pattern("fe80::1", names, {}) == {"fe80::1"}


def test_limit_through_the_cli_names_the_pattern(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inv = tmp_path / "inv.yml"
    inv.write_text(FLEET)
    pol = tmp_path / "p.yml"
    pol.write_text(
        "apiVersion: checkpointctl/v1\nkind: CheckpointPolicy\nmetadata: {name: p}\nspec: {}\n"
    )
    assert main(["render", str(pol), "-i", str(inv), "--limit", "nowhere*"]) == 1
    err = capsys.readouterr().err
    assert "checkpointctl: error: --limit 'nowhere*' matches no host" in err
    assert "Traceback" not in err


# --- inventory errors ------------------------------------------------------------------------


def _load_text(tmp_path: Path, text: str) -> Inventory:
    path = tmp_path / "bad.yml"
    path.write_text(textwrap.dedent(text))
    return load_inventory(str(path))


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("", "1:1", "inventory is empty"),
        ("- a\n- b\n", "1:1", "a mapping with a top-level 'all' group"),
        ("all:\n  vars: [a, b]\n", "2:9", "vars must be a mapping"),
        ("all:\n  hosts: [cp-1]\n", "2:10", "hosts must be a mapping"),
        ("all:\n  hosts:\n    cp-1: [x]\n", "3:11", "host variables must be a mapping"),
        ("all:\n  hosts:\n    'cp 1': {}\n", "3:5", "invalid host name 'cp 1'"),
        ("all:\n  children:\n    'bad group':\n", "3:5", "invalid group name"),
        ("all:\n  hostz: {}\n", "2:3", "unknown key 'hostz'"),
        ("all:\n  hosts:\n    cp-1: {connection: winrm}\n", "3:5", "unsupported connection"),
        ("all:\n  hosts:\n    cp-1: {port: 70000}\n", "3:5", "port 70000 out of range"),
        ("all:\n  hosts:\n    cp-1: {ansible_port: ssh}\n", "3:5", "must be numbers"),
        ("all:\n  hosts:\n    cp-1: {a: 1, a: 2}\n", "3:18", "duplicate key 'a'"),
        ("all:\n  hosts: {cp-1: !!python/name:os.system ''}\n", "2:17", "is not allowed"),
    ],
)
def test_inventory_errors_are_located(tmp_path: Path, text: str, where: str, message: str) -> None:
    with pytest.raises(InventoryError) as exc:
        _load_text(tmp_path, text)
    texts = [str(d) for d in exc.value.items]
    assert any(t.startswith(f"{tmp_path / 'bad.yml'}:{where}: ") and message in t for t in texts), (
        texts
    )


def test_every_structural_error_is_listed_at_once(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as exc:
        _load_text(
            tmp_path,
            """\
            all:
              vars: 1
              hosts: 2
              children:
                eu:
                  hostz: {}
            """,
        )
    assert len(exc.value.items) == 3


def test_a_home_of_an_unknown_user_is_an_inventory_error(tmp_path: Path) -> None:
    """Found by the fuzz test: ``~nosuchuser/key`` made pathlib raise RuntimeError."""
    with pytest.raises(InventoryError, match="cannot expand '~'") as exc:
        _load_text(tmp_path, "all:\n  hosts:\n    cp-1: {identity_file: '~nosuchuser-x/key'}\n")
    assert str(exc.value.items[0].location) == f"{tmp_path / 'bad.yml'}:3:5"


def test_a_windows_host_is_refused_on_its_own_naming_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "inv.yml"
    path.write_text(
        "all:\n  hosts:\n    win-1: {address: 192.0.2.7, os: windows}\n"
        "    cp-1: {address: 192.0.2.8}\n"
    )
    hosts = {h.name: h for h in load_inventory(str(path)).hosts}
    refused = hosts["win-1"].refused
    assert refused is not None
    assert "os: windows is not supported yet" in refused
    assert "docs/windows.md" in refused
    assert "inv.yml:3:" in refused
    assert hosts["cp-1"].refused is None
