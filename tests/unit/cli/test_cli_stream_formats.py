"""``drift --format markdown|html`` goes through the streamed writer and prints what
:func:`render` makes of the same run.

The run: two hosts on the loopback at a port nobody listens on (unreachable, one with a
location), read once as JSON and once per format. The JSON report read back and rendered must
give the bytes the command wrote, to a file and to stdout; the whole-run read (``api.drift``,
which keeps every host's result) is not called.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checkpointctl import api
from checkpointctl.cli.main import main
from checkpointctl.report import render
from checkpointctl.report.fromjson import parse_report

INVENTORY = """\
all:
  hosts:
    cp-1: {address: 127.0.0.1, port: 1, location: eu}
    cp-2: {address: 127.0.0.1, port: 1}
"""
POLICY = """\
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata: {name: p}
selector: {hosts: ['*']}
spec: {}
"""


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "inventory.yml").write_text(INVENTORY)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.yml").write_text(POLICY)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("fmt", ["markdown", "html"])
def test_drift_streams_the_rendered_report(
    fleet: Path, fmt: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    drift = ["drift", "-i", "inventory.yml", "-q"]
    assert main([*drift, "--format", "json", "-o", "run.json"]) == 1
    saved = parse_report((fleet / "run.json").read_text(), "run.json").report
    assert [h.status.value for h in saved.hosts] == ["unreachable", "unreachable"]
    expected = render(saved, fmt)  # type: ignore[arg-type]

    def whole_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("drift kept the whole run instead of streaming it")

    monkeypatch.setattr(api, "drift", whole_run)

    assert main([*drift, "--format", fmt, "-o", f"run.{fmt}"]) == 1
    assert (fleet / f"run.{fmt}").read_text(encoding="utf-8") == expected
    capsys.readouterr()
    assert main([*drift, "--format", fmt]) == 1
    assert capsys.readouterr().out == expected


@pytest.mark.parametrize("verb", ["drift", "apply"])
def test_every_report_format_a_read_offers_is_streamed(verb: str) -> None:
    """drift and ``apply --check`` always take the streamed path: a format they offer that the
    stream could not write would fail at the end of a run, so none may exist."""
    from checkpointctl.cli.main import _parser
    from checkpointctl.report.stream import STREAMED

    parser = _parser(verb)
    sub = next(a for a in parser._actions if a.choices and verb in a.choices)
    verb_parser = sub.choices[verb]  # type: ignore[index]
    fmt = next(a for a in verb_parser._actions if "--format" in a.option_strings)
    assert fmt.choices is not None
    assert set(fmt.choices) <= set(STREAMED)
