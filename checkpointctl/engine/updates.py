"""When apply may change a container's image: ``updates.strategy`` and ``updates.window``.

The vendor's updater changes images whenever it likes; a fleet owner wants them changed in a
maintenance window, or only by hand. Security drift is different: a firewall opened by hand, a
credential file changed, a container reconfigured on the host must be put right at once. So the
hold applies to one kind of change only, a container whose image is replaced (created and
removed containers, and every other resource, go at any time), and it is lifted by
``apply --allow-image-updates``, an operator's explicit decision. Rollbacks are never held.
"""

from __future__ import annotations

from datetime import datetime

from checkpointctl.model import Change, Finding
from checkpointctl.policy.window import WindowError, parse_window
from checkpointctl.spec import DesiredState

UPDATES_ADDRESS = "updates"


def replaces_image(change: Change) -> bool:
    """A container change that swaps a running image for another (not a create or delete)."""
    return change.kind == "container" and any(
        f.path == "image" and f.before is not None and f.after is not None for f in change.fields
    )


def image_hold(desired: DesiredState, at: datetime, *, allowed: bool) -> str | None:
    """Why image replacements must wait at ``at`` (None: they may go now)."""
    if allowed:
        return None
    if desired.updates.strategy == "manual":
        return "updates.strategy is manual: image changes need apply --allow-image-updates"
    if desired.updates.window:
        try:
            window = parse_window(desired.updates.window)
        except WindowError as exc:  # lint refuses it; a bundle built by hand may still hold it
            return f"updates.window does not parse, so images wait: {exc}"
        if not window.contains(at):
            return f"outside the maintenance window {window.text}"
    return None


def held_findings(changes: list[Change], hold: str) -> list[Finding]:
    return [
        Finding(UPDATES_ADDRESS, f"{c.address}: image update held back: {hold}", "warning")
        for c in changes
    ]
