"""Fleet operations around the engine: the host lock, the audit log, the health gate,
rollback of a halted batch, and ``status``.

These sit beside :mod:`checkpointctl.engine` (which calls the first four) and below the CLI:
they import resources, the transport and the data modules, never ``policy``, ``report`` or
``cli``. Every module keeps its decisions in pure functions with the I/O at the edges.
"""
