"""A seeded fault campaign: a random policy change times a random fault, round after round.

Each round ``r`` of seed ``S`` draws, from ``random.Random(f"{S}:{r}")`` only (so a round
replays exactly from its seed and number): a change of the desired state (a secret rotated, a
credential added or removed, a collection toggle flipped, a firewall port added or removed), a
fault, and push or pull mode. The controller runs in a process of its own
(``campaign_controller.py``) while the fault happens:

- ``kill9``: the controller is killed with SIGKILL at a random moment of its apply;
- ``ssh_cut``: the host's sshd session processes serving it are killed mid-batch (push);
- ``dockerd_restart``: the host's dockerd is restarted while it applies;
- ``disk_full``: the state directory is a full 64 KiB tmpfs (in the host's mount namespace);
- ``hostile_edit``: a managed path is attacked first (a link to a decoy, a 0777
  ``/etc/checkpoint``, a foreign-owned container directory, rollback files without a timer);
- ``clock_step``: the controller's clock is stepped by days (``faketime``).

Then the invariants, read independently of the controller that just ran: every address of the
plan is in its old or its new state, never a third (``path/…`` security drift excepted: the
next apply repairs it); the controller can still log in; no secret of any round in the
controller's output or in a file on the host outside its credential file; the lock is free
(a follow-up apply takes it at once, or reports it stale); that follow-up apply converges and
the next drift is empty; the decoy and ``/etc/shadow`` are unchanged.

A failing round raises :class:`RoundFailed`, whose message starts with the seed and the round.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from campaign_state import CONTAINER, ROLLBACK_AFTER, Recipe, resources
from faultlib import restart_dockerd

from checkpointctl import lab as lab_api
from checkpointctl.engine.run import ApplyOptions, converge_host
from checkpointctl.inventory import load_inventory
from checkpointctl.lab import hosts as lab_hosts
from checkpointctl.lab.layout import lab_paths
from checkpointctl.model import Host, HostResult, HostStatus
from checkpointctl.resources.paths import ROLLBACK_FILE, ROLLBACK_PID_FILE
from checkpointctl.spec import CHECKPOINT_ROOT, STATE_DIR
from checkpointctl.transport.connect import connect

HERE = Path(__file__).resolve().parent
FAULTS = ("kill9", "ssh_cut", "dockerd_restart", "disk_full", "hostile_edit", "clock_step")
CHANGES = ("rotate", "add", "remove", "toggle", "port")
DECOY = "/tmp/checkpointctl-campaign-decoy"
CREDENTIALS = f"{CHECKPOINT_ROOT}/credentials"
CONTAINER_DIR = f"{CHECKPOINT_ROOT}/{CONTAINER}"
SETTINGS = ("screenshots", "har", "console_logs")
PORTS = (18101, 18102, 18103, 18104)
EVIDENCE = (
    'for f in /etc/shadow "$1" "$1"/*; do [ -e "$f" ] || continue; '
    'stat -c "%n %F %a %u %g %s" -- "$f"; [ -f "$f" ] && sha256sum -- "$f"; done; true'
)
SECRET_SCAN = (
    'n=$1; shift; for s do grep -rlF -- "$s" /var/lib/checkpointctl /etc/checkpoint "$n" '
    "2>/dev/null; done; true"
)


class RoundFailed(AssertionError):
    """An invariant broke; the message replays it: ``seed S round R: …``."""


@dataclass
class Outcome:
    code: int | None
    stdout: str
    stderr: str


@dataclass
class Campaign:
    """Rounds on one lab host; ``log`` gets one line per round."""

    seed: int
    host: str
    log: Callable[[str], None] = print
    recipe: Recipe = field(init=False)
    secrets: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        first = self._secret(random.Random(self.seed))
        self.recipe = Recipe(self.host, (("cred-0", first),), (("screenshots", False),), ())
        info = lab_api.info()
        self._lab = info
        self._host: Host = load_inventory(str(info.inventory)).host(self.host)

    # -- host access -------------------------------------------------------------------------

    def on_host(self, argv: Sequence[str], *, check: bool = True, input: str | None = None) -> str:
        proc = subprocess.run(
            [*lab_api.exec_argv(self.host), *argv],
            capture_output=True, text=True, timeout=120, check=False, input=input,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise RoundFailed(
                f"on {self.host}: {list(argv)} exited {proc.returncode}: {proc.stderr}"
            )
        return proc.stdout

    def _sshd_pid(self) -> int:
        pid = lab_hosts.pids(lab_paths(), self._lab.host(self.host)).sshd
        assert pid is not None
        return pid

    # -- the state the rounds converge -------------------------------------------------------

    def _secret(self, rng: random.Random) -> str:
        secret = f"campaign-{self.seed}-{rng.getrandbits(64):016x}"
        self.secrets.add(secret)
        return secret

    def mutate(self, rng: random.Random) -> tuple[Recipe, str]:
        r = self.recipe
        kind = rng.choice(CHANGES)
        creds = list(r.credentials)
        if kind == "rotate" and creds:
            i = rng.randrange(len(creds))
            creds[i] = (creds[i][0], self._secret(rng))
        elif kind == "add" or (kind in ("rotate", "remove") and not creds):
            used = {n for n, _ in creds}
            name = next(f"cred-{i}" for i in range(100) if f"cred-{i}" not in used)
            creds.append((name, self._secret(rng)))
            kind = "add"
        elif kind == "remove":
            creds.pop(rng.randrange(len(creds)))
        settings = dict(r.settings)
        if kind == "toggle":
            key = rng.choice(SETTINGS)
            settings[key] = not settings.get(key, False)
        ports = set(r.ports)
        if kind == "port":
            ports ^= {rng.choice(PORTS)}
        new = Recipe(
            r.host, tuple(sorted(creds)), tuple(sorted(settings.items())), tuple(sorted(ports))
        )
        return new, kind

    def converge(self, recipe: Recipe, mode: str, lock_wait: float = 0.0) -> HostResult:
        """In this process, over SSH (the independent reader and the follow-up apply)."""
        return converge_host(
            self._host,
            recipe.state(),
            connect,
            mode,  # type: ignore[arg-type]
            resources(pull_mode=False),
            options=ApplyOptions(lock_wait=lock_wait, health_gate=False),
        )

    # -- the controller process and the faults ------------------------------------------------

    def _controller(
        self, recipe: Recipe, mode: str, prefix: Sequence[str] = ()
    ) -> subprocess.Popen[str]:
        argv = [sys.executable, str(HERE / "campaign_controller.py"), mode, recipe.to_json()]
        if mode == "pull":
            argv = [*lab_api.exec_argv(self.host), *prefix, *argv]
        else:
            argv = [*prefix, *argv]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @staticmethod
    def _wait(proc: subprocess.Popen[str], timeout: float = 120.0) -> Outcome:
        out, err = proc.communicate(timeout=timeout)
        return Outcome(proc.returncode, out, err)

    def _fault(self, fault: str, recipe: Recipe, mode: str, rng: random.Random) -> Outcome:
        if fault == "kill9":
            proc = self._controller(recipe, mode)
            time.sleep(rng.uniform(0.0, 0.8))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            return self._wait(proc)
        if fault == "ssh_cut":
            proc = self._controller(recipe, "push")
            time.sleep(rng.uniform(0.0, 0.5))
            sshd = self._sshd_pid()
            children = subprocess.run(
                ["ps", "-o", "pid=", "--ppid", str(sshd)],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.split()
            for pid in children:  # the sessions the lab's sshd forked (ours: one controller)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            return self._wait(proc)
        if fault == "dockerd_restart":
            proc = self._controller(recipe, mode)
            time.sleep(rng.uniform(0.0, 0.5))
            restart_dockerd(self._lab, self.host)
            return self._wait(proc)
        if fault == "disk_full":
            self.on_host(["mount", "-t", "tmpfs", "-o", "size=64k", "cp-campaign-full", STATE_DIR])
            try:
                self.on_host(
                    [
                        "sh",
                        "-c",
                        'dd if=/dev/zero of="$1/filler" bs=4k 2>/dev/null; true',
                        "sh",
                        STATE_DIR,
                    ]
                )
                return self._wait(self._controller(recipe, mode))
            finally:
                self.on_host(["umount", STATE_DIR], check=False)
        if fault == "hostile_edit":
            self._hostile(rng)
            return self._wait(self._controller(recipe, mode))
        if fault == "clock_step":
            step = rng.choice(("+400d", "-400d", "+3h", "-2d"))
            return self._wait(self._controller(recipe, mode, ("faketime", "-f", step)))
        raise AssertionError(fault)

    def _hostile(self, rng: random.Random) -> None:
        how = rng.choice(("link", "mode", "owner", "leftover"))
        if how == "link":
            self.on_host(["rm", "-rf", "--", CREDENTIALS])
            self.on_host(["ln", "-s", DECOY, CREDENTIALS])
        elif how == "mode":
            self.on_host(["chmod", "0777", CHECKPOINT_ROOT])
        elif how == "owner":
            self.on_host(["mkdir", "-p", CONTAINER_DIR])
            self.on_host(["chown", "1000:1000", CONTAINER_DIR])
        else:
            script = 'umask 077; echo "# saved" >"$1"; echo 1 >"$2"'
            self.on_host(["sh", "-c", script, "sh", ROLLBACK_FILE, ROLLBACK_PID_FILE])

    def _settle(self) -> None:
        """Wait for a rollback timer a killed controller armed: it restores the old table."""
        deadline = time.monotonic() + ROLLBACK_AFTER + 15
        while time.monotonic() < deadline:
            pid = self.on_host(["cat", ROLLBACK_PID_FILE], check=False).strip()
            if not pid.isdigit() or not os.path.exists(f"/proc/{pid}"):
                return
            time.sleep(0.5)

    # -- a round -------------------------------------------------------------------------------

    def prepare(self) -> None:
        """The decoy, and the host converged to the first recipe."""
        script = 'rm -rf -- "$1"; mkdir -- "$1" && echo keep >"$1/marker" && chmod 0777 -- "$1"'
        self.on_host(["sh", "-c", script, "sh", DECOY])
        result = self.converge(self.recipe, "apply")
        if result.status not in (HostStatus.CONVERGED, HostStatus.IN_SYNC):
            raise RoundFailed(f"seed {self.seed} round 0: the first apply failed: {result.error}")

    def round(self, number: int) -> str:
        rng = random.Random(f"{self.seed}:{number}")
        old = self.recipe
        new, change = self.mutate(rng)
        fault = rng.choice(FAULTS)
        mode = "push" if fault == "ssh_cut" else rng.choice(("push", "pull"))
        where = f"seed {self.seed} round {number} ({change} × {fault}, {mode})"

        def fail(why: str) -> RoundFailed:
            return RoundFailed(f"{where}: {why}")

        evidence = self.on_host(["sh", "-c", EVIDENCE, "sh", DECOY])
        outcome = self._fault(fault, new, mode, rng)
        self._settle()

        # 1. every address is old or new, never a third state
        try:
            vs_old = {c.address for c in self.converge(old, "drift").changes}
            vs_new = {c.address for c in self.converge(new, "drift").changes}
        except Exception as exc:  # the reader itself must work after any fault
            raise fail(f"cannot read the host after the fault: {exc}") from exc
        between = {a for a in vs_old & vs_new if not a.startswith("path/")}
        if between:
            raise fail(f"in neither the old nor the new state: {sorted(between)}")
        # 2. the controller is not locked out
        try:
            transport = connect(self._host)
            transport.run(["true"])
            transport.close()
        except Exception as exc:
            raise fail(f"the controller is locked out: {exc}") from exc
        # 3. no secret in the controller's output or in a file outside its credential file
        text = outcome.stdout + outcome.stderr
        leaked = [s for s in self.secrets if s in text]
        if leaked:
            raise fail("a secret is in the controller's output")
        # 4/5. the lock is free (or stale), a follow-up apply converges, the next drift is empty
        # a killed controller's session may take a moment to end on the host (then its lock
        # goes with it): a short wait, never a takeover of a live holder
        follow = self.converge(new, "apply", lock_wait=10.0)
        if follow.status not in (HostStatus.CONVERGED, HostStatus.IN_SYNC):
            raise fail(
                f"the follow-up apply did not converge: {follow.status.value}: {follow.error}"
            )
        drift = self.converge(new, "drift")
        if drift.status is not HostStatus.IN_SYNC:
            raise fail(f"drift after the follow-up apply: {[c.address for c in drift.changes]}")
        files = self.on_host(["sh", "-c", SECRET_SCAN, "sh", DECOY, *sorted(self.secrets)]).split()
        allowed = {f"{CREDENTIALS}/{name}" for name, _ in new.credentials}
        outside = sorted(set(files) - allowed)
        if outside:
            raise fail(f"a secret is in files outside its credential file: {outside}")
        for name, secret in new.credentials:
            if secret not in self.on_host(["cat", f"{CREDENTIALS}/{name}"]):
                raise fail(f"credential {name} does not hold its secret")
        # 6. nothing outside the managed paths changed
        if self.on_host(["sh", "-c", EVIDENCE, "sh", DECOY]) != evidence:
            raise fail("the decoy or /etc/shadow changed")
        self.recipe = new
        code = "killed" if outcome.code == -signal.SIGKILL else f"exit {outcome.code}"
        line = f"{where}: controller {code}; follow-up {follow.status.value}"
        self.log(line)
        return line

    def cleanup(self) -> None:
        """Take the campaign's files and table off the host (other tests share it)."""
        self.on_host(["umount", STATE_DIR], check=False)
        self.on_host(["rm", "-rf", "--", DECOY, CREDENTIALS, CONTAINER_DIR])
        self.on_host(["chmod", "0755", CHECKPOINT_ROOT])
        self.on_host(["rm", "-f", "--", ROLLBACK_FILE, ROLLBACK_PID_FILE])
        self.on_host(["nft", "delete", "table", "inet", "checkpointctl"], check=False)


def run(seed: int, rounds: int, host: str, log: Callable[[str], None] = print) -> list[str]:
    """Rounds 1 … ``rounds`` of seed ``seed`` on ``host``; the log lines. A round's recipe
    grows from the rounds before it, so ``run(S, R)`` replays round R of seed S exactly.

    Raises:
        RoundFailed: naming the seed and the round.
    """
    campaign = Campaign(seed, host, log)
    lines = []
    try:
        campaign.prepare()
        for number in range(1, rounds + 1):
            try:
                lines.append(campaign.round(number))
            except RoundFailed:
                raise
            except Exception as exc:  # a fault that could not even be made: replay it too
                raise RoundFailed(
                    f"seed {seed} round {number}: {type(exc).__name__}: {exc}"
                ) from exc
    finally:
        campaign.cleanup()
    return lines


def main(argv: Sequence[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="campaign", description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--host", default=None, help="a full lab host (default: the last one)")
    args = p.parse_args(argv)
    host = args.host or lab_api.info().full_hosts[-1].name
    started = time.monotonic()
    try:
        run(args.seed, args.rounds, host)
    except RoundFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    took = time.monotonic() - started
    print(
        json.dumps(
            {"seed": args.seed, "rounds": args.rounds, "host": host, "seconds": round(took, 1)}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
