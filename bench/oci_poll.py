"""Bench row: N pull agents polling an unchanged bundle tag in the lab registry.

What one agent does per interval is :func:`checkpointctl.trust.agent.run_once` with the
``oci://`` fetcher, the function one tick of ``agent --interval`` and one ``agent --once`` run
call: lock, trust store, one ``HEAD`` of the tag, the bundle from the agent's cache (or the
manifest and the bundle when the tag moved), signature/serial/expiry checks, this host's state,
the status file. Here it runs in this process, one agent after another, each with its own host
name, host key, trust store and state directory; convergence is a stand-in that answers
"in sync" (the host's side costs the registry nothing). So that the registry's own access log
can attribute every request to an agent, each agent's requests carry a User-Agent naming it
(the bench's wrapper; the agent sends checkpointctl's). Interval 1 is the fleet's first fetch
(tag, manifest, bundle); intervals 2.. are the steady state the issue's target is about: at
most one request per agent per interval.
"""

from __future__ import annotations

import re
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from checkpointctl.gitops.ocibundle import CachedOciSource, OciClient, parse_oci
from checkpointctl.gitops.reference import ImageReference
from checkpointctl.gitops.registry import MAX_MANIFEST_BYTES, RegistryClient, RegistryResponse
from checkpointctl.lab.layout import REGISTRY, lab_paths
from checkpointctl.model import HostResult, HostStatus
from checkpointctl.spec import DesiredState
from checkpointctl.trust.agent import AgentOptions, run_once
from checkpointctl.trust.bundle import build_bundle
from checkpointctl.trust.keys import generate_signing_key
from checkpointctl.trust.store import init_trust_dir
from checkpointctl.trust.verify import VerifiedBundle

AGENT_UA = "checkpointctl-bench-agent/"
_LINE = re.compile(r'"(\w+) /v2/(\S+) HTTP/[\d.]+" (\d+) .*"' + re.escape(AGENT_UA) + r'([\w-]+)"$')


class NamedAgentClient(RegistryClient):
    """The registry client with a User-Agent naming the agent (attribution in the log)."""

    def __init__(self, agent: str) -> None:
        super().__init__([REGISTRY])
        self.agent = agent

    def request(
        self,
        method: str,
        url: str,
        ref: ImageReference,
        *,
        headers: Mapping[str, str],
        data: bytes | None = None,
        limit: int = MAX_MANIFEST_BYTES,
    ) -> RegistryResponse:
        named = {**headers, "User-Agent": AGENT_UA + self.agent}
        return super().request(method, url, ref, headers=named, data=data, limit=limit)


def _in_sync(desired: DesiredState, bundle: VerifiedBundle) -> HostResult:
    return HostResult(host=desired.host, status=HostStatus.IN_SYNC)


@dataclass
class PollResult:
    agents: int
    intervals: int
    walls: list[float] = field(default_factory=list)
    """Seconds for each interval (every agent's run once)."""
    per_interval: list[Counter[str]] = field(default_factory=list)
    """Requests per agent in each interval, from the registry's access log."""
    failed: int = 0
    """Agent runs whose result was not in-sync."""

    def steady(self) -> list[Counter[str]]:
        return self.per_interval[1:]

    @property
    def ok(self) -> bool:
        """Every agent asked at most once in every steady interval, and every run succeeded;
        the first interval cost each agent its one fetch (3 requests)."""
        first_ok = bool(self.per_interval) and all(
            self.per_interval[0][f"bench-agent-{i}"] == 3 for i in range(1, self.agents + 1)
        )
        steady_ok = all(len(c) == self.agents and max(c.values()) <= 1 for c in self.steady())
        return first_ok and steady_ok and self.failed == 0

    def summary(self) -> dict[str, object]:
        steady = self.steady()
        totals = [sum(c.values()) for c in steady]
        return {
            "agents": self.agents,
            "intervals": self.intervals,
            "first_interval_requests": sum(self.per_interval[0].values())
            if self.per_interval
            else None,
            "steady_requests_per_interval": totals,
            "max_requests_per_agent_per_steady_interval": max(
                (max(c.values()) for c in steady if c), default=None
            ),
            "mean_requests_per_agent_per_steady_interval": round(
                statistics.mean(t / self.agents for t in totals), 3
            )
            if totals
            else None,
            "failed_runs": self.failed,
            "what_runs": "run_once in-process per agent (agent --once / one --interval tick)",
        }


def _requests_between(log: Path, start: int, end: int, repo: str) -> Counter[str]:
    """Requests for ``repo`` per bench agent in the registry's log between two offsets."""
    with log.open("rb") as f:
        f.seek(start)
        text = f.read(end - start).decode("utf-8", "replace")
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        m = _LINE.search(line)
        if m and m.group(2).startswith(repo + "/"):
            counts[m.group(4)] += 1
    return counts


def _settled_size(log: Path) -> int:
    """The log's size once the registry has written what it answered (it logs after)."""
    size = -1
    while True:
        time.sleep(0.5)
        now = log.stat().st_size
        if now == size:
            return now
        size = now


def measure(agents: int, intervals: int = 3) -> PollResult:
    """``agents`` agents, ``intervals`` intervals each, against one tag in the lab registry."""
    log = lab_paths().registry_dir / "registry.log"
    key = generate_signing_key()
    names = [f"bench-agent-{i}" for i in range(1, agents + 1)]
    result = PollResult(agents, intervals)
    with tempfile.TemporaryDirectory(prefix="cpctl-oci-poll-") as tmp:
        root = Path(tmp)
        pub = root / "fleet.pub"
        pub.write_text(key.public.to_text())
        host_keys = {
            n: init_trust_dir(str(root / n / "trust"), trust_keys=[str(pub)]) for n in names
        }
        now = datetime.now(UTC).replace(microsecond=0)
        bundle = build_bundle(
            {n: DesiredState(host=n) for n in names},
            {n: k.public_raw for n, k in host_keys.items()},
            [key],
            serial=1,
            created=now - timedelta(hours=1),
            expires=now + timedelta(days=1),
        )
        repo = f"cpctl-bench/poll-{int(time.time())}"
        source = f"oci://{REGISTRY}/{repo}:fleet"
        OciClient(RegistryClient([REGISTRY])).publish(bundle, parse_oci(source))
        agents_ = [
            (
                AgentOptions(
                    source=source,
                    host=n,
                    trust_dir=str(root / n / "trust"),
                    state_dir=str(root / n / "state"),
                ),
                CachedOciSource(source, OciClient(NamedAgentClient(n)), str(root / n / "state")),
            )
            for n in names
        ]
        mark = _settled_size(log)
        for _ in range(intervals):
            started = time.monotonic()
            for options, fetcher in agents_:
                outcome = run_once(options, _in_sync, fetcher=fetcher)
                result.failed += outcome.result != "in-sync"
            result.walls.append(time.monotonic() - started)
            end = _settled_size(log)
            result.per_interval.append(_requests_between(log, mark, end, repo))
            mark = end
    return result
