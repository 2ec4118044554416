"""A probe image whose releases hand the checkpoint's state over from one container to the next.

Why it exists: a replacement is create-first, so a release that cannot start, or is unhealthy
from its first check, never takes over (the old container keeps running). What that cannot
catch is a release that works as a standby and breaks only once it becomes the live container.
That is a real kind of failure: an agent keeps state (a queue, a registration, a cache) in a
volume, the new release takes that state over when the old container stops, and a bug in reading
it shows only then. This image is a stand-in for such an agent, and the lab's proof that the
health gate catches the failure after the swap and rolls the host back.

How it works, all in busybox ``sh`` (``/probe/run`` and ``/probe/health``):

- ``/state`` is a named volume the releases share. ``/state/owner`` is a symbolic link to the
  hostname (the container ID) of the container that holds the state; creating a link is atomic
  and fails when one exists, so exactly one container claims it;
- a container claims the state when it starts and nobody holds it (the first container of a
  host), and gives it back when it is stopped (its SIGTERM handler removes its own link);
- ``/probe/health`` (its Docker healthcheck and its health signal) requires the HTTP server
  to answer; a container that does not hold the state is a healthy standby; one that finds the
  state free claims it (the previous container stopped: this one is live now), and a live
  container is healthy when its release can use the state. A *broken* release cannot: it is
  healthy while the old container runs and unhealthy from the first check after the swap,
  deterministically, since the old container gives the state back before ``docker stop`` ends.
"""

from __future__ import annotations

import tarfile

from checkpointctl.lab.images import (
    BuiltImage,
    base_layer,
    build_image,
    tar_entry,
    tar_layer,
    version_layer,
)

STATE_DIR = "/state"
"""Where the shared volume is mounted (the image has the directory, owned by uid 10001, so a
new named volume gets that owner)."""
HEALTH = ("/probe/health",)
"""The command that says whether a container works: use it as healthcheck and health signal."""
RUN = ("/bin/sh", "/probe/run")
CHECKPOINT_UID = 10001

_RUN = r"""#!/bin/sh
# lab stand-in: a release that hands the checkpoint's state over between containers
me=$(hostname)
owner=/state/owner
release() {
  [ "$(readlink "$owner" 2>/dev/null)" = "$me" ] && rm -f "$owner"
  exit 0
}
trap release TERM INT
ln -s "$me" "$owner" 2>/dev/null || true
httpd -f -p 8080 -h /www &
wait $!
"""

_HEALTH = r"""#!/bin/sh
me=$(hostname)
owner=/state/owner
wget -q -O /dev/null http://127.0.0.1:8080/ || { echo "not serving on port 8080"; exit 1; }
ln -s "$me" "$owner" 2>/dev/null
holder=$(readlink "$owner")
if [ "$holder" != "$me" ]; then
  echo "standby: container $holder holds the checkpoint state"
  exit 0
fi
"""

_WORKS = r"""echo "live: holds the checkpoint state"
exit 0
"""

_BREAKS = r"""echo "live: cannot use the checkpoint state handed over by the previous release"
exit 1
"""


def handover_layer(*, breaks_on_takeover: bool) -> bytes:
    """``/probe/run``, ``/probe/health`` (the broken or the working release) and ``/state``."""
    health = _HEALTH + (_BREAKS if breaks_on_takeover else _WORKS)
    return tar_layer(
        [
            tar_entry("probe", tarfile.DIRTYPE, 0o755),
            tar_entry("probe/run", tarfile.REGTYPE, 0o755, data=_RUN.encode()),
            tar_entry("probe/health", tarfile.REGTYPE, 0o755, data=health.encode()),
            tar_entry(STATE_DIR.lstrip("/"), tarfile.DIRTYPE, 0o755, uid=CHECKPOINT_UID),
        ]
    )


def handover_probe(
    repository: str, tag: str, version: str, *, breaks_on_takeover: bool = False
) -> BuiltImage:
    """A release of the hand-over probe (push it with :func:`~checkpointctl.lab.images.push`).

    ``version`` goes into its content, so each version has its own digest.
    """
    return build_image(
        repository, tag, f"handover_{tag}",
        [base_layer(), version_layer(f"handover-probe {version}"),
         handover_layer(breaks_on_takeover=breaks_on_takeover)],
        RUN,
        {"org.opencontainers.image.version": version,
         "io.checkpointctl.lab.breaks-on-takeover": str(breaks_on_takeover).lower()},
        ["8080/tcp"],
    )  # fmt: skip


__all__ = ["HEALTH", "STATE_DIR", "handover_layer", "handover_probe"]
