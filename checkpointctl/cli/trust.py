"""Trust verbs: ``keygen``, ``bundle``, ``sign``, ``verify``, ``revoke``, ``agent``,
``push-bundle``.

Wiring only: every decision is in :mod:`checkpointctl.trust`, and pull mode's convergence of
the agent's own host in :mod:`checkpointctl.engine.pull`.
Exit codes: 0 ok, 1 for any refusal (bad signature, expired, rolled back...) or error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from checkpointctl.errors import CheckpointctlError, TrustError

if TYPE_CHECKING:
    from checkpointctl.model import Host
    from checkpointctl.trust.keys import PublicKey, SigningKey
    from checkpointctl.trust.verify import VerifiedBundle

DEFAULT_EXPIRES = "7d"
AGENT_VAR = "agent_public_key"


def _out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def _interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _signing_keys(args: argparse.Namespace) -> list[SigningKey]:
    from checkpointctl.trust.keys import load_passphrase, load_signing_key

    cache: list[bytes | None] = []

    def passphrase() -> bytes | None:
        # Asked at most once, and only if some key is encrypted.
        if not cache:
            cache.append(load_passphrase(args.passphrase_file, interactive=_interactive()))
        return cache[0]

    return [load_signing_key(path, passphrase) for path in args.key]


def _write_bytes(path: str, data: bytes) -> None:
    from checkpointctl.localfile import write_atomic

    try:
        write_atomic(path, data, mode=0o644)
    except OSError as e:
        raise CheckpointctlError(f"cannot write {path}: {e.strerror}") from None


def _read_bytes(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise CheckpointctlError(f"cannot read {what} {path}: {e.strerror}") from None


# --- keygen ------------------------------------------------------------------------------------


def _cmd_keygen(args: argparse.Namespace) -> int:
    from checkpointctl.trust.keys import generate_signing_key, load_passphrase, write_signing_key

    passphrase = None
    if not args.unencrypted:
        passphrase = load_passphrase(args.passphrase_file, interactive=_interactive(), confirm=True)
        if passphrase is None:
            raise TrustError(
                "the private key must be encrypted: give a passphrase with --passphrase-file "
                "FILE, $CHECKPOINTCTL_KEY_PASSPHRASE(_FILE) or at the prompt, or pass "
                "--unencrypted explicitly"
            )
    key = generate_signing_key()
    key_path, pub_path = write_signing_key(args.output, key, passphrase, force=args.force)
    state = "unencrypted" if passphrase is None else "encrypted"
    _out(
        f"key ID {key.key_id}\nprivate key: {key_path} (mode 0600, {state})\npublic key: {pub_path}"
    )
    return 0


# --- bundle / sign / revoke --------------------------------------------------------------------


def _recipients(hosts: Sequence[Host]) -> dict[str, bytes | None]:
    from checkpointctl.trust.keys import parse_host_public_key

    out: dict[str, bytes | None] = {}
    for host in hosts:
        value = host.vars.get(AGENT_VAR)
        out[host.name] = (
            parse_host_public_key(value, f"inventory host {host.name}") if value else None
        )
    return out


def _cmd_bundle(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from checkpointctl.cli.common import inventory_of, load
    from checkpointctl.duration import VALIDITY, parse_seconds
    from checkpointctl.trust.bundle import build_bundle
    from checkpointctl.trust.timeutil import creation_time

    created = creation_time(args.created, os.environ)
    expires = created + timedelta(seconds=parse_seconds(args.expires, VALIDITY, what="--expires"))
    serial = args.serial if args.serial is not None else int(created.timestamp())
    keys = _signing_keys(args)
    inventory = inventory_of(args)
    result = load(args, inventory, need_secrets=True)
    hosts = [h for h in inventory.select(args.limit) if h.name in result.states]
    revocations = _read_bytes(args.revocations, "revocation list") if args.revocations else None
    if revocations is not None:
        from checkpointctl.trust.revocation import parse_revocations

        parse_revocations(revocations, args.revocations)
    data = build_bundle(
        {h.name: result.states[h.name] for h in hosts},
        _recipients(hosts),
        keys,
        serial=serial,
        created=created,
        expires=expires,
        revocations=revocations,
    )
    _write_bytes(args.output, data)
    from checkpointctl.trust.timeutil import format_time

    _out(
        f"wrote {args.output}: serial {serial}, {len(hosts)} hosts, expires "
        f"{format_time(expires)}, signed by {', '.join(k.key_id for k in keys)}"
    )
    return 0


def _cmd_sign(args: argparse.Namespace) -> int:
    from checkpointctl.trust.bundle import sign_bundle

    data = _read_bytes(args.bundle, "bundle")
    for key in _signing_keys(args):
        data = sign_bundle(data, key)
    _write_bytes(args.output or args.bundle, data)
    _out(f"signed {args.output or args.bundle} with {', '.join(args.key)}")
    return 0


def _cmd_revoke(args: argparse.Namespace) -> int:
    from checkpointctl.trust.revocation import make_revocations, parse_revocations
    from checkpointctl.trust.timeutil import creation_time

    created = creation_time(args.created, os.environ)
    revoked = set(args.key_ids)
    if args.extend:
        revoked |= parse_revocations(
            _read_bytes(args.extend, "revocation list"), args.extend
        ).revoked
    serial = args.serial if args.serial is not None else int(created.timestamp())
    data = make_revocations(revoked, _signing_keys(args), serial=serial, created=created)
    _write_bytes(args.output, data)
    _out(f"wrote {args.output}: serial {serial}, revokes {', '.join(sorted(revoked))}")
    return 0


# --- verify ------------------------------------------------------------------------------------


def _trust(args: argparse.Namespace) -> tuple[dict[str, PublicKey], frozenset[str], int]:
    """Trusted keys, revoked key IDs and the threshold from --trust/--trust-dir/--revocations."""
    from checkpointctl.trust.keys import load_public_key
    from checkpointctl.trust.revocation import parse_revocations, verify_revocations
    from checkpointctl.trust.store import load_trust_store

    keys: dict[str, PublicKey] = {}
    revoked: frozenset[str] = frozenset()
    threshold = args.threshold or 1
    if args.trust_dir:
        store = load_trust_store(args.trust_dir, need_host_key=False)
        keys.update(store.keys)
        revoked = store.revoked
        threshold = max(threshold, store.threshold)
    for path in args.trust or ():
        key = load_public_key(path)
        keys[key.key_id] = key
    if not keys:
        raise TrustError("no trusted keys: give --trust KEY.pub (one or more) or --trust-dir DIR")
    if args.revocations:
        rl = parse_revocations(_read_bytes(args.revocations, "revocation list"), args.revocations)
        revoked |= verify_revocations(rl, keys, threshold=threshold, where=args.revocations)
    return keys, revoked, threshold


def _summary(bundle: VerifiedBundle) -> dict[str, Any]:
    return {**bundle.summary(), "hosts": list(bundle.manifest.hosts)}


def _cmd_verify(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from checkpointctl.trust.timeutil import parse_time
    from checkpointctl.trust.verify import verify_bundle

    keys, revoked, threshold = _trust(args)
    now = parse_time(args.at, what="--at") if args.at else datetime.now(UTC)
    bundle = verify_bundle(
        _read_bytes(args.bundle, "bundle"), keys, now=now, threshold=threshold, revoked=revoked
    )
    info = _summary(bundle)
    if args.format == "json":
        _out(json.dumps({"ok": True, **info}, indent=2, sort_keys=True))
    else:
        _out(
            f"ok: {args.bundle}: serial {info['serial']}, created {info['created']}, expires "
            f"{info['expires']}, signed by {', '.join(info['signed_by'])} (threshold "
            f"{threshold}), {len(info['hosts'])} hosts"
        )
    return 0


# --- agent -------------------------------------------------------------------------------------


def _agent_host(args: argparse.Namespace) -> str:
    return str(args.host or socket.gethostname().split(".", 1)[0])


def _cmd_agent(args: argparse.Namespace) -> int:
    if args.agent_cmd == "init":
        return _agent_init(args)
    if args.agent_cmd == "status":
        return _agent_status(args)
    if args.agent_cmd == "install":
        from checkpointctl.cli.agentinstall import cmd_install

        return cmd_install(args)
    return _agent_run(args)


def _agent_init(args: argparse.Namespace) -> int:
    from checkpointctl.trust.store import init_trust_dir

    key = init_trust_dir(
        args.init_trust_dir,
        trust_keys=args.init_trust or (),
        threshold=args.init_threshold,
        force=args.force,
    )
    from checkpointctl.trust.statusreport import INVENTORY_VAR, ensure_report_key, public_key_text

    report_key = ensure_report_key(args.init_trust_dir, force=args.force)
    _out(
        f"trust store: {args.init_trust_dir} (host key ID {key.key_id})\n"
        "put this host's public keys in the inventory:\n"
        f"  {AGENT_VAR}: {key.public_text()}\n"
        f"  {INVENTORY_VAR}: {public_key_text(report_key)}"
    )
    return 0


def _agent_status(args: argparse.Namespace) -> int:
    from checkpointctl.trust.agent import read_status

    doc = read_status(args.status_state_dir)
    if doc is None:
        raise CheckpointctlError(
            f"the agent has not run on this host (no status in {args.status_state_dir})"
        )
    if args.format == "json":
        _out(json.dumps(doc, indent=2, sort_keys=True))
    else:
        bundle = doc.get("bundle") or {}
        line = f"{doc.get('host')}: {doc.get('result')} at {doc.get('time')}"
        if bundle:
            line += f" (bundle serial {bundle.get('serial')}, expires {bundle.get('expires')})"
        if doc.get("message"):
            line += f"\n  {doc['message']}"
        _out(line)
    return 0 if doc.get("healthy") else 1


def _reporter(args: argparse.Namespace, fetcher: object) -> Callable[[], None]:
    """After each run: the signed status report PUT to ``--report-url`` (if given). A report
    that cannot be sent is logged; the run's own result stands."""
    from checkpointctl.duration import VALIDITY, parse_seconds
    from checkpointctl.trust.agent import read_status
    from checkpointctl.trust.statusreport import send_run_report

    if not args.report_url:
        return lambda: None
    interval_text = args.report_interval or args.interval
    interval = parse_seconds(interval_text, VALIDITY, what="--interval") if interval_text else None

    def send() -> None:
        try:
            status = read_status(args.state_dir)
            if status is None:
                return
            version = getattr(fetcher, "last_version", None)
            url = send_run_report(
                status,
                trust_dir=args.trust_dir,
                url_template=args.report_url,
                interval=interval,
                source_version=version if isinstance(version, str) else None,
                ca_file=args.ca_file,
                timeout=args.timeout,
            )
            logging.getLogger("checkpointctl.agent").info("status reported to %s", url)
        except CheckpointctlError as exc:
            logging.getLogger("checkpointctl.agent").warning("status report: %s", exc)

    return send


def _agent_run(args: argparse.Namespace) -> int:
    from checkpointctl.duration import INTERVAL, VALIDITY, parse_seconds
    from checkpointctl.engine.pull import local_converge
    from checkpointctl.trust.agent import AgentOptions, AgentOutcome, run_loop, run_once

    if not args.source:
        raise CheckpointctlError("agent: give --source URL|PATH (or `agent init` / `agent status`)")
    if args.once and args.interval:
        raise CheckpointctlError("agent: give --once or --interval, not both")
    if args.jitter and not args.interval:
        raise CheckpointctlError("agent: --jitter needs --interval")
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="checkpointctl agent: %(message)s"
    )
    host = _agent_host(args)
    options = AgentOptions(
        source=args.source,
        host=host,
        trust_dir=args.trust_dir,
        state_dir=args.state_dir,
        threshold=args.threshold,
        extra_keys=tuple(args.trust or ()),
        ca_file=args.ca_file,
        timeout=args.timeout,
    )
    converge = local_converge(host, args.state_dir, argv=sys.argv)
    fetcher: Callable[[str], bytes] | None = None
    if args.source.startswith("oci://"):
        from checkpointctl.cli.oci import oci_fetcher

        fetcher = oci_fetcher(
            args.source,
            args.state_dir,
            args.insecure_registry,
            args.timeout,
            args.registry_auth_file,
        )
    elif args.source.lower().startswith(("https://", "http://")):
        from checkpointctl.trust.fetch import ConditionalHttpSource

        fetcher = ConditionalHttpSource(args.state_dir, ca_file=args.ca_file, timeout=args.timeout)

    report = _reporter(args, fetcher)

    def show(outcome: AgentOutcome) -> None:
        if outcome.exit_code == 0:
            _out(f"{host}: {outcome.result} (bundle serial {outcome.serial})")
        report()

    if not args.interval:
        outcome = run_once(options, converge, fetcher=fetcher)
        show(outcome)
        if outcome.exit_code != 0:
            raise (
                TrustError(outcome.message)
                if outcome.result == "refused"
                else (CheckpointctlError(outcome.message))
            )
        return 0
    interval = parse_seconds(args.interval, VALIDITY, what="--interval")
    jitter = parse_seconds(args.jitter, INTERVAL, what="--jitter") if args.jitter else interval / 10
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    run_loop(options, converge, interval, stop, jitter=jitter, on_outcome=show, fetcher=fetcher)
    return 0


# --- push-bundle -------------------------------------------------------------------------------


def _cmd_push_bundle(args: argparse.Namespace) -> int:
    from checkpointctl.cli.common import inventory_of
    from checkpointctl.trust.bundle import read_bundle

    data = _read_bytes(args.bundle, "bundle")
    read_bundle(data)  # only well-formed bundles are sent; the hosts decide whether to believe
    inventory = inventory_of(args)
    hosts = inventory.select(args.limit)
    if not hosts:
        raise CheckpointctlError("push-bundle: no hosts selected")
    from checkpointctl.engine.pull import push_bundle

    results = push_bundle(
        hosts,
        data,
        remote_command=args.remote_command,
        trust_dir=args.trust_dir,
        timeout=args.timeout,
        forks=args.forks,
    )
    failed = 0
    for pushed in results:
        name, rc, text = pushed.host, pushed.exit_code, pushed.output
        failed += rc != 0
        lines = text.splitlines() or [""]
        _out(f"{name}: {'ok' if rc == 0 else f'failed (exit {rc})'}: {lines[-1]}")
        if rc != 0:
            for line in lines[:-1][-10:]:
                _out(f"  {line}")
    _out(f"{len(results) - failed} of {len(results)} hosts accepted and applied the bundle")
    return 0 if failed == 0 else 1


# --- parser ------------------------------------------------------------------------------------


def _passphrase_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--passphrase-file",
        metavar="FILE",
        help="file whose first line is the signing key's passphrase (or "
        "$CHECKPOINTCTL_KEY_PASSPHRASE(_FILE), or a prompt)",
    )


def _trust_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trust", action="append", metavar="KEY.pub", help="a trusted public key (repeat)"
    )
    p.add_argument(
        "--threshold", type=int, metavar="K", help="distinct trusted signatures needed (1)"
    )


def register(sub: Any) -> None:
    """Add the trust verbs to the main parser's subparsers."""
    from checkpointctl.cli.common import add_common, add_inventory_options
    from checkpointctl.spec import STATE_DIR
    from checkpointctl.trust import DEFAULT_TRUST_DIR  # not .store: that imports cryptography

    p = sub.add_parser("keygen", help="make an Ed25519 signing key pair")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="PREFIX",
        help="writes PREFIX.key (0600) and PREFIX.pub",
    )
    p.add_argument(
        "--unencrypted",
        action="store_true",
        help="do not encrypt the private key (explicit opt-out)",
    )
    p.add_argument("--force", action="store_true", help="replace existing files")
    _passphrase_arg(p)
    p.set_defaults(func=_cmd_keygen)

    p = sub.add_parser("bundle", help="build a signed bundle of every host's desired state")
    add_common(p)
    p.add_argument(
        "--key",
        action="append",
        required=True,
        metavar="KEY",
        help="signing key (repeat to sign with several, e.g. during a rotation)",
    )
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument(
        "--serial",
        type=int,
        metavar="N",
        help="bundle serial; must grow (default: the creation time as a Unix epoch)",
    )
    p.add_argument(
        "--expires",
        default=DEFAULT_EXPIRES,
        metavar="DURATION",
        help=f"validity after creation, e.g. 12h, 7d ({DEFAULT_EXPIRES})",
    )
    p.add_argument(
        "--created",
        metavar="TIME",
        help="creation time (ISO 8601 or epoch; default $SOURCE_DATE_EPOCH, else now)",
    )
    p.add_argument("--limit", metavar="PATTERN", help="Ansible-style host pattern")
    p.add_argument(
        "--revocations", metavar="FILE", help="a signed revocation list for the hosts to adopt"
    )
    _passphrase_arg(p)
    p.set_defaults(func=_cmd_bundle)

    p = sub.add_parser("sign", help="attach another signature to a bundle")
    p.add_argument("bundle", metavar="BUNDLE")
    p.add_argument("--key", action="append", required=True, metavar="KEY")
    p.add_argument("-o", "--output", metavar="FILE", help="default: rewrite BUNDLE")
    _passphrase_arg(p)
    p.set_defaults(func=_cmd_sign)

    p = sub.add_parser("verify", help="verify a bundle (exit 0 only if it is to be believed)")
    p.add_argument("bundle", metavar="BUNDLE")
    _trust_args(p)
    p.add_argument("--trust-dir", metavar="DIR", help="a host trust store to verify against")
    p.add_argument("--revocations", metavar="FILE", help="a signed revocation list")
    p.add_argument("--at", metavar="TIME", help="verify as of this time (default now)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("revoke", help="make a signed revocation list of key IDs")
    p.add_argument("key_ids", nargs="+", metavar="KEYID")
    p.add_argument(
        "--key",
        action="append",
        required=True,
        metavar="KEY",
        help="a still-trusted signing key (repeat to reach a threshold)",
    )
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--extend", metavar="FILE", help="an earlier list whose keys stay revoked")
    p.add_argument("--serial", type=int, metavar="N")
    p.add_argument("--created", metavar="TIME")
    _passphrase_arg(p)
    p.set_defaults(func=_cmd_revoke)

    p = sub.add_parser("agent", help="pull mode: fetch, verify and apply a bundle on this host")
    p.add_argument(
        "--source",
        metavar="URL|PATH",
        help="https://, http://, file:// URL, oci://REGISTRY/REPO:TAG, a path, or - for stdin",
    )
    p.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="an oci:// registry reached over plain HTTP (repeatable)",
    )
    p.add_argument(
        "--registry-auth-file",
        metavar="FILE",
        help="USERNAME:PASSWORD (mode 0600) for an oci:// source: a pull-only token",
    )
    p.add_argument(
        "--trust-dir",
        default=DEFAULT_TRUST_DIR,
        metavar="DIR",
        help=f"trusted keys, revocations, host key ({DEFAULT_TRUST_DIR})",
    )
    _trust_args(p)
    p.add_argument("--host", help="this host's inventory name (default: the hostname)")
    p.add_argument(
        "--state-dir",
        default=STATE_DIR,
        metavar="DIR",
        help=f"anti-rollback record, status, engine records ({STATE_DIR})",
    )
    p.add_argument(
        "--report-url",
        metavar="URL",
        help="after each run, PUT a signed status report here ({host}: this host's name)",
    )
    p.add_argument(
        "--report-interval",
        metavar="DURATION",
        help="the interval a timer runs --once at, written in reports (status flags a report "
        "older than three)",
    )
    p.add_argument("--once", action="store_true", help="one run, then exit (the default)")
    p.add_argument("--interval", metavar="DURATION", help="run every DURATION, e.g. 5m")
    p.add_argument(
        "--jitter",
        metavar="DURATION",
        help="with --interval: a random delay of up to DURATION added to each wait "
        "(default: a tenth of the interval)",
    )
    p.add_argument("--ca-file", metavar="FILE", help="CA bundle for an https:// source")
    p.add_argument("--timeout", type=float, default=30.0, help="fetch timeout in seconds")
    agent_sub = p.add_subparsers(dest="agent_cmd", metavar="[init|status|install]")
    q = agent_sub.add_parser("init", help="make the host key pair and trust store")
    q.add_argument("--trust-dir", dest="init_trust_dir", default=DEFAULT_TRUST_DIR, metavar="DIR")
    q.add_argument(
        "--trust",
        dest="init_trust",
        action="append",
        metavar="KEY.pub",
        help="a signing key to trust (repeat)",
    )
    q.add_argument("--threshold", dest="init_threshold", type=int, metavar="K")
    q.add_argument("--force", action="store_true", help="make a new host key even if one exists")
    q = agent_sub.add_parser("status", help="the last agent run (exit 0 if healthy)")
    q.add_argument("--state-dir", dest="status_state_dir", default=STATE_DIR, metavar="DIR")
    q.add_argument("--format", choices=["text", "json"], default="text")
    from checkpointctl.cli.agentinstall import add_install

    add_install(agent_sub)
    p.set_defaults(func=_cmd_agent)

    p = sub.add_parser(
        "push-bundle", help="signed push: send a bundle over SSH for each host's agent to verify"
    )
    p.add_argument("bundle", metavar="BUNDLE")
    add_inventory_options(p, ssh=True)
    p.add_argument("--limit", metavar="PATTERN")
    p.add_argument("--forks", type=int, default=20)
    p.add_argument(
        "--remote-command",
        default="checkpointctl",
        metavar="PATH",
        help="checkpointctl on the hosts (default: checkpointctl on their PATH)",
    )
    p.add_argument(
        "--trust-dir", default=DEFAULT_TRUST_DIR, metavar="DIR", help="the hosts' trust store"
    )
    p.add_argument("--timeout", type=float, default=600.0)
    p.set_defaults(func=_cmd_push_bundle)
