"""``drift --shard I/N``: which hosts one of N CI runners reads.

A host's shard is a hash of its name alone (SHA-256, first eight bytes, modulo N), never its
position in the inventory: adding or removing hosts moves no other host to another shard, so a
runner's share of the fleet (and its report's history) stays put as the fleet grows, and N
runners that each read their shard read every host exactly once. Shards are numbered 1..N, as
in CI matrices (``--shard ${{ matrix.shard }}/4``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from checkpointctl.errors import CheckpointctlError
from checkpointctl.model import Host

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
MAX_SHARDS = 10_000
"""More shards than this is a typo, not a fleet split across CI runners."""


class ShardError(CheckpointctlError):
    """``--shard`` is not ``I/N`` with 1 <= I <= N."""


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, name: str) -> bool:
        """Whether the host named ``name`` belongs to this shard."""
        return shard_of(name, self.count) == self.index

    def select(self, hosts: Sequence[Host]) -> tuple[Host, ...]:
        """This shard's hosts, in the order given (the inventory's)."""
        return tuple(h for h in hosts if self.holds(h.name))


def shard_of(name: str, count: int) -> int:
    """The shard (1..count) of the host named ``name``: stable across runs, machines, Python
    versions and fleet sizes (unlike ``hash()``, which is salted per process)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def parse_shard(text: str) -> Shard:
    """``"2/4"`` → ``Shard(2, 4)``.

    Raises:
        ShardError: ``text`` is not ``I/N`` with 1 <= I <= N <= :data:`MAX_SHARDS`.
    """
    match = _SHARD.fullmatch(text)
    if match is None:
        raise ShardError(f"--shard takes I/N, such as 1/4 (got {text!r})")
    index, count = int(match.group(1)), int(match.group(2))
    if not 1 <= count <= MAX_SHARDS:
        raise ShardError(f"--shard {text}: N must be 1..{MAX_SHARDS}")
    if not 1 <= index <= count:
        raise ShardError(f"--shard {text}: I must be 1..{count} (shards are numbered from 1)")
    return Shard(index, count)
