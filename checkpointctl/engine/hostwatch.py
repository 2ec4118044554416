"""What a listening watch listens to on one host, the script that listens, and its output.

``drift --watch`` learns of a change on a host from the host itself: a shell started on the
host's kept connection runs ``inotifywait`` on the managed directories, ``nft -j monitor`` and
``docker events`` for containers, and writes one line per event. This module is the pure part:
which directories, table and containers matter for a desired state (:func:`targets`), the script
(:data:`LISTENER_SCRIPT`, values only ever as positional parameters) and what one line of its
output means (:meth:`WatchTargets.classify`). Tools report more than we manage (every file of a
watched directory, every table, every container of the engine): lines about anything else are
ignored here, so an unrelated change costs one line on the wire and no read.

The script reports, before it listens, which tools it lacks (``S <source> missing <tool>``),
and ``inotifywait`` says when its watches are in place (or why they cannot be: the kernel's
limit on inotify instances, for one);
a host that cannot listen to every source it needs is polled instead (see
:mod:`~checkpointctl.engine.listen`). It ends its listeners when its stdin ends, which happens
when the controller closes the channel or its connection dies for any reason: no listener
outlives the watch.
"""

from __future__ import annotations

import enum
import json
import posixpath
from dataclasses import dataclass

from checkpointctl.resources.firewall.compile import FAMILY
from checkpointctl.resources.paths import managed_directories
from checkpointctl.spec import CHECKPOINT_ROOT, OWNER_LABEL, STATE_DIR, DesiredState


class Source(enum.Enum):
    """A kind of event the host can tell: each needs its own tool there."""

    FILES = "files"
    FIREWALL = "firewall"
    CONTAINERS = "containers"


IGNORED_DOCKER_ACTIONS = frozenset(
    {"exec_create", "exec_start", "exec_die", "exec_detach", "attach", "detach", "resize", "top"}
    | {"archive-path", "extract-to-dir", "copy", "export", "commit"}
)
"""Docker events that change nothing drift reads (a health check's exec, a ``docker cp``)."""

FILE_EVENTS = "modify,attrib,close_write,create,delete,move,delete_self,move_self"
DOCKER_FORMAT = (
    'D {{.Actor.Attributes.name}} {{index .Actor.Attributes "' + OWNER_LABEL + '"}} {{.Action}}'
)
"""One line per container event: its name, our ownership label and the action."""

LISTENER_SCRIPT = r"""
want_files=$1 want_nft=$2 want_docker=$3
shift 3
pids=
have() { command -v "$1" >/dev/null 2>&1; }
if [ "$want_files" = 1 ]; then
    if have inotifywait; then
        n=$#
        i=0
        while [ "$i" -lt "$n" ]; do
            d=$1
            shift
            if [ -d "$d" ]; then set -- "$@" "$d"; fi
            i=$((i + 1))
        done
        if [ $# -gt 0 ]; then
            inotifywait -m -e "$FILE_EVENTS" --format 'F %w%f' -- "$@" 2>&1 &
            pids="$pids $!"
        fi
        echo "S files ok"
    else
        echo "S files missing inotifywait"
    fi
fi
if [ "$want_nft" = 1 ]; then
    if have nft; then
        nft -j monitor &
        pids="$pids $!"
        echo "S firewall ok"
    else
        echo "S firewall missing nft"
    fi
fi
if [ "$want_docker" = 1 ]; then
    if ! have docker; then
        echo "S containers missing docker"
    elif ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
        echo "S containers missing dockerd"
    else
        docker events --filter type=container --format "$DOCKER_FORMAT" &
        pids="$pids $!"
        echo "S containers ok"
    fi
fi
echo "S ready"
while read -r _; do :; done
kill $pids 2>/dev/null
wait
"""
"""Listen on the host; argv after ``sh -c SCRIPT sh``: want-files, want-nft, want-docker (0/1),
then the directories to watch. ``FILE_EVENTS`` and ``DOCKER_FORMAT`` come from the environment
the argv sets (see :meth:`WatchTargets.argv`)."""

READY = b"S ready"
SETTING_UP = b"Setting up watches."
WATCHES_ESTABLISHED = b"Watches established."
"""What ``inotifywait`` says (on stderr, which the script joins to stdout) once it listens."""


@dataclass(frozen=True, slots=True)
class Heard:
    """A line that concerns what the host should be: its source, and whether the set of
    watched directories may have changed (a managed directory appeared or went)."""

    source: Source
    rearm: bool = False


@dataclass(frozen=True, slots=True)
class WatchTargets:
    """What matters on one host for a listening watch (pure data, from :func:`targets`)."""

    directories: frozenset[str]
    """Managed directories: an event on one or on an entry directly inside it matters."""
    watched: tuple[str, ...]
    """What ``inotifywait`` is given: the managed directories and the roots' parents (a root
    replaced by a link shows only in its parent)."""
    table: str | None
    containers: frozenset[str]

    @property
    def sources(self) -> frozenset[Source]:
        wanted = {Source.FILES}
        if self.table is not None:
            wanted.add(Source.FIREWALL)
        if self.containers:
            wanted.add(Source.CONTAINERS)
        return frozenset(wanted)

    def argv(self) -> list[str]:
        """The listener's argv (``env`` sets the constants, the rest are positional)."""
        flags = [("1" if s in self.sources else "0") for s in Source]
        return [
            "env",
            f"FILE_EVENTS={FILE_EVENTS}",
            f"DOCKER_FORMAT={DOCKER_FORMAT}",
            "sh",
            "-c",
            LISTENER_SCRIPT,
            "sh",
            *flags,
            *self.watched,
        ]

    def classify(self, line: bytes) -> Heard | None:
        """What one line of the listener's output means for drift (None: nothing we manage)."""
        text = line.decode("utf-8", "replace").rstrip("\n")
        if text.startswith("F "):
            path = text[2:].rstrip("/") or "/"
            if path in self.directories:
                return Heard(Source.FILES, rearm=True)
            if posixpath.dirname(path) in self.directories:
                return Heard(Source.FILES)
            return None
        if text.startswith("D "):
            return self._docker(text[2:])
        if text.startswith("{"):
            return self._nft(text)
        return None

    def _docker(self, text: str) -> Heard | None:
        name, _, rest = text.partition(" ")
        owner, _, action = rest.partition(" ")
        verb = action.partition(":")[0].strip()
        if verb in IGNORED_DOCKER_ACTIONS:
            return None
        if name in self.containers or owner == "true":
            return Heard(Source.CONTAINERS)
        return None

    def _nft(self, text: str) -> Heard | None:
        if self.table is None:
            return None
        try:
            doc = json.loads(text)
        except ValueError:
            return None
        if not isinstance(doc, dict):
            return None
        for change in doc.values():
            if not isinstance(change, dict):
                continue
            for kind, obj in change.items():
                if not isinstance(obj, dict) or obj.get("family") != FAMILY:
                    continue
                table = obj.get("name") if kind == "table" else obj.get("table")
                if table == self.table:
                    return Heard(Source.FIREWALL)
        return None


def targets(desired: DesiredState, state_dir: str = STATE_DIR) -> WatchTargets:
    """What to listen to for ``desired`` (pure)."""
    dirs = set(managed_directories(desired, state_dir))
    dirs.update(posixpath.dirname(f.file_path) for f in desired.secret_files)
    parents = {posixpath.dirname(CHECKPOINT_ROOT), posixpath.dirname(state_dir)}
    return WatchTargets(
        directories=frozenset(dirs),
        watched=tuple(sorted(dirs | parents)),
        table=desired.firewall.table if desired.firewall is not None else None,
        containers=frozenset(c.name for c in desired.containers),
    )


@dataclass(frozen=True, slots=True)
class Missing:
    """A source the host cannot listen to, and the tool it lacks."""

    source: Source
    tool: str


def parse_status(line: bytes) -> Missing | None:
    """``S <source> missing <tool>`` as :class:`Missing` (None for any other line)."""
    parts = line.decode("utf-8", "replace").split()
    if len(parts) == 4 and parts[0] == "S" and parts[2] == "missing":
        try:
            return Missing(Source(parts[1]), parts[3])
        except ValueError:
            return None
    return None
