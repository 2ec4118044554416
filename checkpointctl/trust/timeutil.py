"""Times as bundles, revocation lists and the agent write and read them.

Every time in a trust document is UTC, to the second, written ``YYYY-MM-DDTHH:MM:SSZ``: one
spelling per instant, so a document built twice from the same inputs has the same bytes and a
signature never depends on how a clock formats its offset.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from checkpointctl.errors import CheckpointctlError

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
ENV_SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"


def format_time(when: datetime) -> str:
    """The one spelling of an instant in trust documents (UTC, seconds, ``Z``)."""
    return when.astimezone(UTC).strftime(_FORMAT)


def parse_time(text: str, *, what: str = "time") -> datetime:
    """An ISO 8601 time (``Z`` or an offset; a naive time is taken as UTC) or a Unix epoch.

    Sub-second parts are dropped, so what is parsed is exactly what :func:`format_time` writes.

    Raises:
        CheckpointctlError: the text is neither.
    """
    raw = text.strip()
    if re.fullmatch(r"[0-9]{1,12}", raw):
        return datetime.fromtimestamp(int(raw), UTC)
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise CheckpointctlError(
            f"{what}: {text!r} is not a time (ISO 8601 like 2025-01-31T12:00:00Z, or a Unix epoch)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).replace(microsecond=0)


def parse_document_time(value: object, *, what: str) -> datetime:
    """A time read back from a trust document: exactly the :func:`format_time` spelling.

    Raises:
        ValueError: anything else (the caller words the message for its document).
    """
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a time string")
    try:
        return datetime.strptime(value, _FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"{what} must be a UTC time like 2025-01-31T12:00:00Z") from None


def creation_time(explicit: str | None, env: Mapping[str, str]) -> datetime:
    """When a document says it was made: ``explicit``, else ``$SOURCE_DATE_EPOCH``, else now.

    Taking the time as an input is what makes "same inputs, same bytes" hold for bundles.
    """
    if explicit:
        return parse_time(explicit, what="--created")
    epoch = env.get(ENV_SOURCE_DATE_EPOCH, "").strip()
    if epoch:
        return parse_time(epoch, what=ENV_SOURCE_DATE_EPOCH)
    return datetime.now(UTC).replace(microsecond=0)
