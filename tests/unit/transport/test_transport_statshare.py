"""One ``stat`` per batch for the safe-path checks of its reads: the same answers as each read
alone, with one process; a name the host chose never passes for a checked path's line; and
nothing after a command that may change the host is answered from before it.

Everything runs for real under the local ``sh`` and GNU ``stat`` on a temporary tree; ``stat``
is counted by a wrapper first on ``PATH`` that logs each call and runs the real one.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from checkpointctl.model import Host
from checkpointctl.resources.credentials.resource import read_command
from checkpointctl.transport import safepath, statshare
from checkpointctl.transport.base import Command, CommandResult
from checkpointctl.transport.batch import batch_argv, parse_batch_output
from checkpointctl.transport.framing import new_token
from checkpointctl.transport.local import LocalTransport

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="ownership rules need root")

TIMER = "checkpointctl-test-timer"


@pytest.fixture
def local() -> LocalTransport:
    return LocalTransport(Host(name="here", address="localhost", connection="local"))


@pytest.fixture
def counted(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose ``stat`` logs one line per call to the returned file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "stat.log"
    wrapper = bin_dir / "stat"
    wrapper.write_text(f'#!/bin/sh\necho call >>"{log}"\nexec /usr/bin/stat "$@"\n')
    wrapper.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    return env, log


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A managed root with a credentials directory holding two files and a manifest."""
    tmp_path.chmod(0o755)
    managed = tmp_path / "etc-checkpoint"
    creds = managed / "credentials"
    creds.mkdir(parents=True, mode=0o755)
    for name in ("api-login", "shop-login", "manifest.json"):
        (creds / name).write_text(f"{name}\n")
        (creds / name).chmod(0o400)
    (managed / "secret-files").mkdir(mode=0o755)
    return managed


def _calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def _reads(managed: Path) -> list[Command]:
    state = managed.parent / "state"
    survey = safepath.survey_command(
        str(managed),
        [str(managed / "credentials"), str(state)],
        (str(state / "rollback.nft"), str(state / "rollback.pid")),
        TIMER,
    )
    credentials, _ = read_command(str(managed / "credentials"))
    secret_files, _ = read_command(str(managed / "secret-files"))
    return [survey, Command(("true",), read_only=True), credentials, secret_files]


def _batched(
    t: LocalTransport, commands: Sequence[Command], env: dict[str, str]
) -> list[CommandResult]:
    token = new_token()
    argv, stdin = batch_argv(commands, token)
    setenv = [f"{k}={v}" for k, v in env.items()]
    raw = t.run(["env", *setenv, *argv], stdin=stdin, check=False)
    return parse_batch_output("here", commands, raw, token)


def _alone(t: LocalTransport, commands: Sequence[Command], env: dict[str, str]) -> list[bytes]:
    setenv = [f"{k}={v}" for k, v in env.items()]
    return [t.run(["env", *setenv, *c.argv], check=False).stdout for c in commands]


def _keyless(out: bytes) -> bytes:
    """A credentials read's answer without its keyed digests (a fresh key per command)."""
    return b"\n".join(line for line in out.split(b"\n") if len(line.split(b"  ")[0]) != 64)


def _refused_as_alone(t: LocalTransport, root: Path, env: dict[str, str]) -> list[tuple[str, str]]:
    """The reads batched, checked against each read alone: the credentials read refused, every
    answer the same; the survey's violations as (path, problem)."""
    commands = _reads(root)
    shared = _batched(t, commands, env)
    assert shared[2].rc == safepath.UNSAFE_EXIT
    alone = _alone(t, commands, env)
    assert [_keyless(r.stdout) for r in shared] == [_keyless(o) for o in alone]
    survey = safepath.parse_survey("here", shared[0])
    return [(v.path, v.problem.value) for v in survey.violations]


def test_the_reads_of_a_batch_share_one_stat_and_answer_as_each_alone(
    local: LocalTransport, root: Path, counted: tuple[dict[str, str], Path]
) -> None:
    env, log = counted
    commands = _reads(root)
    shared = _batched(local, commands, env)
    assert _calls(log) == 1
    # three reads start with the safe-path check; the batch defines it once, in its runner
    assert sum("cp_chks() {" in a for c in commands for a in c.argv) == 3
    assert sum(a.count("cp_chks() {") for a in batch_argv(commands, new_token())[0]) == 1
    assert [r.rc for r in shared] == [0, 0, 0, 0]
    alone = _alone(local, commands, env)
    assert _calls(log) == 1 + 3  # each read alone runs its own
    assert [_keyless(r.stdout) for r in shared] == [_keyless(o) for o in alone]
    assert b"api-login" in shared[2].stdout
    assert b"400 0 0" in shared[2].stdout


@pytest.mark.parametrize("how", ["mode", "owner", "link"])
def test_an_unsafe_directory_is_found_from_the_shared_answer(
    local: LocalTransport, root: Path, counted: tuple[dict[str, str], Path], how: str
) -> None:
    env, log = counted
    creds = root / "credentials"
    if how == "mode":
        creds.chmod(0o777)
    elif how == "owner":
        os.chown(creds, 1000, 1000)
    else:
        elsewhere = root.parent / "elsewhere"
        creds.rename(elsewhere)
        creds.symlink_to(elsewhere)
    found = _refused_as_alone(local, root, env)
    assert _calls(log) == 1 + 3  # the shared one, then each read alone
    assert found == [(str(creds), how)]


def test_names_the_host_chose_change_no_answer(
    local: LocalTransport, root: Path, counted: tuple[dict[str, str], Path]
) -> None:
    env, log = counted
    creds = root / "credentials"
    creds.chmod(0o777)
    # in directories the shared stat lists: names that look like its lines, with a newline,
    # spaces, glob characters (a name never holds a "/", so none can end in a checked path)
    for name in ("f\n41ed 0 755 0 x", "41ed 0 755 0 credentials", "a b", "*", "[c]"):
        (creds / name).write_text("hostile\n")
        (root / name).mkdir()
    found = _refused_as_alone(local, root, env)
    # the survey checks every directory of the root, the one whose name holds a newline too:
    # that name was never given to the shared stat, so the survey runs its own
    assert _calls(log) == 2 + 3
    assert (str(creds), "mode") in found


def test_a_command_that_may_change_the_host_ends_the_shared_answer(
    local: LocalTransport, root: Path, counted: tuple[dict[str, str], Path]
) -> None:
    env, log = counted
    creds = root / "credentials"
    survey = _reads(root)[0]
    change = Command(("chmod", "0777", str(creds)))
    shared = _batched(local, [survey, change, survey], env)
    assert _calls(log) == 2  # the shared one, then the second survey's own
    assert safepath.parse_survey("here", shared[0]).violations == ()
    after = safepath.parse_survey("here", shared[2]).violations
    assert [(v.path, v.problem.value) for v in after] == [(str(creds), "mode")]


def test_the_lookup_answers_only_reads_and_only_from_lines_it_can_trust(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    real = tmp_path / "real"
    real.mkdir(mode=0o755)
    script = statshare.LOOKUP_FUNCTION + 'cp_st "$@"; printf "%s" "$cp_o"'

    def lookup(shared: str, listed: str, answer: str, *paths: str) -> str:
        env = {"PATH": "/usr/bin:/bin", "cp_shared": shared, "cp_pl": listed, "cp_ps": answer}
        out = subprocess.run(
            ["sh", "-c", script, "sh", *paths], env=env, capture_output=True, check=True
        )
        return out.stdout.decode()

    own = lookup("", "", "", str(real))
    assert own.startswith("41ed 0 755 0 ")  # stat's own answer
    forged = f"\n41ff 1000 777 0 {real}\n"
    listed = f"\n{real}\n"
    assert lookup("1", listed, forged, str(real)) == f"41ff 1000 777 0 {real}\n"
    assert lookup("", listed, forged, str(real)) == own  # a write's check: never shared
    assert lookup("1", "\n/else\n", forged, str(real)) == own  # not given to the shared stat
    assert lookup("1", listed, f"\n41ff 1000 777 0 /x {real}\n", str(real)) == own
    assert lookup("1", listed, f"\n41ff 1000 777 0 0 {real}\n", str(real)) == own
    assert lookup("1", listed, "\n\n", str(real)) == ""  # given, and absent: no line
