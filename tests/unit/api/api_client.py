"""A small program embedding checkpointctl through ``checkpointctl.api`` alone.

``tests/unit/api/test_api_typing.py`` type-checks it with ``mypy --strict``;
``tests/integration/test_api_lab.py`` runs it against the lab:
``python api_client.py INVENTORY POLICIES VAULT_PASSWORD_FILE OUT_DIR``.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from checkpointctl import api


class CountingObserver:
    """Counts hosts as the run finishes them (called from worker threads)."""

    def __init__(self) -> None:
        self.done: list[str] = []
        self._lock = threading.Lock()

    def host_started(self, host: str) -> None:
        return None

    def host_done(self, result: api.HostResult) -> None:
        with self._lock:
            self.done.append(result.host)

    def batch_started(self, index: int, hosts: Sequence[str]) -> None:
        return None


def main(argv: Sequence[str]) -> int:
    inventory_path, policies, password_file, out = argv
    inventory = api.load_inventory(inventory_path)
    decrypt = api.vault_decryptor(password_file)
    loaded = api.load_policies([policies], inventory, limit="lab_full", decrypt=decrypt)
    desired = api.render_states(loaded)
    observer = CountingObserver()
    report: api.RunReport = api.drift(inventory, loaded, limit="lab_full", observer=observer)
    out_dir = Path(out)
    (out_dir / "drift.json").write_text(api.render_report(report, "json"), encoding="utf-8")
    (out_dir / "drift.html").write_text(api.render_report(report, "html"), encoding="utf-8")
    again = api.read_report(out_dir / "drift.json")
    assert again.counts() == report.counts()
    changed = sum(r.changed for r in api.recap(report))
    drifted = [h.host for h in report.hosts if h.status is api.HostStatus.DRIFT]
    print(f"desired states: {len(desired)}; observed: {sorted(observer.done)}")
    print(f"drifted: {drifted}; changes: {changed}; exit code {report.exit_code}")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
