"""Sealing to one host: only that host's key, that host name and that field open a value."""

from __future__ import annotations

import base64

import pytest

from checkpointctl.errors import TrustError
from checkpointctl.trust.keys import generate_host_key
from checkpointctl.trust.seal import (
    deterministic_ephemerals,
    is_sealed,
    random_ephemerals,
    seal,
    unseal,
)

SECRET = b"p4ssw0rd"
PATH = "credentials[0].secret"
DET = deterministic_ephemerals(b"s" * 32, b"serial-1")


def test_round_trip_and_shape() -> None:
    key = generate_host_key()
    blob = seal(SECRET, key.public_raw, "cp-1", PATH, DET)
    assert is_sealed(blob)
    assert set(blob) == {"$sealed", "to", "epk", "ct"}
    assert blob["to"] == key.key_id
    assert SECRET not in base64.b64decode(blob["ct"])
    assert unseal(blob, key, "cp-1", PATH) == SECRET


def test_another_hosts_key_cannot_open_it_even_when_the_recipient_id_is_forged() -> None:
    a, b = generate_host_key(), generate_host_key()
    blob = seal(SECRET, b.public_raw, "cp-b", PATH, DET)
    with pytest.raises(TrustError, match=r"sealed to host key .* but this host's key is"):
        unseal(blob, a, "cp-b", PATH)
    forged = {**blob, "to": a.key_id}
    with pytest.raises(TrustError, match="does not open with this host's key"):
        unseal(forged, a, "cp-b", PATH)


@pytest.mark.parametrize(("host", "path"), [("cp-2", PATH), ("cp-1", "containers[0].env.TOKEN")])
def test_bound_to_host_name_and_field(host: str, path: str) -> None:
    key = generate_host_key()
    blob = seal(SECRET, key.public_raw, "cp-1", PATH, DET)
    with pytest.raises(TrustError, match="does not open"):
        unseal(blob, key, host, path)


def test_modified_ciphertext_is_detected() -> None:
    key = generate_host_key()
    blob = seal(SECRET, key.public_raw, "cp-1", PATH, DET)
    raw = bytearray(base64.b64decode(blob["ct"]))
    raw[0] ^= 1
    with pytest.raises(TrustError, match="does not open"):
        unseal({**blob, "ct": base64.b64encode(bytes(raw)).decode()}, key, "cp-1", PATH)
    with pytest.raises(TrustError, match="malformed"):
        unseal({**blob, "epk": "%%%"}, key, "cp-1", PATH)
    with pytest.raises(TrustError, match="not a sealed value"):
        unseal({"$sealed": "rot13"}, key, "cp-1", PATH)


def test_deterministic_sealing_repeats_only_for_identical_inputs() -> None:
    key = generate_host_key()
    other = generate_host_key()
    first = seal(SECRET, key.public_raw, "cp-1", PATH, DET)
    assert seal(SECRET, key.public_raw, "cp-1", PATH, DET) == first
    variants = [
        seal(SECRET, key.public_raw, "cp-1", PATH, deterministic_ephemerals(b"s" * 32, b"2")),
        seal(SECRET, key.public_raw, "cp-1", PATH, deterministic_ephemerals(b"t" * 32, b"1")),
        seal(SECRET, other.public_raw, "cp-1", PATH, DET),
        seal(SECRET, key.public_raw, "cp-2", PATH, DET),
        seal(SECRET, key.public_raw, "cp-1", "other.path", DET),
        seal(b"p4ssw0rD", key.public_raw, "cp-1", PATH, DET),
    ]
    epks = {first["epk"]} | {v["epk"] for v in variants}
    assert len(epks) == len(variants) + 1  # a fresh ephemeral key (and AES key) for each


def test_random_sealing_differs_each_time() -> None:
    key = generate_host_key()
    fresh = random_ephemerals()
    one = seal(SECRET, key.public_raw, "cp-1", PATH, fresh)
    two = seal(SECRET, key.public_raw, "cp-1", PATH, fresh)
    assert one != two
    assert unseal(one, key, "cp-1", PATH) == unseal(two, key, "cp-1", PATH) == SECRET


def test_a_low_order_recipient_key_is_refused() -> None:
    with pytest.raises(TrustError, match="not a usable X25519 public key"):
        seal(SECRET, bytes(32), "cp-1", PATH, DET)
