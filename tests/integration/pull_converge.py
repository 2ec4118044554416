"""Pull mode for the hostile-path tests: converge this host through the local transport.

Run inside a lab host's namespaces (``lab.exec_argv(host) + [python, this file, …]``), as the
agent would run on the host itself: ``MODE STATE_JSON``; prints the host's result as one line
of JSON (status, error, changes with address and reason). The desired state comes from
:func:`hostile_state.desired` so push and pull converge exactly the same thing.
"""

from __future__ import annotations

import json
import sys

from hostile_state import RESOURCES, desired, result_json

from checkpointctl.engine.run import ApplyOptions, converge_host
from checkpointctl.model import Host
from checkpointctl.transport.local import LocalTransport


def main(argv: list[str]) -> int:
    mode, args = argv[0], json.loads(argv[1])
    host = Host(name=args["host"], address="127.0.0.1", connection="local")
    result = converge_host(
        host,
        desired(args["host"], args["secret"]),
        LocalTransport,
        mode,  # type: ignore[arg-type]
        RESOURCES,
        options=ApplyOptions(lock_wait=30.0, health_gate=False),
    )
    print(json.dumps(result_json(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
