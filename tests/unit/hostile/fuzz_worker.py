"""Fuzz the loaders inside a process the parent limits (``RLIMIT_AS``): no traceback, no hang.

Run by test_fuzz_limits.py, never collected by pytest (no ``test_`` prefix):
``python fuzz_worker.py hypothesis N`` or ``python fuzz_worker.py atheris RUNS`` (libFuzzer with
``-timeout=2 -rss_limit_mb=200``; it reports "Done N runs" on stderr). Each input is
loaded as a policy (``load_policies`` + ``load_desired``) and as an inventory; what may come out
is a clean error (Diagnostics, InventoryError). The worker prints one JSON line: examples run,
the slowest input's seconds, peak RSS. A crash, an input over ``LIMIT_SECONDS`` or a
MemoryError under the parent's address-space limit exits non-zero with the input's repr.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
import tempfile
import time
import traceback
from pathlib import Path

LIMIT_SECONDS = 2.0
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
WORKDIR = Path(tempfile.mkdtemp(prefix="cp-fuzz-rlimit-"))
STATS = {"examples": 0, "slowest": 0.0}


def _fail(kind: str, text: str, detail: str) -> None:
    print(json.dumps({"failure": kind, "input": text[:2000], "detail": detail[-4000:]}))
    sys.stdout.flush()
    os._exit(3)


def check(text: str, loaders: tuple[object, ...]) -> None:
    """Load ``text`` as a policy and as an inventory; only clean errors may come out."""
    load_policies, load_desired, load_inventory, inventory, errors = loaders
    policy = WORKDIR / "fuzz.yml"
    inv_path = WORKDIR / "fuzz-inv.yml"
    started = time.monotonic()
    try:
        policy.write_text(text, encoding="utf-8", errors="surrogatepass")
        inv_path.write_text(text, encoding="utf-8", errors="surrogatepass")
        load_policies([str(policy)])  # type: ignore[operator]
        result = load_desired([str(policy)], inventory)  # type: ignore[operator]
        for d in result.diagnostics:
            str(d)
        with contextlib.suppress(*errors):  # type: ignore[misc]
            load_inventory(str(inv_path))  # type: ignore[operator]
    except MemoryError:
        _fail("memory", text, "MemoryError under the parent's RLIMIT_AS")
    except Exception:
        _fail("traceback", text, traceback.format_exc())
    took = time.monotonic() - started
    STATS["examples"] += 1
    STATS["slowest"] = max(STATS["slowest"], took)
    if took > LIMIT_SECONDS:
        _fail("slow", text, f"{took:.2f}s")


def _loaders() -> tuple[object, ...]:
    from checkpointctl.errors import InventoryError, PolicyError
    from checkpointctl.inventory import load_inventory
    from checkpointctl.policy import load_desired, load_policies

    inv_file = WORKDIR / "prod.yml"
    inv_file.write_text((REPO / "inventories" / "prod.yml").read_text())
    return (
        load_policies,
        load_desired,
        load_inventory,
        load_inventory(str(inv_file)),
        (InventoryError, PolicyError),
    )


def run_hypothesis(n: int) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    sys.path.insert(0, str(HERE))
    from test_parse_fuzz import (
        INVENTORY_SEED,
        SEEDS,
        mutated,
        structured_inventory,
        structured_policy,
    )

    loaders = _loaders()
    texts = (
        st.sampled_from(SEEDS).flatmap(mutated)
        | mutated(INVENTORY_SEED)
        | structured_policy()
        | structured_inventory()
        | st.text(max_size=400)
    )

    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(text=texts)
    def fuzz(text: str) -> None:
        check(text, loaders)

    try:
        fuzz()
    except MemoryError:
        _fail("memory", "(while generating inputs)", traceback.format_exc())


def run_atheris(runs: int) -> None:
    import atheris  # type: ignore[import-untyped]

    with atheris.instrument_imports():
        loaders = _loaders()
    seeds = [(REPO / "policies" / n).read_bytes() for n in ("baseline.yml", "region-us.yml")]
    seeds.append((REPO / "inventories" / "prod.yml").read_bytes())

    def one(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        choice = fdp.ConsumeIntInRange(0, 3)
        if choice < len(seeds):
            # a real file with a fuzzed span spliced in: reaches past the YAML parser
            seed = seeds[choice].decode()
            at = fdp.ConsumeIntInRange(0, len(seed))
            cut = fdp.ConsumeIntInRange(0, 40)
            text = seed[:at] + fdp.ConsumeUnicodeNoSurrogates(60) + seed[at + cut :]
        else:
            text = fdp.ConsumeUnicodeNoSurrogates(2000)
        check(text, loaders)

    corpus = WORKDIR / "corpus"
    corpus.mkdir()
    for i, s in enumerate(seeds):
        (corpus / f"seed{i}").write_bytes(bytes([i]) + s[:200])
    argv = [
        sys.argv[0],
        f"-runs={runs}",
        "-timeout=2",
        "-rss_limit_mb=200",
        "-seed=1",
        "-max_len=4096",
        "-print_final_stats=0",
        str(corpus),
    ]
    atheris.Setup(argv, one)
    atheris.Fuzz()  # libFuzzer ends the process: "Done N runs" on stderr, exit 0


def _report() -> None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"examples": STATS["examples"], "slowest": STATS["slowest"], "peak_kb": peak}))
    sys.stdout.flush()


if __name__ == "__main__":
    mode, count = sys.argv[1], int(sys.argv[2])
    if mode == "hypothesis":
        run_hypothesis(count)
        _report()
    elif mode == "atheris":
        run_atheris(count)
    else:
        raise SystemExit(f"unknown mode {mode}")
