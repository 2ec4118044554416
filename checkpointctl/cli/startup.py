"""The cyclic garbage collector around a command's start-up.

A command's start-up (the imports, the parser, the inventory, the policies and every host's
desired state) makes tens of thousands of objects that live until the process ends, and little
garbage. With the collector on, each of those objects is walked by a young and a middle pass
before it settles in the oldest generation: about 50 ms of controller CPU for a 100-host drift
(timed with ``gc.callbacks``, see bench/README.md). So the collector is off while they are
made, and what is alive once start-up is over is frozen (:func:`gc.freeze`): the passes that
run while the hosts are read walk only what the run itself makes, which is mostly short-lived.
The cyclic garbage start-up leaves behind (a few thousand objects, as many with 100 host names
as with 2,000) is kept until the process ends.

:func:`end_of_run` gives frozen objects back to the collector, so a process that calls
:func:`checkpointctl.cli.main.main` more than once (tests, an embedding program) collects them
as it did before.
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


def end_of_run() -> None:
    """Give the objects frozen at start-up back to the collector (their oldest generation)."""
    gc.unfreeze()
