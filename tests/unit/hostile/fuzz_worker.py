"""Fuzz the loaders in a child process and measure every loader call: no traceback, no hang.

Run by test_fuzz_limits.py, never collected by pytest (no ``test_`` prefix)::

    python fuzz_worker.py hypothesis N WORKDIR   # N hypothesis examples
    python fuzz_worker.py atheris RUNS WORKDIR   # libFuzzer; "Done RUNS runs" on stderr
    python fuzz_worker.py probe KIND WORKDIR     # the measurement itself, on a known load

Each input is loaded as a policy (``load_policies`` + ``load_desired``) and as an inventory;
what may come out is a clean error (Diagnostics, InventoryError). The limits apply to the
*loader call* for one input, not to the fuzzer around it, so the fuzzer's own memory (hypothesis'
generation and shrinking, libFuzzer's corpus) can never be blamed on the loaders nor fail the run
(issue 10 asks about the loaders). ``measure`` times the call and reads the kernel's peak RSS
around it:

- **time** is the call alone, ≤ ``LIMIT_SECONDS``;
- **memory**: the peak-RSS mark is reset (``/proc/self/clear_refs``) just before the call, so
  ``VmHWM`` after it is the process's peak *during* the call. What the call allocates is
  resident (Python writes every object it makes; native buffers such as libyaml's included), so
  a peak ≤ ``LIMIT_BYTES`` (200 MB) proves the call stayed under 200 MB: the usual case, at no
  cost. Only above it (the fuzzer itself holding memory, or a real offender) is the call run
  again under tracemalloc, whose peak is exactly the Python heap the call added, while
  ``VmHWM`` minus ``VmRSS`` before the call is what it added in resident pages, native ones
  included (tracemalloc sees no native memory). Both must then be ≤ 200 MB. The traced run is
  never timed: tracemalloc slows Python 3-5x.

Two guards catch what a measurement cannot: ``RLIMIT_AS``, set by the parent well above what
Python plus the fuzzer need (so the fuzzer never trips it), turns a true allocation bomb into a
MemoryError reported here instead of letting it eat the machine; and a faulthandler watchdog ends
a call that runs ``HANG_SECONDS`` with every thread's stack on stderr, while the input stays in
``WORKDIR`` for the parent to show. A MemoryError that a loader turns into a diagnostic
(templating reports any exception) is still a memory failure: it only happened because of the
backstop.

The worker prints one JSON line: the totals, or ``{"failure": ...}`` with the input and exits 3.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import json
import os
import sys
import time
import traceback
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

LIMIT_SECONDS = 2.0
MB = 1024 * 1024
LIMIT_BYTES = 200 * MB
HANG_SECONDS = float(os.environ.get("CHECKPOINTCTL_FUZZ_HANG_SECONDS", "30"))
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
STATS: dict[str, Any] = {
    "examples": 0,
    "slowest": 0.0,
    "max_rss_growth_mb": 0.0,
    "process_peak_rss_mb": 0.0,  # the whole worker, fuzzer included (bounded by the backstop)
    "traced_calls": 0,  # calls whose process peak was over the limit, measured exactly
    "max_traced_mb": 0.0,
}


def _note_process_peak(hwm_kb: int) -> None:
    """Keep the worker's own peak: resetting VmHWM per call also resets ru_maxrss."""
    STATS["process_peak_rss_mb"] = max(STATS["process_peak_rss_mb"], _mb(hwm_kb * 1024))


@dataclass(frozen=True)
class Usage:
    """What one call cost: its seconds, the process's peak RSS during it, what it added to the
    resident set at that peak, and its Python heap peak (``None``: not needed, see ``measure``).
    """

    seconds: float
    process_peak_bytes: int
    rss_growth_bytes: int
    traced_bytes: int | None

    def as_json(self) -> dict[str, float | None]:
        return {
            "seconds": round(self.seconds, 4),
            "process_peak_mb": _mb(self.process_peak_bytes),
            "rss_growth_mb": _mb(self.rss_growth_bytes),
            "traced_mb": None if self.traced_bytes is None else _mb(self.traced_bytes),
        }

    def over_memory_limit(self) -> bool:
        """Over only if the call's own share is: a high process peak alone is the fuzzer's."""
        if self.process_peak_bytes <= LIMIT_BYTES:
            return False
        return max(self.traced_bytes or 0, self.rss_growth_bytes) > LIMIT_BYTES


def _mb(n: int) -> float:
    return round(n / MB, 1)


def _fail(kind: str, text: str, detail: str, usage: Usage | None = None) -> NoReturn:
    """Report one failing input and stop: the first failure is the one worth reading."""
    report: dict[str, Any] = {"failure": kind, "input": text[:2000], "detail": detail[-4000:]}
    if usage is not None:
        report["usage"] = usage.as_json()
    print(json.dumps(report))
    sys.stdout.flush()
    os._exit(3)


def _status_kb() -> dict[str, int]:
    """VmRSS and VmHWM of this process, from the kernel (kB)."""
    found = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    return found


def _reset_peak_rss() -> None:
    """Make VmHWM start from the current RSS, so the next reading is this call's own peak.

    Without the reset (kernels before 4.0, a /proc that refuses the write) VmHWM is the
    process's lifetime peak, which only makes the measured growth larger: still a bound.
    """
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def measure(call: Callable[[], object]) -> Usage:
    """Time ``call`` and read its peak RSS; trace it too when that peak could be over the limit.

    An untraced call over the time limit is not run again: it has failed already, and its
    traced run would only take 3-5x as long.
    """
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)
    try:
        _note_process_peak(_status_kb()["VmHWM"])  # the fuzzer's peak since the last call
        _reset_peak_rss()
        rss_before = _status_kb()["VmRSS"]
        started = time.monotonic()
        call()
        seconds = time.monotonic() - started
        hwm_kb = _status_kb()["VmHWM"]
        _note_process_peak(hwm_kb)
        traced = None
        if hwm_kb * 1024 > LIMIT_BYTES and seconds <= LIMIT_SECONDS:
            tracemalloc.start()
            try:
                call()
                traced = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
    finally:
        faulthandler.cancel_dump_traceback_later()
    return Usage(seconds, hwm_kb * 1024, max(0, hwm_kb - rss_before) * 1024, traced)


def judge(text: str, call: Callable[[], object]) -> Usage:
    """Measure ``call`` for input ``text`` and fail the run on anything over a limit."""
    try:
        usage = measure(call)
    except MemoryError:
        _fail("memory", text, "MemoryError: the RLIMIT_AS backstop was reached\n"
              + traceback.format_exc())  # fmt: skip
    except Exception:
        _fail("traceback", text, traceback.format_exc())
    STATS["examples"] += 1
    STATS["slowest"] = max(STATS["slowest"], usage.seconds)
    STATS["max_rss_growth_mb"] = max(STATS["max_rss_growth_mb"], _mb(usage.rss_growth_bytes))
    if usage.traced_bytes is not None:
        STATS["traced_calls"] += 1
        STATS["max_traced_mb"] = max(STATS["max_traced_mb"], _mb(usage.traced_bytes))
    if usage.seconds > LIMIT_SECONDS:
        _fail("slow", text, f"{usage.seconds:.2f} s (limit {LIMIT_SECONDS} s)", usage)
    if usage.over_memory_limit():
        _fail("memory", text, f"over {LIMIT_BYTES // MB} MB", usage)
    return usage


def check(text: str, loaders: tuple[Any, ...], workdir: Path) -> None:
    """Load ``text`` as a policy and as an inventory; only clean errors may come out.

    The files are written before the measured call (the loaders' cost is the question, not the
    disk's) and stay in ``workdir``, so a worker ended by the watchdog leaves its input behind.
    """
    load_policies, load_desired, load_inventory, inventory, errors = loaders
    policy = workdir / "fuzz.yml"
    inv_path = workdir / "fuzz-inv.yml"
    policy.write_text(text, encoding="utf-8", errors="surrogatepass")
    inv_path.write_text(text, encoding="utf-8", errors="surrogatepass")

    def load() -> None:
        load_policies([str(policy)])
        result = load_desired([str(policy)], inventory)
        for d in result.diagnostics:
            if "MemoryError" in str(d):
                raise MemoryError(f"reported as a diagnostic: {d}")
        with contextlib.suppress(*errors):
            load_inventory(str(inv_path))

    judge(text, load)


def _loaders(workdir: Path) -> tuple[Any, ...]:
    from checkpointctl.errors import InventoryError, PolicyError
    from checkpointctl.inventory import load_inventory
    from checkpointctl.policy import load_desired, load_policies

    inv_file = workdir / "prod.yml"
    inv_file.write_text((REPO / "inventories" / "prod.yml").read_text())
    inventory = load_inventory(str(inv_file))
    # Warm-up, not measured: the loaders import jsonschema (for a schema error's words) and
    # jinja2 (for a template) on first need; that one-time import is start-up, not the cost of
    # an input, and under load it alone can take a noticeable part of the 2 s bound.
    warm = workdir / "warm.yml"
    warm.write_text(
        "apiVersion: checkpointctl/v1\nkind: CheckpointPolicy\nmetadata: {name: warm}\n"
        "selector: {groups: [checkpoints]}\n"
        "spec: {firewall: {table: '{{ inventory_hostname }}'}, unknown: 1}\n"
    )
    with contextlib.suppress(InventoryError, PolicyError):
        load_desired([str(warm)], inventory)
        load_desired([str(REPO / "policies")], inventory)
    return (
        load_policies,
        load_desired,
        load_inventory,
        inventory,
        (InventoryError, PolicyError),
    )


def run_hypothesis(n: int, workdir: Path) -> None:
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

    loaders = _loaders(workdir)
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
        check(text, loaders, workdir)

    try:
        fuzz()
    except MemoryError:
        _fail("backstop", "(while generating inputs)", traceback.format_exc())


def run_atheris(runs: int, workdir: Path) -> None:
    import atheris  # type: ignore[import-untyped]

    with atheris.instrument_imports():
        loaders = _loaders(workdir)
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
        check(text, loaders, workdir)

    corpus = workdir / "corpus"
    corpus.mkdir()
    for i, s in enumerate(seeds):
        (corpus / f"seed{i}").write_bytes(bytes([i]) + s[:200])
    argv = [
        sys.argv[0],
        f"-runs={runs}",
        # libFuzzer times the whole callback, traced second run included; the 2 s limit is
        # judge()'s, on the untraced run. libFuzzer's timeout only catches hangs.
        f"-timeout={int(HANG_SECONDS)}",
        "-rss_limit_mb=200",  # the whole process, fuzzer included: stricter than judge()
        "-seed=1",
        "-max_len=4096",
        "-print_final_stats=0",
        str(corpus),
    ]
    atheris.Setup(argv, one)
    atheris.Fuzz()  # libFuzzer ends the process: "Done N runs" on stderr, exit 0


def _native_bytes(n: int) -> object:
    """``n`` bytes from libc's malloc, written so they are resident: invisible to tracemalloc."""
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    block = libc.malloc(n)
    if not block:
        raise MemoryError(f"malloc({n}) failed")
    ctypes.memset(block, 1, n)
    libc.free(block)
    return None


def run_probe(kind: str) -> None:
    """Judge a known load, so the tests can show each bound trips (and that a fair load passes).

    ``python:M`` holds M MB of Python objects, ``native:M`` M MB from malloc, ``sleep:S`` sleeps;
    ``...@H`` first holds H MB outside the call, as a fuzzer's own memory would be.
    """
    load, _, held = kind.partition("@")
    outside = bytearray(int(float(held or 0) * MB))
    what, _, amount = load.partition(":")
    size = int(float(amount) * MB)
    calls: dict[str, Callable[[], object]] = {
        "python": lambda: bytearray(size),
        "native": lambda: _native_bytes(size),
        "sleep": lambda: time.sleep(float(amount)),
    }
    usage = judge(f"probe {kind}", calls[what])
    del outside
    print(json.dumps({"probe": kind, "usage": usage.as_json()}))


def _report() -> None:
    _note_process_peak(_status_kb()["VmHWM"])
    print(json.dumps(STATS))
    sys.stdout.flush()


if __name__ == "__main__":
    mode, count, where = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    if mode == "hypothesis":
        run_hypothesis(int(count), where)
        _report()
    elif mode == "atheris":
        run_atheris(int(count), where)
    elif mode == "probe":
        run_probe(count)
    else:
        raise SystemExit(f"unknown mode {mode}")
