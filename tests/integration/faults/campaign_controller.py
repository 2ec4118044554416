"""The campaign's controller process: ``MODE RECIPE_JSON`` converges one lab host and prints
the result as one line of JSON. ``push``: over SSH from the machine; ``pull``: run inside the
host's namespaces, through the local transport, as the agent does. A separate process so the
campaign can ``kill -9`` it, cut its connection or step its clock (``faketime``)."""

from __future__ import annotations

import json
import os
import sys

from campaign_state import Recipe, resources

from checkpointctl.engine.run import ApplyOptions, converge_host
from checkpointctl.model import Host
from checkpointctl.transport.connect import connect
from checkpointctl.transport.local import LocalTransport


def _lab_host(name: str) -> Host:
    """As the session's ``lab`` fixture chooses: the sudo inventory with
    ``$CHECKPOINTCTL_LAB_BECOME=1`` (inherited), else the lab's own."""
    from checkpointctl import lab as lab_api
    from checkpointctl.inventory import load_inventory
    from checkpointctl.lab.layout import LabPaths

    info = lab_api.info()
    inventory = info.inventory
    if os.environ.get("CHECKPOINTCTL_LAB_BECOME") == "1":
        inventory = LabPaths(info.root).sudo_inventory
    return load_inventory(str(inventory)).host(name)


def main(argv: list[str]) -> int:
    mode, recipe = argv[0], Recipe.from_json(argv[1])
    pull = mode == "pull"
    host = Host(recipe.host, "127.0.0.1", connection="local") if pull else _lab_host(recipe.host)
    result = converge_host(
        host,
        recipe.state(),
        LocalTransport if pull else connect,
        "apply",
        resources(pull_mode=pull),
        options=ApplyOptions(lock_wait=20.0, health_gate=False),
    )
    doc = {
        "status": result.status.value,
        "error": result.error,
        "applied": list(result.applied),
        "findings": [f.message for f in result.findings],
    }
    print(json.dumps(doc), flush=True)
    return 0 if result.status.value in ("converged", "in-sync") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
