"""``python -m checkpointctl`` runs the CLI, so the tool works without its console script."""

from checkpointctl.cli.main import main

raise SystemExit(main())
