"""The engine: a run over a fleet and everything that belongs to a run.

``run`` reads, diffs, applies and verifies each host (rollouts with canary, serial batches, max-fail
and halt); ``fanout`` runs per-host work at most ``--forks`` at once; ``lock`` holds the host lock,
``audit`` records what a run did, ``health`` gates a batch on the checkpoints' health, ``rollback``
restores a halted batch, ``watch`` repeats drift on kept connections, ``status`` reads fleet health
and ``pull`` is the pull agent's convergence of its own host. The engine imports resources, the
transport and the data modules, never ``policy``, ``report`` or ``cli``: it never prints and never
parses policy text."""
