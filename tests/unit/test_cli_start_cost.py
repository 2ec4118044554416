"""What a drift's start-up skips: the other verbs' parsers, and collector passes over the
objects start-up makes (bench/README.md, "the controller's CPU"). Neither may change what a
command line means or leave the collector off."""

from __future__ import annotations

import contextlib
import gc
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from checkpointctl.cli.main import ONE_VERB_PARSERS, _parser, main, one_verb
from checkpointctl.cli.startup import StartUp


@pytest.fixture
def collector() -> Iterator[None]:
    """The collector as a test found it (on, nothing frozen), whatever the test did."""
    assert gc.isenabled()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.enable()


def test_one_verb_only_after_verbose() -> None:
    assert one_verb(["-v", "drift", "-i", "x.yml"]) == "drift"
    assert one_verb(["apply", "--check"]) == "apply"
    assert one_verb(["--help", "drift"]) is None  # the whole command's help
    assert one_verb(["validate", "drift"]) is None
    assert one_verb(["--help"]) is None
    assert one_verb([]) is None


def test_help_before_the_verb_is_the_whole_commands_help() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(["--help", "drift"])
    assert "validate" in out.getvalue()
    assert "apply" in out.getvalue()


@pytest.mark.parametrize("verb", ONE_VERB_PARSERS)
def test_one_verb_parser_reads_the_verb_as_the_whole_parser(verb: str) -> None:
    argv = ["-v", verb, "-i", "inv.yml", "--forks", "7", "--format", "json", "policies/"]
    whole = vars(_parser().parse_args(argv))
    alone = vars(_parser(verb).parse_args(argv))
    assert alone == whole
    assert alone["forks"] == 7
    assert alone["verbose"] is True


@pytest.mark.parametrize("verb", ONE_VERB_PARSERS)
def test_one_verb_parser_helps_and_refuses_alike(verb: str) -> None:
    def answer(parser_of: str | None, argv: list[str]) -> tuple[object, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            pytest.raises(SystemExit) as exc,
        ):
            _parser(parser_of).parse_args(argv)
        return exc.value.code, out.getvalue(), err.getvalue()

    for argv in ([verb, "--help"], [verb, "--no-such-option"], [verb, "--forks", "many"]):
        assert answer(verb, argv) == answer(None, argv)


def test_the_other_verbs_still_parse_through_main(tmp_path: Path) -> None:
    """A verb outside :data:`ONE_VERB_PARSERS` gets the whole parser (here: validate)."""
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(["validate", str(tmp_path / "nothing-here")]) == 1


@pytest.mark.usefixtures("collector")
def test_start_up_freezes_what_it_made_and_collects_again() -> None:
    frozen_before = gc.get_freeze_count()
    with StartUp() as start_up:
        assert not gc.isenabled()
        kept = [[n] for n in range(1000)]
        start_up.done()
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen_before + len(kept)
    assert gc.isenabled()


@pytest.mark.usefixtures("collector")
def test_start_up_that_fails_leaves_the_collector_on_and_freezes_nothing() -> None:
    collecting: list[bool] = []

    def fail_during_start_up() -> None:
        with StartUp():
            collecting.append(gc.isenabled())
            raise RuntimeError("a bad policy")

    with pytest.raises(RuntimeError):
        fail_during_start_up()
    assert collecting == [False]
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


@pytest.mark.usefixtures("collector")
def test_main_leaves_the_collector_on_and_start_up_frozen(tmp_path: Path) -> None:
    """The objects of start-up stay frozen to the end of the process (the interpreter's last
    collection skips them); the collector is on for whatever comes after."""
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["schema"]) == 0
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0
