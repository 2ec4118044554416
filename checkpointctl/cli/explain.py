"""``checkpointctl explain FIELD``: one policy field's reference entry, like ``kubectl explain``.

The entry is the one ``docs/policy.md`` shows (both come from :mod:`checkpointctl.policy
.reference`), so a person at a terminal and a person reading the docs learn the same thing.
``explain`` without a field lists every field path.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from checkpointctl.errors import CheckpointctlError


def _cmd_explain(args: argparse.Namespace) -> int:
    from checkpointctl.policy.reference import close_matches, entry_text, field_docs, lookup

    if not args.field:
        sys.stdout.write("".join(f"{doc.path}\n" for doc in field_docs()))
        return 0
    doc = lookup(args.field)
    if doc is None:
        near = close_matches(args.field)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise CheckpointctlError(
            f"explain: no policy field {args.field!r}{hint} "
            "(`checkpointctl explain` lists every field)"
        )
    sys.stdout.write(entry_text(doc))
    return 0


def register(sub: Any) -> None:
    """Add ``explain`` to the top-level parser."""
    p = sub.add_parser("explain", help="describe a policy field (type, default, example, lint)")
    p.add_argument(
        "field",
        nargs="?",
        metavar="FIELD",
        help="a field path such as spec.containers.cap_add (none: list every field)",
    )
    p.set_defaults(func=_cmd_explain)
