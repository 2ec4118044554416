"""Jump hosts with their own ProxyJump, resolved as OpenSSH resolves them.

``ssh`` reaches a target through ``ProxyJump a,b`` by running ``ssh -J a -W target b`` and
``ssh -W b a``: the ``-J`` overrides ``b``'s own ProxyJump, while ``a`` (reached without one)
follows its own, recursively. These tests pin that order, the loop and hop-limit errors, and
that hosts behind the same nested chain get equal chains (the key of the shared connection).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from checkpointctl.errors import TransportError
from checkpointctl.model import Host, SshSettings
from checkpointctl.transport.ssh.route import MAX_JUMPS, Route, resolve


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read the real ~/.ssh/config."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def route(tmp_path: Path, text: str, name: str = "cp-1", **ssh: object) -> Route:
    path = tmp_path / "ssh_config"
    path.write_text(text)
    settings = SshSettings(given=frozenset(), config_file=str(path), **ssh)  # type: ignore[arg-type]
    return resolve(Host(name=name, address=name, ssh=settings))


def hops(r: Route) -> list[tuple[str, str, int, str]]:
    return [(j.label, j.address, j.port, j.user) for j in r.jumps]


NESTED = (
    "Host cp-*\n"
    "    ProxyJump inner\n"
    "    User deploy\n"
    "Host inner\n"
    "    HostName 10.1.0.2\n"
    "    ProxyJump ops@outer:2201\n"
    "    UserKnownHostsFile /kh/inner\n"
    "Host outer\n"
    "    HostName 10.0.0.1\n"
    "    StrictHostKeyChecking accept-new\n"
    "    UserKnownHostsFile /kh/outer\n"
)


def test_a_jump_hosts_own_proxyjump_goes_first(tmp_path: Path) -> None:
    r = route(tmp_path, NESTED)
    assert hops(r) == [
        ("ops@outer:2201", "10.0.0.1", 2201, "ops"),
        ("inner", "10.1.0.2", 22, "deploy"),
    ]
    outer, inner = r.jumps
    # each hop is checked against its own known_hosts, with its own policy
    assert outer.known_hosts == ("/kh/outer",)
    assert outer.host_keys == "accept-new"
    assert inner.known_hosts == ("/kh/inner",)
    assert inner.host_keys == "strict"
    assert r.via() == " via ops@outer:2201, inner"


def test_recursion_goes_as_deep_as_the_config(tmp_path: Path) -> None:
    text = "Host cp-1\n    ProxyJump c\nHost c\n    ProxyJump b\nHost b\n    ProxyJump a\n"
    assert [j.label for j in route(tmp_path, text).jumps] == ["a", "b", "c"]


def test_only_the_first_hop_of_a_list_follows_its_own_proxyjump(tmp_path: Path) -> None:
    # as `ssh -J a -W cp-1 b`: -J on that command line wins over b's ProxyJump (and its
    # ProxyCommand); `ssh -W b a` has no -J, so a's own ProxyJump is followed
    text = (
        "Host cp-1\n    ProxyJump a,b\n"
        "Host a\n    ProxyJump x\n"
        "Host b\n    ProxyJump y\n    ProxyCommand nc %h %p\n"
    )
    jumps = route(tmp_path, text).jumps
    assert [j.label for j in jumps] == ["x", "a", "b"]
    assert [j.proxy_command for j in jumps] == [None, None, None]


@pytest.mark.parametrize(
    "extra",
    [{"options": (("proxyjump", "inner"),)}, {"jump": ("inner",)}],
    ids=["dash-o", "inventory-ssh_jump"],
)
def test_a_jump_from_the_inventory_follows_the_config_too(
    tmp_path: Path, extra: dict[str, object]
) -> None:
    text = "Host inner\n    ProxyJump outer\n"
    assert [j.label for j in route(tmp_path, text, **extra).jumps] == ["outer", "inner"]


def test_proxyjump_none_on_a_jump_host_ends_the_chain(tmp_path: Path) -> None:
    text = "Host inner\n    ProxyJump none\nHost *\n    ProxyJump inner\n"
    assert [j.label for j in route(tmp_path, text).jumps] == ["inner"]


def test_hosts_behind_one_nested_chain_share_its_connections(tmp_path: Path) -> None:
    # the shared jump connections are keyed by the chain of endpoints (transport.ssh.jumps)
    first = route(tmp_path, NESTED, "cp-1")
    second = route(tmp_path, NESTED, "cp-2")
    assert first.jumps == second.jumps
    assert hash(first.jumps) == hash(second.jumps)
    assert first.target != second.target


@pytest.mark.parametrize(
    ("text", "loop"),
    [
        (
            "Host cp-1\n    ProxyJump a\nHost a\n    ProxyJump b\nHost b\n    ProxyJump a\n",
            "a -> b -> a",
        ),
        ("Host cp-1\n    ProxyJump bastion\nHost bastion\n    ProxyJump cp-1\n", None),
        ("Host cp-1\n    ProxyJump cp-1\n", "cp-1 -> cp-1"),
    ],
    ids=["between-jumps", "through-the-target", "self"],
)
def test_a_proxyjump_loop_is_an_error_naming_it(
    tmp_path: Path, text: str, loop: str | None
) -> None:
    with pytest.raises(TransportError, match="ProxyJump loop") as e:
        route(tmp_path, text)
    assert (loop or "cp-1 -> bastion -> cp-1") in str(e.value)
    assert str(tmp_path / "ssh_config") in str(e.value)


def test_a_jump_host_that_is_the_target_is_a_loop(tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="jump host loop via cp-1"):
        route(tmp_path, "", jump=("cp-1",))


def test_a_chain_longer_than_the_limit_is_refused(tmp_path: Path) -> None:
    names = [f"h{i}" for i in range(MAX_JUMPS + 1)]
    text = "Host cp-1\n    ProxyJump h0\n" + "".join(
        f"Host {a}\n    ProxyJump {b}\n" for a, b in itertools.pairwise(names)
    )
    with pytest.raises(TransportError, match=f"more than {MAX_JUMPS} jump hosts"):
        route(tmp_path, text)
    # one hop fewer is fine
    shorter = "Host cp-1\n    ProxyJump h1\n" + "".join(
        f"Host {a}\n    ProxyJump {b}\n" for a, b in itertools.pairwise(names[1:])
    )
    assert len(route(tmp_path, shorter).jumps) == MAX_JUMPS


def test_a_flat_list_longer_than_the_limit_is_refused(tmp_path: Path) -> None:
    chain = ",".join(f"j{i}" for i in range(MAX_JUMPS + 1))
    with pytest.raises(TransportError, match=f"more than {MAX_JUMPS} jump hosts"):
        route(tmp_path, f"Host cp-1\n    ProxyJump {chain}\n")


def test_the_outermost_hop_may_have_a_proxycommand(tmp_path: Path) -> None:
    text = (
        "Host cp-1\n    ProxyJump inner\n"
        "Host inner\n    ProxyJump gw\n"
        "Host gw\n    HostName 10.0.0.9\n    ProxyCommand ssh -W %h:%p edge\n"
    )
    first, second = route(tmp_path, text).jumps
    # gw, the outermost, is reached through its command (tokens expanded as ssh does)
    assert first.label == "gw"
    assert first.proxy_command == "ssh -W 10.0.0.9:22 edge"
    assert second.proxy_command is None


def test_a_jump_host_with_both_proxyjump_and_proxycommand_is_named(tmp_path: Path) -> None:
    text = "Host cp-1\n    ProxyJump a\nHost a\n    ProxyJump b\n    ProxyCommand nc %h %p\n"
    with pytest.raises(TransportError, match=r"jump host a\).*both a ProxyJump \(b\)"):
        route(tmp_path, text)


def test_an_unsupported_option_of_a_nested_jump_host_is_named(tmp_path: Path) -> None:
    text = "Host cp-1\n    ProxyJump a\nHost a\n    ProxyJump b\nHost b\n    ForwardAgent yes\n"
    with pytest.raises(TransportError, match=r"jump host b.*forwardagent yes"):
        route(tmp_path, text)


def test_the_target_is_no_loop_when_the_inventory_chose_its_jump(tmp_path: Path) -> None:
    # as ssh -J bastion cp-1: the -J overrides cp-1's own ProxyJump, so cp-1 reached again as
    # bastion's jump host (through its own gw) is no cycle: it ends at gw
    text = "Host cp-1\n    ProxyJump gw\nHost bastion\n    ProxyJump cp-1\n"
    r = route(tmp_path, text, jump=("bastion",))
    assert [j.label for j in r.jumps] == ["gw", "cp-1", "bastion"]
