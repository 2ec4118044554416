"""Bundles: byte-identical builds, what the archive holds, and every reason to refuse one.

Each refusal has its own message; the tests pin the part of it a user acts on.
"""

from __future__ import annotations

import io
import json
import tarfile
from datetime import timedelta
from pathlib import Path

import pytest
from trust_samples import (
    CREATED,
    DURING,
    EXPIRES,
    PLAIN_A,
    PLAIN_B,
    make_bundle,
    plain_state,
    rewrite_tar,
    state,
    tar_members,
)

from checkpointctl.cli.main import main
from checkpointctl.errors import TrustError
from checkpointctl.trust import bundle as bundle_mod
from checkpointctl.trust.bundle import Manifest, read_bundle, sign_bundle
from checkpointctl.trust.keys import (
    HostKey,
    PublicKey,
    SigningKey,
    generate_host_key,
    generate_signing_key,
    write_signing_key,
)
from checkpointctl.trust.revocation import (
    make_revocations,
    parse_revocations,
    verify_revocations,
)
from checkpointctl.trust.verify import host_state, verify_bundle

OLD = generate_signing_key()
NEW = generate_signing_key()
OTHER = generate_signing_key()
HOST_A = generate_host_key()
HOST_B = generate_host_key()
HOSTS: dict[str, HostKey | None] = {"cp-a": HOST_A, "cp-b": HOST_B}


def trusted(*keys: SigningKey) -> dict[str, PublicKey]:
    return {k.key_id: k.public for k in keys}


def revoke(*ids: str, by: SigningKey, serial: int = 1) -> bytes:
    return make_revocations(ids, [by], serial=serial, created=CREATED)


@pytest.fixture(scope="module")
def signed() -> bytes:
    return make_bundle([OLD], HOSTS)


# --- building ----------------------------------------------------------------------------------


def test_same_inputs_give_byte_identical_bundles(signed: bytes) -> None:
    assert make_bundle([OLD], HOSTS) == signed
    assert make_bundle([OLD], HOSTS, created=CREATED + timedelta(seconds=1)) != signed
    assert make_bundle([OLD], HOSTS, serial=8) != signed


def test_archive_layout_is_fixed(signed: bytes) -> None:
    members = tar_members(signed)
    assert [i.name for i, _ in members] == [
        "manifest.json",
        "hosts/cp-a.json",
        "hosts/cp-b.json",
        f"signatures/{OLD.key_id}.sig",
    ]
    for info, _ in members:
        assert (info.mtime, info.uid, info.gid, info.uname, info.gname) == (0, 0, 0, "", "")
        assert (info.mode, info.type) == (0o644, tarfile.REGTYPE)
    manifest = json.loads(members[0][1])
    assert manifest["format"] == "checkpointctl-bundle"
    assert manifest["format_version"] == 1
    assert manifest["serial"] == 7
    assert (manifest["created"], manifest["expires"]) == (
        "2026-01-01T12:00:00Z",
        "2026-01-08T12:00:00Z",
    )
    assert manifest["key_ids"] == [OLD.key_id]
    assert sorted(manifest["members"]) == ["hosts/cp-a.json", "hosts/cp-b.json"]
    host_doc = json.loads(members[1][1])
    assert host_doc["host"] == "cp-a"
    assert host_doc["sealed_to"] == HOST_A.key_id


def test_secrets_are_not_in_the_archive_in_clear(signed: bytes) -> None:
    for secret in (PLAIN_A, PLAIN_B, b"api-token-value-xyz"):
        assert secret not in signed


def test_each_host_opens_its_own_secrets(signed: bytes) -> None:
    bundle = verify_bundle(signed, trusted(OLD), now=DURING)
    a = host_state(bundle, "cp-a", HOST_A)
    b = host_state(bundle, "cp-b", HOST_B)
    assert a == state("cp-a", PLAIN_A)
    assert b == state("cp-b", PLAIN_B)


def test_host_a_cannot_decrypt_host_bs_credentials(signed: bytes) -> None:
    bundle = verify_bundle(signed, trusted(OLD), now=DURING)
    with pytest.raises(TrustError, match="secrets are sealed to host key") as info:
        host_state(bundle, "cp-b", HOST_A)
    assert HOST_B.key_id in str(info.value)
    # Even lying about the recipient does not help: the AEAD needs B's private key.
    from checkpointctl.trust.seal import unseal

    doc = json.loads(bundle.members["hosts/cp-b.json"])
    blob = {**doc["state"]["credentials"][0]["secret"], "to": HOST_A.key_id}
    with pytest.raises(TrustError, match="does not open with this host's key"):
        unseal(blob, HOST_A, "cp-b", "credentials[0].secret")
    with pytest.raises(TrustError, match="does not open with this host's key"):
        unseal(blob, HOST_A, "cp-a", "credentials[0].secret")


def test_a_host_without_a_key_gets_no_secrets() -> None:
    with pytest.raises(TrustError, match=r"no agent_public_key in the inventory.*: cp-c"):
        make_bundle([OLD], {"cp-a": HOST_A, "cp-c": None})
    data = make_bundle([OLD], {"cp-a": HOST_A, "cp-c": None}, states={"cp-c": plain_state("cp-c")})
    bundle = verify_bundle(data, trusted(OLD), now=DURING)
    assert json.loads(bundle.members["hosts/cp-c.json"])["sealed_to"] is None
    assert host_state(bundle, "cp-c", None) == plain_state("cp-c")


def test_a_host_missing_from_the_bundle_is_named(signed: bytes) -> None:
    bundle = verify_bundle(signed, trusted(OLD), now=DURING)
    with pytest.raises(TrustError, match="has no state for host cp-z"):
        host_state(bundle, "cp-z", HOST_A)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"expires": CREATED}, "expire before it was created"),
        ({"serial": -1}, "--serial must be a non-negative"),
    ],
)
def test_build_refuses_bad_windows_and_serials(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(TrustError, match=message):
        make_bundle([OLD], HOSTS, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(TrustError, match="must be signed"):
        make_bundle([], HOSTS)


# --- verification: ok and each refusal ---------------------------------------------------------


def test_a_good_bundle_verifies(signed: bytes) -> None:
    bundle = verify_bundle(signed, trusted(OLD, OTHER), now=DURING)
    assert bundle.signers == (OLD.key_id,)
    assert bundle.manifest.serial == 7
    assert bundle.manifest.hosts == ("cp-a", "cp-b")
    assert bundle.manifest_sha256.startswith("sha256:")


def test_tampered_member_is_refused(signed: bytes) -> None:
    def edit(name: str, body: bytes) -> bytes:
        return body.replace(b'"inbound_default":"drop"', b'"inbound_default":"accept"')

    tampered = rewrite_tar(signed, edit)
    assert tampered != signed
    with pytest.raises(TrustError, match=r"hosts/cp-a.json does not match the signed manifest"):
        verify_bundle(tampered, trusted(OLD), now=DURING)


def test_tampered_manifest_is_refused(signed: bytes) -> None:
    def edit(name: str, body: bytes) -> bytes:
        return body.replace(b'"serial":7', b'"serial":9') if name == "manifest.json" else body

    with pytest.raises(TrustError, match="manifest was modified after it was signed"):
        verify_bundle(rewrite_tar(signed, edit), trusted(OLD), now=DURING)


def test_wrong_key_is_refused(signed: bytes) -> None:
    with pytest.raises(TrustError, match="not signed by any trusted key") as info:
        verify_bundle(signed, trusted(OTHER), now=DURING)
    assert OLD.key_id in str(info.value)
    assert OTHER.key_id in str(info.value)


def test_revoked_key_is_refused() -> None:
    data = make_bundle([OLD], HOSTS)
    revoked = verify_revocations(
        parse_revocations(revoke(OLD.key_id, by=NEW), "r.json"), trusted(OLD, NEW)
    )
    with pytest.raises(TrustError, match=f"signed by revoked key {OLD.key_id}"):
        verify_bundle(data, trusted(OLD, NEW), now=DURING, revoked=revoked)


def test_below_threshold_is_refused(signed: bytes) -> None:
    with pytest.raises(TrustError, match=r"1 valid signature\(s\).* but 2 are required"):
        verify_bundle(signed, trusted(OLD, NEW), now=DURING, threshold=2)


def test_expired_is_refused(signed: bytes) -> None:
    with pytest.raises(TrustError, match="expired at 2026-01-08T12:00:00Z"):
        verify_bundle(signed, trusted(OLD), now=EXPIRES)
    verify_bundle(signed, trusted(OLD), now=EXPIRES - timedelta(seconds=1))


def test_unsigned_is_refused(signed: bytes) -> None:
    bare = rewrite_tar(signed, lambda n, b: None if n.startswith("signatures/") else b)
    with pytest.raises(TrustError, match="the bundle is not signed"):
        verify_bundle(bare, trusted(OLD), now=DURING)


def test_added_and_removed_members_are_refused(signed: bytes) -> None:
    info = tarfile.TarInfo("hosts/cp-x.json")
    info.size = 2
    added = rewrite_tar(signed, lambda n, b: b, extra=[(info, b"{}")])
    with pytest.raises(TrustError, match=r"hosts/cp-x.json is not listed in the signed manifest"):
        verify_bundle(added, trusted(OLD), now=DURING)
    removed = rewrite_tar(signed, lambda n, b: None if n == "hosts/cp-b.json" else b)
    with pytest.raises(TrustError, match=r"manifest lists hosts/cp-b.json but the bundle lacks it"):
        verify_bundle(removed, trusted(OLD), now=DURING)


# --- rotation and thresholds --------------------------------------------------------------------


def test_rotation_old_and_new_keys_sign_hosts_trusting_either_accept() -> None:
    data = make_bundle([OLD, NEW], HOSTS)
    assert verify_bundle(data, trusted(OLD), now=DURING).signers == (OLD.key_id,)
    assert verify_bundle(data, trusted(NEW), now=DURING).signers == (NEW.key_id,)
    both = verify_bundle(data, trusted(OLD, NEW), now=DURING, threshold=2)
    assert set(both.signers) == {OLD.key_id, NEW.key_id}
    # after the old key is revoked, the new signature alone still carries the bundle
    revoked = frozenset({OLD.key_id})
    assert verify_bundle(data, trusted(OLD, NEW), now=DURING, revoked=revoked).signers == (
        NEW.key_id,
    )
    with pytest.raises(TrustError, match=f"revoked key {OLD.key_id} does not count"):
        verify_bundle(data, trusted(OLD, NEW), now=DURING, revoked=revoked, threshold=2)


def test_sign_bundle_attaches_a_signature_without_touching_the_rest(signed: bytes) -> None:
    again = sign_bundle(signed, NEW)
    before, after = read_bundle(signed), read_bundle(again)
    assert after.manifest == before.manifest
    assert after.members == before.members
    assert set(after.signatures) == {OLD.key_id, NEW.key_id}
    assert len(verify_bundle(again, trusted(OLD, NEW), now=DURING, threshold=2).signers) == 2


def test_one_key_cannot_count_twice(signed: bytes) -> None:
    sig = read_bundle(signed).signatures[OLD.key_id]
    info = tarfile.TarInfo(f"signatures/{OLD.key_id}.sig")
    import base64

    body = base64.b64encode(sig) + b"\n"
    info.size = len(body)
    doubled = rewrite_tar(signed, lambda n, b: b, extra=[(info, body)])
    with pytest.raises(TrustError, match="appears twice"):
        verify_bundle(doubled, trusted(OLD), now=DURING, threshold=2)


def test_embedded_revocation_list_is_verified_and_applied() -> None:
    rl = revoke(OLD.key_id, by=NEW)
    data = make_bundle([OLD, NEW], HOSTS, revocations=rl)
    bundle = verify_bundle(data, trusted(OLD, NEW), now=DURING)
    assert bundle.signers == (NEW.key_id,)
    assert bundle.revocations is not None
    assert bundle.revocations.revoked == {OLD.key_id}
    # a list signed by a key the host does not trust is not believed, and the bundle is refused
    rogue = make_bundle([OLD], HOSTS, revocations=revoke(NEW.key_id, by=OTHER))
    with pytest.raises(TrustError, match=r"revocation list in the bundle .* not believed"):
        verify_bundle(rogue, trusted(OLD, NEW), now=DURING)


# --- revocation lists ---------------------------------------------------------------------------


def test_revocation_list_rules() -> None:
    with pytest.raises(TrustError, match="cannot sign a list that revokes it"):
        revoke(OLD.key_id, by=OLD)
    with pytest.raises(TrustError, match="not key IDs"):
        revoke("nothex", by=NEW)
    rl = parse_revocations(revoke(OLD.key_id, by=NEW, serial=3), "r.json")
    assert rl.serial == 3
    assert verify_revocations(rl, trusted(OLD, NEW)) == {OLD.key_id}
    with pytest.raises(TrustError, match=r"not believed.*not trusted"):
        verify_revocations(rl, trusted(OLD))
    with pytest.raises(TrustError, match=r"not believed.*revoked"):
        verify_revocations(rl, trusted(OLD, NEW), known_revoked={NEW.key_id})
    doc = json.loads(revoke(OLD.key_id, by=NEW))
    doc["revoked"].append(OTHER.key_id)
    edited = parse_revocations(json.dumps(doc).encode(), "r.json")
    with pytest.raises(TrustError, match="invalid signature"):
        verify_revocations(edited, trusted(OLD, NEW))


def test_a_manifest_signature_is_not_a_revocation_signature(signed: bytes) -> None:
    contents = read_bundle(signed)
    rl = parse_revocations(revoke(OTHER.key_id, by=NEW), "r.json")
    stolen = {OLD.key_id: contents.signatures[OLD.key_id]}
    forged = type(rl)(rl.serial, rl.created, rl.revoked, stolen)
    with pytest.raises(TrustError, match="invalid signature"):
        verify_revocations(forged, trusted(OLD))


# --- hostile archives ---------------------------------------------------------------------------


def _tar(*members: tarfile.TarInfo) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for m in members:
            tar.addfile(m, io.BytesIO(b"x" * m.size) if m.isreg() else None)
    return out.getvalue()


def _info(name: str, kind: bytes = tarfile.REGTYPE, size: int = 1) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size if kind == tarfile.REGTYPE else 0
    if kind == tarfile.SYMTYPE:
        info.linkname = "/etc/shadow"
    return info


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"certainly not a tar", "not a readable tar archive|no manifest"),
        (_tar(_info("hosts/a.json")), "no manifest.json"),
        (_tar(_info("manifest.json"), _info("../etc/passwd")), "unexpected member '../etc/passwd'"),
        (_tar(_info("manifest.json"), _info("hosts/x/../../y.json")), "unexpected member"),
        (_tar(_info("manifest.json", tarfile.SYMTYPE)), "not a regular file"),
        (_tar(_info("hosts", tarfile.DIRTYPE)), "unexpected member 'hosts'"),
        (_tar(_info("manifest.json"), _info("signatures/zz.sig")), "unexpected member"),
    ],
)
def test_hostile_archives_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(TrustError, match=f"not a valid bundle: .*({message})"):
        verify_bundle(data, trusted(OLD), now=DURING)


def test_oversized_members_are_refused(signed: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle_mod, "MAX_MEMBER_BYTES", 64)
    with pytest.raises(TrustError, match="larger than 64 bytes"):
        read_bundle(signed)


def test_manifest_parsing_is_strict(signed: bytes) -> None:
    raw = read_bundle(signed).manifest
    assert Manifest.from_bytes(raw).to_bytes() == raw
    doc = json.loads(raw)
    for edit, message in (
        ({"format_version": 2}, "unsupported format_version 2"),
        ({"extra": 1}, "unknown field"),
        ({"serial": "7"}, "serial must be"),
        ({"expires": "tomorrow"}, "expires must be a UTC time"),
        ({"hosts": ["cp-a"]}, "members do not match hosts"),
    ):
        with pytest.raises(TrustError, match=message):
            Manifest.from_bytes(json.dumps({**doc, **edit}).encode())
    with pytest.raises(TrustError, match="duplicate key"):
        Manifest.from_bytes(b'{"serial":1,"serial":2}')


# --- the CLI ------------------------------------------------------------------------------------


def test_verify_cli_exit_codes(
    signed: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fleet.cpb"
    path.write_bytes(signed)
    old_pub = tmp_path / "old.pub"
    old_pub.write_text(OLD.public.to_text())
    other_pub = tmp_path / "other.pub"
    other_pub.write_text(OTHER.public.to_text())
    at = ["--at", "2026-01-02T00:00:00Z"]
    assert main(["verify", str(path), "--trust", str(old_pub), *at]) == 0
    assert f"ok: {path}: serial 7" in capsys.readouterr().out
    assert main(["verify", str(path), "--trust", str(other_pub), *at]) == 1
    assert "not signed by any trusted key" in capsys.readouterr().err
    assert main(["verify", str(path), "--trust", str(old_pub), "--at", "2026-02-01"]) == 1
    assert "expired" in capsys.readouterr().err
    args = ["--trust", str(old_pub), "--trust", str(other_pub), "--threshold", "2", *at]
    assert main(["verify", str(path), *args]) == 1
    assert "but 2 are required" in capsys.readouterr().err
    rl = tmp_path / "revoked.json"
    rl.write_bytes(revoke(OLD.key_id, by=OTHER))
    revoked = ["--trust", str(old_pub), "--trust", str(other_pub), "--revocations", str(rl)]
    assert main(["verify", str(path), *revoked, *at]) == 1
    assert "revoked key" in capsys.readouterr().err


def test_bundle_and_sign_cli_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "fw.yml").write_text(
        "apiVersion: checkpointctl/v1\nkind: CheckpointPolicy\nmetadata: {name: fw}\n"
        "selector: {groups: [pull]}\nspec:\n  firewall:\n    management: {from: [10.0.0.0/8]}\n"
    )
    inventory = tmp_path / "inv.yml"
    inventory.write_text(
        "all:\n  children:\n    pull:\n      hosts:\n"
        f"        cp-a: {{address: 10.0.0.1, agent_public_key: '{HOST_A.public_text()}'}}\n"
        "        cp-b: {address: 10.0.0.2}\n"
    )
    write_signing_key(str(tmp_path / "old"), OLD, b"pp-old")
    write_signing_key(str(tmp_path / "new"), NEW, None)
    monkeypatch.setenv("CHECKPOINTCTL_KEY_PASSPHRASE", "pp-old")
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    out1, out2 = tmp_path / "one.cpb", tmp_path / "two.cpb"
    base = ["bundle", str(policies), "-i", str(inventory), "--key", str(tmp_path / "old.key")]
    assert main([*base, "-o", str(out1), "--created", "2026-01-01T12:00:00Z"]) == 0
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(CREATED.timestamp())))
    assert main([*base, "-o", str(out2)]) == 0
    assert out1.read_bytes() == out2.read_bytes()
    assert "serial 1767268800, 2 hosts" in capsys.readouterr().out
    assert main(["sign", str(out1), "--key", str(tmp_path / "new.key")]) == 0
    bundle = verify_bundle(out1.read_bytes(), trusted(OLD, NEW), now=DURING, threshold=2)
    assert host_state(bundle, "cp-b", None).firewall is not None
