"""``agent install``: write the agent's systemd service and timer (see
:mod:`checkpointctl.trust.agentunits`). It writes the two unit files and says how to start
them; it does not run ``systemctl`` itself, so it also works in an image build."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import Any

from checkpointctl.errors import CheckpointctlError


def cmd_install(args: argparse.Namespace) -> int:
    from checkpointctl.duration import INTERVAL, parse_seconds
    from checkpointctl.localfile import write_atomic
    from checkpointctl.trust.agentunits import UNIT_NAME, AgentService, unit_files

    interval = int(parse_seconds(args.install_interval, INTERVAL, what="--interval"))
    if interval < 1:
        raise CheckpointctlError("agent install: --interval must be at least 1s")
    jitter = (
        int(parse_seconds(args.install_jitter, INTERVAL, what="--jitter"))
        if args.install_jitter
        else max(1, interval // 10)
    )
    executable = args.install_executable or shutil.which("checkpointctl") or sys.argv[0]
    service = AgentService(
        executable=os.path.abspath(executable),
        source=args.install_source,
        interval_seconds=interval,
        jitter_seconds=jitter,
        trust_dir=args.install_trust_dir,
        state_dir=args.install_state_dir,
        report_url=args.install_report_url,
        insecure_registries=tuple(args.install_insecure_registry),
        ca_file=args.install_ca_file,
        host=args.install_host,
        registry_auth_file=args.install_registry_auth_file,
    )
    for path, text in unit_files(service, args.unit_dir):
        try:
            write_atomic(path, text.encode(), mode=0o644)
        except OSError as exc:
            raise CheckpointctlError(f"cannot write {path}: {exc.strerror}") from None
        print(f"wrote {path}")
    print(f"start it with: systemctl daemon-reload && systemctl enable --now {UNIT_NAME}.timer")
    return 0


def add_install(agent_sub: Any) -> None:
    """The ``install`` subcommand of ``agent`` (called by ``cli.trust``)."""
    from checkpointctl.spec import STATE_DIR
    from checkpointctl.trust import DEFAULT_TRUST_DIR
    from checkpointctl.trust.agentunits import UNIT_DIR

    q = agent_sub.add_parser("install", help="write a systemd service and timer for the agent")
    q.add_argument("--source", dest="install_source", required=True, metavar="URL")
    q.add_argument("--interval", dest="install_interval", default="5m", metavar="DURATION")
    q.add_argument(
        "--jitter",
        dest="install_jitter",
        metavar="DURATION",
        help="random delay added to each start (default: a tenth of the interval)",
    )
    q.add_argument("--report-url", dest="install_report_url", metavar="URL")
    q.add_argument(
        "--insecure-registry",
        dest="install_insecure_registry",
        action="append",
        default=[],
        metavar="HOST:PORT",
    )
    q.add_argument("--ca-file", dest="install_ca_file", metavar="FILE")
    q.add_argument("--registry-auth-file", dest="install_registry_auth_file", metavar="FILE")
    q.add_argument("--host", dest="install_host", help="this host's inventory name")
    q.add_argument("--trust-dir", dest="install_trust_dir", default=DEFAULT_TRUST_DIR)
    q.add_argument("--state-dir", dest="install_state_dir", default=STATE_DIR)
    q.add_argument("--unit-dir", default=UNIT_DIR, metavar="DIR", help=f"({UNIT_DIR})")
    q.add_argument(
        "--executable",
        dest="install_executable",
        metavar="PATH",
        help="the checkpointctl the service runs (default: this one)",
    )
