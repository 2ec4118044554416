"""The floor: raw paramiko, a thread pool, one connection per host, three commands, nothing else.

Per host: connect (strict host key check against the lab's known_hosts, the lab key), run the
workload's three commands (file metadata, file hashes, the nftables table), compare with the
expected state, close. No retries, no parsing beyond the comparison, no reporting beyond the
list of drifted hosts: the cost of SSH itself on this machine, which every tool pays.

known_hosts and the identity key are parsed once, before the threads start, and each client is
given its host's keys only. The naive way (``load_host_keys`` per connection) re-parses the whole
file per host and takes logging's global lock per line; with the lab's 200-500 known_hosts lines
it made this floor 3-4x slower, which is paramiko's cost, not SSH's (checkpointctl parses the
file once too: ``checkpointctl/transport/sshfiles.py``).

With ``--one-session`` the three reads go out as ONE exec per host (``sh -c`` running them in
turn, a marker line between their outputs): the one-session floor, what a tool that batches its
reads as checkpointctl does can reach at best. The three-command form stays for comparison.

With ``--jump ADDRESS`` every host is reached through that bastion: one connection to it (its
key checked too), each host's client on a ``direct-tcpip`` channel of it, as checkpointctl does,
wrapped as checkpointctl wraps it (``JumpSocket``: a client's close never overtakes its last
write; without it, paramiko's race drops the shared bastion connection under load, see
``checkpointctl/transport/ssh/jumps.py``).
With ``--user U --sudo`` it logs in as U and runs each command under ``sudo -n``.
With ``--tcp-nodelay`` its TCP connections (to the hosts, or to the bastion) get the socket
options checkpointctl sets (``TCP_NODELAY`` and quick acknowledgements, see
``checkpointctl/transport/ssh/tcp.py``): the floor with the same sockets, for comparison.
With ``--aead`` its connections offer AES-GCM first, as checkpointctl's do
(``checkpointctl/transport/ssh/ciphers.py``); without it, paramiko's own order (aes128-ctr with
hmac-sha2-256 against OpenSSH).

Usage: python bench/floor.py FLEET.json EXPECTED.json [--threads 50] [--one-session]
    [--jump ADDR] [--user U] [--sudo] [--tcp-nodelay] [--aead]
Prints one JSON line: {"drift": [...], "errors": {...}}.
"""

from __future__ import annotations

import argparse
import json
import shlex
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import paramiko

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleet import FIND_META, FIND_SHA, LIST_TABLE, Expected, compare

from checkpointctl.transport.ssh.ciphers import new_transport
from checkpointctl.transport.ssh.jumps import JumpSocket

MARK = "--8<-- cpbench --8<--"
"""Printed between the three reads' outputs in the one-session form (no read prints it)."""


def one_session_argv(prefix: list[str]) -> list[str]:
    """``sh -c SCRIPT sh MARK``: the three reads in one exec, each output ended by a MARK line.

    The script is fixed (the reads' argv quoted once, here); the marker is a positional
    parameter. ``find`` and ``sha256sum`` end their output with a newline, so the marker
    always starts a line."""
    script = "; ".join(
        f"{shlex.join([*prefix, *argv])}; printf '%s\\n' \"$1\""
        for argv in (FIND_META, FIND_SHA, LIST_TABLE)
    )
    return ["sh", "-c", script, "sh", MARK]


def split_reads(text: str) -> tuple[str, str, str]:
    """The three reads' outputs from the one-session form's answer."""
    parts = text.split(MARK + "\n")
    if len(parts) != 4:
        raise ValueError(f"expected 3 marked outputs, got {len(parts) - 1}")
    return parts[0], parts[1], parts[2]


def run(client: paramiko.SSHClient, argv: list[str]) -> str:
    _, out, _ = client.exec_command(shlex.join(argv), timeout=120)
    data = out.read()
    out.channel.recv_exit_status()
    return data.decode()


NODELAY = False
AEAD = False


def login(
    address: str,
    known: paramiko.HostKeys,
    key: paramiko.PKey,
    user: str,
    sock: JumpSocket | socket.socket | None = None,
) -> paramiko.SSHClient:
    if sock is None and NODELAY:
        from checkpointctl.transport.ssh.tcp import connect_tcp

        sock = connect_tcp(address, 22, 60)
    client = paramiko.SSHClient()
    for key_type, host_key in (known.lookup(address) or {}).items():
        client.get_host_keys().add(address, key_type, host_key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        address,
        username=user,
        pkey=key,
        look_for_keys=False,
        allow_agent=False,
        timeout=60,
        banner_timeout=60,
        auth_timeout=60,
        sock=sock,  # type: ignore[arg-type]  # send, recv, settimeout, close: all paramiko uses
        transport_factory=new_transport if AEAD else None,
    )
    return client


def one(
    address: str,
    known: paramiko.HostKeys,
    key: paramiko.PKey,
    exp: Expected,
    *,
    user: str = "root",
    sudo: bool = False,
    jump: paramiko.Transport | None = None,
    one_session: bool = False,
) -> bool:
    sock: JumpSocket | None = None
    if jump is not None:
        sock = JumpSocket(
            jump.open_channel("direct-tcpip", (address, 22), ("127.0.0.1", 0), timeout=60)
        )
    client = login(address, known, key, user, sock)
    prefix = ["sudo", "-n", "--"] if sudo else []
    try:
        if one_session:
            meta, sha, table = split_reads(run(client, one_session_argv(prefix)))
        else:
            meta = run(client, [*prefix, *FIND_META])
            sha = run(client, [*prefix, *FIND_SHA])
            table = run(client, [*prefix, *LIST_TABLE])
    finally:
        client.close()
    return compare(exp, meta, sha, table)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("fleet")
    ap.add_argument("expected")
    ap.add_argument("--threads", type=int, default=50)
    ap.add_argument("--jump", help="reach every host through this bastion (root, same key)")
    ap.add_argument("--user", default="root")
    ap.add_argument("--sudo", action="store_true", help="run each command under sudo -n")
    ap.add_argument("--tcp-nodelay", action="store_true", help="checkpointctl's TCP socket options")
    ap.add_argument("--aead", action="store_true", help="offer AES-GCM first, as checkpointctl")
    ap.add_argument(
        "--one-session", action="store_true", help="the three reads as one exec per host"
    )
    args = ap.parse_args()
    global NODELAY, AEAD
    NODELAY = args.tcp_nodelay
    AEAD = args.aead
    fleet = json.loads(Path(args.fleet).read_text())
    e = json.loads(Path(args.expected).read_text())
    exp = Expected(e["meta"], e["sha256"], e["table"])
    hosts: dict[str, str] = fleet["addresses"]
    known = paramiko.HostKeys(fleet["known_hosts"])
    key = paramiko.PKey.from_path(fleet["identity_file"])

    bastion = login(args.jump, known, key, "root") if args.jump else None
    jump = bastion.get_transport() if bastion is not None else None

    def work(name: str) -> tuple[str, bool | str]:
        try:
            return name, one(
                hosts[name],
                known,
                key,
                exp,
                user=args.user,
                sudo=args.sudo,
                jump=jump,
                one_session=args.one_session,
            )
        except Exception as exc:  # reported, like the other tools' unreachable hosts
            return name, f"{type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(args.threads) as pool:
        results = list(pool.map(work, hosts))
    if bastion is not None:
        bastion.close()
    drift = sorted(n for n, ok in results if ok is False)
    errors = {n: ok for n, ok in results if isinstance(ok, str)}
    print(json.dumps({"drift": drift, "errors": errors}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
