"""Shell completion generated from the parser: bash is loaded into a real bash and asked to
complete command lines; zsh is syntax-checked when zsh is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from checkpointctl.cli.completion import bash_script, describe, zsh_script
from checkpointctl.cli.main import _parser, main

Capsys = pytest.CaptureFixture[str]


@pytest.fixture(scope="module")
def bash_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("completion") / "checkpointctl.bash"
    path.write_text(bash_script(describe(_parser())))
    return path


def complete(script: Path, words: list[str], cwd: Path | None = None) -> list[str]:
    """What bash offers for ``words`` (the last word is the one being completed)."""
    driver = (
        'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); '
        '_checkpointctl; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", driver, "bash", str(script), *words],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
    )
    assert proc.stderr == ""
    return [line for line in proc.stdout.splitlines() if line]


def test_bash_completes_verbs_from_every_module(bash_file: Path) -> None:
    verbs = complete(bash_file, ["checkpointctl", ""])
    for verb in (
        "validate",
        "render",
        "drift",
        "apply",
        "schema",
        "lab",
        "impact",
        "pin",
        "completion",
    ):
        assert verb in verbs
    assert complete(bash_file, ["checkpointctl", "im"]) == ["impact"]


def test_bash_completes_options_and_their_choices(bash_file: Path) -> None:
    assert complete(bash_file, ["checkpointctl", "impact", "--fo"]) == ["--format"]
    assert complete(bash_file, ["checkpointctl", "impact", "--format", ""]) == [
        "text",
        "json",
        "markdown",
        "html",
    ]
    assert complete(bash_file, ["checkpointctl", "drift", "--format", "j"]) == ["json", "junit"]
    assert complete(bash_file, ["checkpointctl", "-v", "pin", "--ch"]) == ["--check"]
    assert complete(bash_file, ["checkpointctl", "completion", ""]) == ["bash", "zsh"]


def test_bash_completes_sub_verbs_and_skips_option_values(bash_file: Path) -> None:
    assert complete(bash_file, ["checkpointctl", "lab", ""]) == ["up", "down", "status", "exec"]
    assert complete(bash_file, ["checkpointctl", "lab", "up", "--li"]) == ["--light"]
    # "lab" as the value of --base is not the lab verb: impact's options still complete
    assert complete(bash_file, ["checkpointctl", "impact", "--base", "lab", "--hea"]) == ["--head"]


def test_bash_completes_files_for_paths_and_inventories(bash_file: Path, tmp_path: Path) -> None:
    (tmp_path / "inventories").mkdir()
    (tmp_path / "inventories" / "prod.yml").write_text("")
    assert complete(
        bash_file, ["checkpointctl", "validate", "-i", "inventories/p"], cwd=tmp_path
    ) == ["inventories/prod.yml"]


def test_completion_verb_prints_the_scripts(capsys: Capsys) -> None:
    assert main(["completion", "bash"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# bash completion for checkpointctl")
    assert out.rstrip().endswith(
        "complete -o filenames -o bashdefault -F _checkpointctl checkpointctl"
    )
    assert main(["completion", "zsh"]) == 0
    assert capsys.readouterr().out.startswith("#compdef checkpointctl\n")


def test_zsh_script_has_a_function_per_command_with_choices() -> None:
    script = zsh_script(describe(_parser()))
    assert "\n_checkpointctl__impact() {\n" in script
    assert "\n_checkpointctl__lab__up() {\n" in script
    assert "'--format[]:format:(text json markdown html)'" in script
    assert "'validate:schema + lint of policies (and inventory)'" in script
    assert script.rstrip().endswith("fi")


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_script_parses(tmp_path: Path) -> None:
    path = tmp_path / "_checkpointctl"
    path.write_text(zsh_script(describe(_parser())))
    subprocess.run(["zsh", "-n", str(path)], check=True)


def test_bash_script_parses(bash_file: Path) -> None:
    subprocess.run(["bash", "-n", str(bash_file)], check=True)
