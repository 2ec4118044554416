"""``health_signal``: the agent's own health command reaches the desired state, checked."""

from __future__ import annotations

from pathlib import Path

from policy_helpers import IMAGE, errors, inventory, load, only, policy


def _probe(tmp_path: Path, signal: str | None) -> Path:
    line = f"health_signal: {signal}" if signal is not None else "restart: unless-stopped"
    return policy(
        tmp_path / "probe.yml",
        f"""\
        metadata:
          name: probe
        spec:
          registries:
            trusted: [{{registry: registry.example.com, prefix: checkpoint/}}]
          containers:
            - name: probe
              image: {IMAGE}
              user: "10001:10001"
              cap_drop: [ALL]
              {line}
        """,
    )


def test_the_health_signal_is_an_argv_on_the_container(tmp_path: Path) -> None:
    result = load([_probe(tmp_path, '[test, -s, "/tmp/standin/effective.json"]')],
                  inventory(tmp_path))  # fmt: skip
    assert errors(result) == []
    (probe,) = result.states["cp-1"].containers
    assert probe.health_signal == ("test", "-s", "/tmp/standin/effective.json")


def test_no_health_signal_is_none(tmp_path: Path) -> None:
    (probe,) = load([_probe(tmp_path, None)], inventory(tmp_path)).states["cp-1"].containers
    assert probe.health_signal == ()


def test_an_empty_or_shell_string_signal_is_refused_naming_the_field(tmp_path: Path) -> None:
    for text in ("[]", '"test -s /tmp/x"'):
        d = only(load([_probe(tmp_path, text)], inventory(tmp_path)).errors)
        assert d.field == "spec.containers[0].health_signal", str(d)
