"""Helpers of the fault suite (imported as ``faultlib``): the controller, docker, host files.

Every assertion about a host reads it independently of checkpointctl: plain ``docker``,
``nft``, ``stat`` run inside the host's namespaces (``lab.exec_argv``), as an operator would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkpointctl import lab as lab_api
from checkpointctl.lab import dockerd as lab_dockerd
from checkpointctl.lab import hosts as lab_hosts
from checkpointctl.lab.layout import lab_paths

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
CONTROLLER = HERE / "controller.py"
DOCKER = ("docker", "-H", "unix:///run/docker.sock")


def host_run(
    host: str,
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float = 120.0,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*lab_api.exec_argv(host), *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        input=input,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"on {host}: {list(argv)} exited {proc.returncode}: {proc.stderr}")
    return proc


def docker(host: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return host_run(host, [*DOCKER, *args], check=check)


def inspect(host: str, name: str) -> dict[str, Any] | None:
    out = docker(host, "inspect", "--type", "container", name, check=False)
    return json.loads(out.stdout)[0] if out.returncode == 0 else None


def repo_digests(host: str, image_id: str) -> list[str]:
    out = docker(host, "image", "inspect", "--format", "{{json .RepoDigests}}", image_id)
    found: list[str] = json.loads(out.stdout)
    return found


def containers_named(host: str, prefix: str) -> list[dict[str, Any]]:
    """Every container (running or not) whose name starts with ``prefix``, inspected."""
    out = docker(host, "ps", "-a", "--format", "{{.Names}}").stdout.split()
    found = []
    for n in sorted(out):
        if n == prefix or n.startswith(prefix + "--"):
            info = inspect(host, n)
            if info is not None:
                found.append(info)
    return found


def remove_containers(host: str, name: str) -> None:
    for n in (name, f"{name}--next", f"{name}--old"):
        docker(host, "rm", "-f", n, check=False)


@dataclass
class ControllerRun:
    code: int
    report: dict[str, Any]
    stdout: str
    stderr: str


def controller_argv(host: str, name: str, image: str, *extra: str) -> list[str]:
    return [sys.executable, str(CONTROLLER), host, name, image, *extra]


def run_controller(
    host: str, name: str, image: str, *extra: str, env: dict[str, str] | None = None
) -> ControllerRun:
    proc = subprocess.run(
        controller_argv(host, name, image, *extra),
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, **(env or {})},
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    report = json.loads(lines[-1]) if lines else {}
    return ControllerRun(proc.returncode, report, proc.stdout, proc.stderr)


def wait_for_file(path: Path, proc: subprocess.Popen[str], timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"controller exited {proc.returncode} first:\n{out}\n{err}")
        time.sleep(0.1)
    raise AssertionError(f"{path} never appeared")


def kill9(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def restart_dockerd(lab: lab_api.LabInfo, name: str) -> None:
    """SIGTERM the host's dockerd and start the same command line again in its namespaces."""
    paths = lab_paths()
    host = lab.host(name)
    pids = lab_hosts.pids(paths, host)
    assert pids.dockerd is not None
    assert pids.sshd is not None
    os.kill(pids.dockerd, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while os.path.exists(f"/proc/{pids.dockerd}"):
        assert time.monotonic() < deadline, "dockerd did not stop"
        with contextlib.suppress(ChildProcessError):  # a dockerd an earlier call started
            os.waitpid(pids.dockerd, os.WNOHANG)
        time.sleep(0.2)
    hostdir = paths.host_dir(host)
    log = open(hostdir / "dockerd.log", "ab")  # noqa: SIM115 (handed to the daemon)
    proc = subprocess.Popen(
        ["nsenter", "-t", str(pids.sshd), "-n", "-m", "-u", "-r", "-w", "--",
         *lab_dockerd.dockerd_argv(paths, host)],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    log.close()
    (hostdir / "dockerd.pid").write_text(f"{proc.pid}\n")
    # nsenter execs dockerd (same PID); wait until it is dockerd and answers
    while not (lab_hosts.pids(paths, host).dockerd == proc.pid and lab_dockerd.answers(pids.sshd)):
        assert time.monotonic() < deadline + 60, "dockerd did not come back"
        time.sleep(0.2)
