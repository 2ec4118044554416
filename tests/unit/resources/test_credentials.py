"""Credentials resource logic without a lab host: diff cases, canonical bytes, expiry findings,
the read script's format, and that no secret leaks into plans, reports, errors or reprs."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from checkpointctl.errors import ResourceError
from checkpointctl.model import (
    Action,
    FieldChange,
    Host,
    HostResult,
    HostStatus,
    Planned,
    RunReport,
    Secret,
    report_to_json,
)
from checkpointctl.resources.batched import ReadPlan
from checkpointctl.resources.credentials.resource import (
    CREDENTIALS_DIR,
    MANIFEST_PATH,
    CredentialFile,
    CredentialsActual,
    CredentialsResource,
    CredentialTarget,
    ManifestWant,
    check_specs,
    keyed_digest,
    parse_manifest,
    parse_read_output,
    read_command,
    render_credential,
    render_manifest,
)
from checkpointctl.resources.files import StaleFile
from checkpointctl.spec import CredentialSpec, DesiredState
from checkpointctl.transport import safepath
from checkpointctl.transport.base import CommandResult, FileStat
from checkpointctl.transport.local import LocalTransport

PLAINTEXT = "pl41nt3xt-DO-NOT-LEAK"
OTHER_PLAINTEXT = "0ther-pl41nt3xt-DO-NOT-LEAK"
KEY = "ab" * 32
TODAY = date(2025, 6, 1)
API_PATH = f"{CREDENTIALS_DIR}/api"


def _spec(name: str = "api", **kw: Any) -> CredentialSpec:
    fields: dict[str, Any] = {
        "name": name,
        "username": "monitor-ro",
        "secret": Secret(PLAINTEXT),
        "containers": ("probe",),
        "targets": ("https://shop.example/login",),
        "permissions": ("read",),
        "expires": date(2026, 1, 31),
        "uid": 65534,
        "gid": 65534,
    }
    fields.update(kw)
    return CredentialSpec(**fields)


def _state(*specs: CredentialSpec) -> DesiredState:
    return DesiredState(host="h", credentials=specs)


def _host_with(
    specs: Sequence[CredentialSpec],
    *,
    manifest: bytes | None = None,
    manifest_mode: int = 0o444,
    extra: Sequence[str] = (),
    mode: int = 0o400,
    owner: tuple[int, int] | None = None,
) -> CredentialsActual:
    """What the read would see on a host where ``specs`` were applied (then perhaps edited)."""
    files: dict[str, CredentialFile] = {}
    for s in specs:
        uid, gid = owner if owner is not None else (s.uid, s.gid)
        digest = keyed_digest(KEY, render_credential(s))
        files[s.file_path] = CredentialFile(s.file_path, mode, uid, gid, digest)
    for path in extra:
        files[path] = CredentialFile(path, 0o400, 0, 0, keyed_digest(KEY, b"old"))
    content = render_manifest(specs) if manifest is None else manifest
    if specs or manifest is not None:
        files[MANIFEST_PATH] = CredentialFile(
            MANIFEST_PATH, manifest_mode, 0, 0, keyed_digest(KEY, content)
        )
        return CredentialsActual(files, content, parse_manifest(content), KEY)
    return CredentialsActual(files, None, None, KEY)


def _fields(change: Planned[CredentialTarget]) -> dict[str, tuple[object, object]]:
    return {f.path: (f.before, f.after) for f in change.fields}


class RecordingTransport:
    """Our Transport protocol in memory: records writes and removals (apply's only effects)."""

    def __init__(self) -> None:
        self.host = Host("h", "127.0.0.1")
        self.files: dict[str, tuple[bytes, int, int, int]] = {}
        self.removed: list[str] = []

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
        check: bool = True,
    ) -> CommandResult:
        """Understands only safepath's write and remove (apply's only commands)."""
        args = list(argv)
        if args[:3] == safepath.write_argv("", 0, 0, 0)[:3]:
            path, mode, uid, gid = args[4:8]
            self.files[path] = (stdin or b"", int(mode, 8), int(uid), int(gid))
        elif args[:3] == safepath.remove_argv("")[:3]:
            self.removed.append(args[4])
        else:
            raise AssertionError(f"apply ran an unexpected command: {args[:2]}")
        return CommandResult(tuple(args), 0, b"", b"")

    def read_file(self, path: str) -> bytes | None:
        raise AssertionError("apply must not read files")

    def stat(self, path: str) -> FileStat | None:
        raise AssertionError("apply must not stat files")

    def write_file(self, path: str, data: bytes, *, mode: int, uid: int = 0, gid: int = 0) -> None:
        raise AssertionError("apply writes through safepath, never write_file")

    def remove_file(self, path: str) -> None:
        raise AssertionError("apply removes through safepath, never remove_file")

    def docker(self) -> Any:
        raise AssertionError("credentials need no docker")

    def close(self) -> None:
        return None


RESOURCE = CredentialsResource(today=TODAY)


# -- diff cases ---------------------------------------------------------------------------------


def test_missing_credential_is_created_then_manifest() -> None:
    changes = RESOURCE.diff(_state(_spec()), _host_with([]))
    assert [(c.address, c.action) for c in changes] == [
        ("credential/api", Action.CREATE),
        ("credential/manifest", Action.CREATE),
    ]
    fields = _fields(changes[0])
    assert fields["username"] == (None, "monitor-ro")
    assert fields["secret"] == (None, Secret(PLAINTEXT))
    assert isinstance(fields["secret"][1], Secret)
    assert fields["mode"] == (None, "0400")
    assert fields["owner"] == (None, "65534:65534")
    assert fields["expires"] == (None, "2026-01-31")
    assert changes[0].reason == f"{API_PATH} is missing"
    assert _fields(changes[1])["api.containers"] == (None, ["probe"])


def test_in_sync_gives_no_change() -> None:
    spec = _spec()
    assert RESOURCE.diff(_state(spec), _host_with([spec])) == []


def test_username_changed_is_named_without_secret_field() -> None:
    on_host = _spec(username="monitor-old")
    changes = RESOURCE.diff(_state(_spec()), _host_with([on_host]))
    assert [(c.address, c.action) for c in changes] == [
        ("credential/api", Action.UPDATE),
        ("credential/manifest", Action.UPDATE),
    ]
    assert _fields(changes[0]) == {"username": ("monitor-old", "monitor-ro")}
    assert changes[0].reason == f"{API_PATH}: content differs"
    assert _fields(changes[1]) == {"api.username": ("monitor-old", "monitor-ro")}


def test_only_secret_changed_is_sensitive_field() -> None:
    on_host = _spec(secret=Secret(OTHER_PLAINTEXT))
    changes = RESOURCE.diff(_state(_spec()), _host_with([on_host]))
    # The manifest holds nothing secret-derived, so it is unchanged.
    assert [(c.address, c.action) for c in changes] == [("credential/api", Action.UPDATE)]
    (field,) = changes[0].fields
    assert field.path == "secret"
    assert isinstance(field.before, Secret)
    assert isinstance(field.after, Secret)
    out = report_to_json(_report(changes))
    assert '"before": "<sensitive>", "after": "<sensitive>"' in json.dumps(out)
    assert changes[0].reason == f"{API_PATH}: content differs"


def test_secret_and_scope_changed_names_both() -> None:
    on_host = _spec(secret=Secret(OTHER_PLAINTEXT), targets=("https://old.example/",))
    changes = RESOURCE.diff(_state(_spec()), _host_with([on_host]))
    fields = _fields(changes[0])
    assert set(fields) == {"targets", "secret"}
    assert fields["targets"] == (["https://old.example/"], ["https://shop.example/login"])


def test_scope_and_expiry_changes_without_secret() -> None:
    on_host = _spec(permissions=("read", "write"), expires=date(2025, 12, 31))
    changes = RESOURCE.diff(_state(_spec()), _host_with([on_host]))
    assert _fields(changes[0]) == {
        "permissions": (["read", "write"], ["read"]),
        "expires": ("2025-12-31", "2026-01-31"),
    }


def test_mode_drift() -> None:
    spec = _spec()
    changes = RESOURCE.diff(_state(spec), _host_with([spec], mode=0o644))
    assert [(c.address, c.action) for c in changes] == [("credential/api", Action.UPDATE)]
    assert _fields(changes[0]) == {"mode": ("0644", "0400")}
    assert changes[0].reason == f"{API_PATH}: permissions or owner changed"


def test_owner_drift() -> None:
    spec = _spec()
    changes = RESOURCE.diff(_state(spec), _host_with([spec], owner=(0, 0)))
    assert _fields(changes[0]) == {"owner": ("0:0", "65534:65534")}


def test_content_without_manifest_entry_is_sensitive_content() -> None:
    spec = _spec()
    other = _spec("other")
    on_host = _host_with([_spec(secret=Secret(OTHER_PLAINTEXT)), other])
    # The manifest only knows "other": the api file's difference cannot be explained by fields.
    manifest = render_manifest([other])
    actual = replace(on_host, manifest=manifest, manifest_entries=parse_manifest(manifest))
    changes = RESOURCE.diff(_state(spec, other), actual)
    api = next(c for c in changes if c.address == "credential/api")
    (field,) = api.fields
    assert field.path == "content"
    assert isinstance(field.before, Secret)
    assert isinstance(field.after, Secret)


def test_stale_credential_is_removed() -> None:
    spec = _spec()
    stale = f"{CREDENTIALS_DIR}/retired"
    changes = RESOURCE.diff(_state(spec), _host_with([spec], extra=[stale]))
    assert [(c.address, c.action) for c in changes] == [("credential/retired", Action.DELETE)]
    assert changes[0].desired == StaleFile(stale)
    assert "stale credential removed" in changes[0].reason
    assert _fields(changes[0]) == {"file": (stale, None)}


def test_stale_with_a_wanted_name_gets_a_distinct_address() -> None:
    moved = _spec(path="/etc/checkpoint/probe/api")
    changes = RESOURCE.diff(_state(moved), _host_with([moved], extra=[API_PATH]))
    assert [(c.address, c.action) for c in changes] == [
        ("credential/etc/checkpoint/credentials/api", Action.DELETE)
    ]


def test_no_credentials_removes_files_and_manifest() -> None:
    actual = _host_with([_spec()])
    changes = RESOURCE.diff(_state(), actual)
    assert [(c.address, c.action) for c in changes] == [
        ("credential/api", Action.DELETE),
        ("credential/manifest", Action.DELETE),
    ]
    assert [c.desired for c in changes] == [StaleFile(API_PATH), StaleFile(MANIFEST_PATH)]


def test_nothing_on_host_and_nothing_wanted_is_in_sync() -> None:
    assert RESOURCE.diff(_state(), _host_with([])) == []


def test_manifest_scope_edited_by_hand() -> None:
    spec = _spec()
    doc = json.loads(render_manifest([spec]))
    doc["credentials"]["api"]["containers"] = ["probe", "rogue"]
    edited = json.dumps(doc).encode()
    changes = RESOURCE.diff(_state(spec), _host_with([spec], manifest=edited))
    assert [(c.address, c.action) for c in changes] == [("credential/manifest", Action.UPDATE)]
    assert _fields(changes[0]) == {"api.containers": (["probe", "rogue"], ["probe"])}
    assert isinstance(changes[0].desired, ManifestWant)
    assert changes[0].desired.content == render_manifest([spec])


def test_manifest_mode_drift_and_garbage() -> None:
    spec = _spec()
    changes = RESOURCE.diff(_state(spec), _host_with([spec], manifest_mode=0o666))
    assert _fields(changes[0]) == {"mode": ("0666", "0444")}
    changes = RESOURCE.diff(_state(spec), _host_with([spec], manifest=b"not json"))
    assert _fields(changes[0]) == {"content": ("unreadable", "manifest v1")}
    reformatted = json.dumps(json.loads(render_manifest([spec]))).encode()
    changes = RESOURCE.diff(_state(spec), _host_with([spec], manifest=reformatted))
    assert _fields(changes[0]) == {"content": ("non-canonical", "canonical JSON")}


def test_order_is_deterministic() -> None:
    b, a = _spec("b-cred"), _spec("a-cred")
    actual = _host_with([], extra=[f"{CREDENTIALS_DIR}/z-old", f"{CREDENTIALS_DIR}/c-old"])
    first = RESOURCE.diff(_state(b, a), actual)
    assert [c.address for c in first] == [
        "credential/a-cred",
        "credential/b-cred",
        "credential/c-old",
        "credential/z-old",
        "credential/manifest",
    ]
    assert RESOURCE.diff(_state(a, b), actual) == first


def test_a_credential_outside_the_directory_is_not_stale() -> None:
    spec = _spec(path="/etc/checkpoint/probe/login.json")
    assert RESOURCE.diff(_state(spec), _host_with([spec])) == []


# -- unsafe specs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (_spec("manifest"), "reserved or invalid name"),
        (_spec("manifest.json"), "reserved or invalid name"),
        (_spec("../x"), "reserved or invalid name"),
        (_spec(path="/etc/checkpoint/../shadow"), "normalised file path"),
        (_spec(path="/etc/shadow"), "normalised file path"),
        (_spec(path=MANIFEST_PATH), "other than the manifest"),
    ],
)
def test_unsafe_specs_are_refused(spec: CredentialSpec, message: str) -> None:
    with pytest.raises(ResourceError, match=message):
        check_specs([spec])
    with pytest.raises(ResourceError):
        RESOURCE.diff(_state(spec), _host_with([]))


def test_two_credentials_on_one_file_are_refused() -> None:
    with pytest.raises(ResourceError, match="both use the file"):
        check_specs([_spec("a", path=API_PATH), _spec("api")])


# -- canonical bytes ----------------------------------------------------------------------------


def test_credential_bytes_are_canonical() -> None:
    a = render_credential(_spec(targets=("https://b/", "https://a/"), permissions=("w", "r")))
    b = render_credential(
        _spec(targets=("https://a/", "https://b/", "https://a/"), permissions=("r", "w"))
    )
    assert a == b
    assert a.endswith(b"}\n")
    assert json.loads(a) == {
        "username": "monitor-ro",
        "secret": PLAINTEXT,
        "targets": ["https://a/", "https://b/"],
        "permissions": ["r", "w"],
        "expires": "2026-01-31",
    }
    assert json.loads(render_credential(_spec(expires=None)))["expires"] is None
    assert render_credential(_spec(secret=Secret(OTHER_PLAINTEXT))) != render_credential(_spec())


def test_manifest_holds_scopes_and_nothing_secret_derived() -> None:
    spec = _spec()
    raw = render_manifest([_spec("z"), spec])
    assert raw == render_manifest([spec, _spec("z")])
    doc = json.loads(raw)
    assert doc["version"] == 1
    assert doc["credentials"]["api"] == {
        "path": API_PATH,
        "username": "monitor-ro",
        "containers": ["probe"],
        "targets": ["https://shop.example/login"],
        "permissions": ["read"],
        "expires": "2026-01-31",
        "uid": 65534,
        "gid": 65534,
    }
    text = raw.decode()
    for derived in (
        PLAINTEXT,
        spec.secret.digest(),
        hashlib.sha256(PLAINTEXT.encode()).hexdigest(),
        hashlib.sha256(render_credential(spec)).hexdigest(),
    ):
        assert derived not in text


def test_non_utf8_secret_is_refused_without_quoting_it() -> None:
    spec = _spec(secret=Secret(b"\xffsecret-bytes"))
    with pytest.raises(ResourceError) as info:
        render_credential(spec)
    text = str(info.value) + repr(info.value)
    assert "api" in text
    assert "\\xff" not in text
    assert "secret-bytes" not in text
    assert info.value.__suppress_context__


# -- expiry findings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires", "severity"),
    [
        (None, None),
        (TODAY + timedelta(days=15), None),
        (TODAY + timedelta(days=14), "warning"),
        (TODAY, "warning"),
        (TODAY - timedelta(days=1), "error"),
    ],
)
def test_expiry_findings(expires: date | None, severity: str | None) -> None:
    state = _state(_spec(expires=expires))
    found = RESOURCE.findings(state, _host_with([]))
    assert [f.severity for f in found] == ([severity] if severity else [])
    if severity:
        assert found[0].address == "credential/api"
        assert expires is not None
        assert expires.isoformat() in found[0].message


def test_expiry_uses_todays_date_by_default() -> None:
    state = _state(_spec(expires=date.today() - timedelta(days=1)))
    assert [f.severity for f in CredentialsResource().findings(state, None)] == ["error"]


# -- apply ----------------------------------------------------------------------------------------


def test_apply_writes_0400_owned_by_the_container_user_and_manifest_0444() -> None:
    spec = _spec()
    transport = RecordingTransport()
    for change in RESOURCE.diff(_state(spec), _host_with([], extra=[f"{CREDENTIALS_DIR}/old"])):
        RESOURCE.apply(transport, change)
    assert transport.files[API_PATH] == (render_credential(spec), 0o400, 65534, 65534)
    assert transport.files[MANIFEST_PATH] == (render_manifest([spec]), 0o444, 0, 0)
    assert transport.removed == [f"{CREDENTIALS_DIR}/old"]


# -- the read script ------------------------------------------------------------------------------


def test_parse_read_output() -> None:
    shas = [hashlib.sha256(x).hexdigest().encode() for x in (b"a", b"b", b"c")]
    paths = [API_PATH, "/etc/checkpoint/credentials/with space", MANIFEST_PATH]
    out = (
        b"1 3\n"
        + b"".join(p.encode() + b"\n" for p in paths)
        + b"755 0 0\n400 65534 65534\n644 0 0\n444 0 0\n"
        + shas[0] + b"  " + paths[0].encode() + b"\n"
        + b"\\" + shas[1] + b"  with\\\\space\n"  # sha256sum's escaped form
        + shas[2] + b"  " + paths[2].encode() + b"\n"
        + b"--manifest--\n" + render_manifest([_spec()])
    )  # fmt: skip
    actual = parse_read_output(out, KEY)
    assert actual.directory_mode == 0o755
    assert actual.files[API_PATH] == CredentialFile(
        API_PATH, 0o400, 65534, 65534, keyed_digest(KEY, b"a")
    )
    assert actual.files[paths[1]].mode == 0o644
    assert actual.files[paths[1]].digest == keyed_digest(KEY, b"b")
    assert actual.files[MANIFEST_PATH].digest == keyed_digest(KEY, b"c")
    assert actual.manifest == render_manifest([_spec()])
    assert actual.manifest_entries is not None
    assert set(actual.manifest_entries) == {"api"}
    empty = parse_read_output(b"0 0\n", KEY)
    assert (empty.files, empty.manifest, empty.directory_mode) == ({}, None, None)


@pytest.mark.parametrize(
    ("output", "line"),
    [
        (b"", 1),
        (b"2 0\n", 1),
        (b"0 1\n/x\n", 3),  # the stat line is missing
        (b"0 1\n/x\n400 0 0\nhunter2 oops\n", 4),  # not a SHA-256
        (b"0 1\n/x\n400 0 0\n" + b"a" * 64 + b"  /x\nhunter2 trailing", 5),
    ],
)
def test_parse_read_output_rejects_garbage_without_echoing_it(output: bytes, line: int) -> None:
    with pytest.raises(ResourceError, match=rf"line {line}\)") as info:
        parse_read_output(output, KEY)
    assert "hunter2" not in str(info.value)


def _read(
    transport: LocalTransport, directory: str, outside: list[str] | None = None
) -> CredentialsActual:
    """The resource's own read (its read plan's script, run, then its ``read_finish``) of a
    directory other than the fixed credentials directory."""
    command, key = read_command(directory, outside or ())
    result = transport.run(command.argv, stdin=command.stdin, check=False)
    return RESOURCE.read_finish(transport, _state(), ReadPlan((command,), context=key), [result])


def test_read_script_matches_keyed_digest(tmp_path: Path) -> None:
    """The shell script and ``keyed_digest`` agree, and odd names are handled (real ``sh``)."""
    d = tmp_path / "credentials"
    d.mkdir()
    (d / "api").write_bytes(b'{"secret": "x"}\n')
    (d / "api").chmod(0o400)
    (d / "with space").write_bytes(b"y")
    (d / "new\nline").write_bytes(b"z")
    (d / "back\\slash").write_bytes(b"b")  # sha256sum escapes such a name in its output
    (d / "sub").mkdir()
    (d / ".hidden").write_bytes(b"h")
    (d / "manifest.json").write_bytes(render_manifest([_spec()]))
    outside = tmp_path / "outside.json"
    outside.write_bytes(b"o")
    transport = LocalTransport(Host("local", "127.0.0.1", connection="local"))
    actual = _read(transport, str(d), [str(outside), str(tmp_path / "absent")])
    names = {os.path.basename(p) for p in actual.files}
    assert names == {"api", "with space", "back\\slash", "manifest.json", "outside.json"}
    for path, state in actual.files.items():
        assert state.digest == keyed_digest(actual.key, Path(path).read_bytes())
        assert state.digest != hashlib.sha256(Path(path).read_bytes()).hexdigest()
    assert actual.files[str(d / "api")].mode == 0o400
    assert actual.manifest == render_manifest([_spec()])
    again = _read(transport, str(d))
    assert again.key != actual.key  # a fresh key each read


# -- no leaks -------------------------------------------------------------------------------------


def _report(changes: Sequence[Planned[CredentialTarget]]) -> RunReport:
    plain = tuple(c.change for c in changes)
    return RunReport(mode="drift", hosts=(HostResult("h", HostStatus.DRIFT, changes=plain),))


def test_plaintext_never_leaks_from_plans_reports_or_reprs() -> None:
    """Every diff path and apply with a distinctive plaintext: it is only in the written file."""
    spec = _spec()
    changed = _spec(secret=Secret(OTHER_PLAINTEXT), username="old")
    cases = [
        _host_with([]),
        _host_with([changed]),
        _host_with([_spec(secret=Secret(OTHER_PLAINTEXT))], mode=0o644, owner=(0, 0)),
        replace(_host_with([changed]), manifest=None, manifest_entries=None),
        _host_with([spec], extra=[f"{CREDENTIALS_DIR}/old"], manifest=b"{}"),
    ]
    changes: list[Planned[CredentialTarget]] = []
    for actual in cases:
        changes.extend(RESOURCE.diff(_state(spec), actual))
        changes.extend(RESOURCE.diff(_state(), actual))
    assert {f.path for c in changes for f in c.fields} >= {"secret", "content", "username"}
    transport = RecordingTransport()
    for change in changes:
        RESOURCE.apply(transport, change)
    findings = RESOURCE.findings(_state(_spec(expires=TODAY)), cases[0])
    texts = [
        repr(changes),
        str(changes),
        repr(findings),
        json.dumps(report_to_json(_report(changes))),
        repr(cases),
        repr(spec),
        repr([c.desired for c in changes]),
        repr(FieldChange("secret", spec.secret, spec.secret)),
    ]
    for text in texts:
        for plain in (PLAINTEXT, OTHER_PLAINTEXT):
            assert plain not in text
    written = {path for path, (data, *_) in transport.files.items() if PLAINTEXT.encode() in data}
    assert written == {API_PATH}
