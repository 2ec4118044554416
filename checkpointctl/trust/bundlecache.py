"""The last bundle an agent fetched, kept beside a version tag of its source, so the next run
asks only whether the source changed (an OCI tag's digest, an HTTP ``ETag``) instead of
downloading the bundle again.

The cache decides nothing about trust: a cached bundle is verified (signatures, serial, expiry)
like a fetched one, every run. A cache that does not match its record (another source, another
version, bytes whose hash differs) is ignored. Both files are written atomically in the agent's
state directory and never through a link.
"""

from __future__ import annotations

import hashlib
import json
import os

from checkpointctl.errors import CheckpointctlError
from checkpointctl.localfile import write_atomic
from checkpointctl.trust.bundle import MAX_BUNDLE_BYTES

BUNDLE_FILE = "source-bundle.cpb"
RECORD_FILE = "source-bundle.json"
MAX_RECORD_BYTES = 64 * 1024


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class BundleCache:
    """One cached bundle in ``state_dir``: its source, the source's version tag, its hash."""

    def __init__(self, state_dir: str) -> None:
        self.bundle_path = os.path.join(state_dir, BUNDLE_FILE)
        self.record_path = os.path.join(state_dir, RECORD_FILE)

    def version(self, source: str) -> str | None:
        """The version tag kept for ``source`` (to ask the source whether it changed), or None."""
        record = self._record()
        if record is None or record.get("source") != source:
            return None
        version = record.get("version")
        return version if isinstance(version, str) else None

    def load(self, source: str, version: str) -> bytes | None:
        """The kept bundle if it came from ``source`` at ``version`` and is intact, else None."""
        record = self._record()
        if record is None or (record.get("source"), record.get("version")) != (source, version):
            return None
        try:
            with open(self.bundle_path, "rb") as f:
                data = f.read(MAX_BUNDLE_BYTES + 1)
        except OSError:
            return None
        return data if record.get("sha256") == _sha256(data) else None

    def keep(self, source: str, version: str, data: bytes) -> None:
        """Keep ``data`` as ``source`` at ``version`` (the bundle first, then its record).

        Raises:
            CheckpointctlError: the state directory cannot be written.
        """
        record = {"source": source, "version": version, "sha256": _sha256(data)}
        try:
            write_atomic(self.bundle_path, data, mode=0o600)
            write_atomic(self.record_path, json.dumps(record, sort_keys=True).encode(), mode=0o600)
        except OSError as exc:
            raise CheckpointctlError(f"cannot keep the fetched bundle: {exc.strerror}") from None

    def _record(self) -> dict[str, object] | None:
        try:
            with open(self.record_path, "rb") as f:
                doc = json.loads(f.read(MAX_RECORD_BYTES))
        except (OSError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None
