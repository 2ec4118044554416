"""The cyclic garbage collector around a command's start-up.

A command's start-up (the imports, the parser, the inventory, the policies and every host's
desired state) makes tens of thousands of objects that live until the process ends, and little
garbage. With the collector on, each of those objects is walked by a young and a middle pass
before it settles in the oldest generation, and once more by the full collection the
interpreter makes at exit: for a 100-host drift 36-48 ms in the passes and 32-42 ms at exit
(timed with ``gc.callbacks``, see bench/README.md). So the collector is off while they are
made, and what is alive once start-up is over is frozen (:func:`gc.freeze`) for the rest of
the process: the passes that run while the hosts are read, and the one at exit, walk only what
the run itself makes. The cyclic garbage start-up leaves behind (a few thousand objects, as
many with 100 host names as with 2,000) is kept until the process ends.

A process that calls :func:`checkpointctl.cli.main.main` several times (the tests) gives the
frozen objects back with :func:`gc.unfreeze` when it wants them collected.
"""

from __future__ import annotations

import gc
from types import TracebackType


class StartUp:
    """The collector off from ``with`` until :meth:`done` or the block's end, whichever comes
    first; then what is alive is frozen and the collector is on again. A block left by an
    exception before :meth:`done` freezes nothing (the command is failing: nothing is worth
    keeping out of the collector's way)."""

    def __init__(self) -> None:
        self._over = False

    def __enter__(self) -> StartUp:
        gc.disable()
        return self

    def done(self) -> None:
        """Start-up is over: freeze what is alive, collect again from here on."""
        if not self._over:
            self._over = True
            gc.freeze()
            gc.enable()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.done()
        elif not self._over:
            self._over = True
            gc.enable()
