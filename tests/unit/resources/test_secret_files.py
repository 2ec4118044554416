"""Secret files: rendering, drift by keyed digest, stale removal; the content is never shown."""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml

from checkpointctl.errors import ResourceError
from checkpointctl.model import Action, Secret
from checkpointctl.policy.secret_files import build_secret_file
from checkpointctl.resources.credentials.files import (
    check_specs,
    diff_secret_files,
    render_secret_file,
)
from checkpointctl.resources.credentials.resource import parse_read_output
from checkpointctl.spec import DesiredState, SecretFileSpec

TOKEN = 'tok"en\\with-quotes'


def _spec(fmt: str = "json") -> SecretFileSpec:
    content = {"site": "datadoghq.eu", "accessKey": "$CHECKPOINTCTL_VAULT;x",
               "nested": {"list": ["$CHECKPOINTCTL_VAULT;y", 3]}}  # fmt: skip
    paths: list[str] = []

    def seal(text: str, path: str) -> Secret:
        paths.append(path)
        return Secret(TOKEN if text.endswith("x") else "second")

    spec = build_secret_file(
        "dd-worker", 0, {"path": "/etc/datadog/c.json", "format": fmt, "content": content},
        10001, 10001, seal,
    )  # fmt: skip
    assert paths == [
        "containers.dd-worker.files[0].content.accessKey",
        "containers.dd-worker.files[0].content.nested.list[0]",
    ]
    return spec


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_render_puts_secrets_back_into_a_valid_document(fmt: str) -> None:
    spec = _spec(fmt)
    assert TOKEN not in spec.template
    assert "second" not in spec.template
    data = render_secret_file(spec)
    doc = json.loads(data) if fmt == "json" else yaml.safe_load(data)
    assert doc == {"site": "datadoghq.eu", "accessKey": TOKEN,
                   "nested": {"list": ["second", 3]}}  # fmt: skip


def _read(files: dict[str, tuple[bytes, str]], key: str = "k") -> bytes:
    """The credentials read script's output for ``files`` (path → (content, mode uid gid))."""
    paths = sorted(files)
    lines = [f"1 {len(paths)}", *paths, "755 0 0", *(files[p][1] for p in paths)]
    lines += [f"{hashlib.sha256(files[p][0]).hexdigest()}  {p}" for p in paths]
    return ("\n".join(lines) + "\n").encode()


def test_in_sync_then_hand_edit_is_a_sensitive_content_change_then_stale_is_removed() -> None:
    spec = _spec()
    state = DesiredState(host="h", secret_files=(spec,))
    good = {spec.file_path: (render_secret_file(spec), "400 10001 10001")}
    assert diff_secret_files(state, parse_read_output(_read(good), "k")) == []

    edited = {spec.file_path: (b"{}", "400 10001 10001")}
    (change,) = diff_secret_files(state, parse_read_output(_read(edited), "k"))
    assert change.address == "secret-file/dd-worker/etc/datadog/c.json"
    assert change.action is Action.UPDATE
    assert [f.path for f in change.fields] == ["content"]
    shown = json.dumps(change.to_json()) if hasattr(change, "to_json") else repr(change)
    assert TOKEN not in shown
    assert "second" not in shown

    stale = {**good, "/etc/checkpoint/secret-files/old_x.json": (b"x", "400 0 0")}
    (removal,) = diff_secret_files(state, parse_read_output(_read(stale), "k"))
    assert removal.action is Action.DELETE

    wrong_mode = {spec.file_path: (render_secret_file(spec), "644 0 0")}
    (meta,) = diff_secret_files(state, parse_read_output(_read(wrong_mode), "k"))
    assert [f.path for f in meta.fields] == ["mode", "owner"]


def test_two_files_on_one_host_path_are_refused() -> None:
    spec = _spec()
    with pytest.raises(ResourceError, match="would share"):
        check_specs([spec, spec])
