"""Cookie values signed uncompressed (:mod:`gateway.identity.signed_values`): the same signature as
itsdangerous' URL-safe serializer, so cookies set before still load, and a forged one never does."""
from __future__ import annotations

import pytest
from itsdangerous import BadSignature, URLSafeSerializer

from gateway.identity.devices import KnownDevices
from gateway.identity.signed_values import SignedValues

SECRET = "s" * 32
#: compresses well: itsdangerous' plain serializer signs it compressed ("." first)
VALUE = {"d": "device-id", "a": ["0123456789abcdef01234567"] * 8}


def test_a_value_signed_before_compressed_still_loads_and_new_ones_are_not_compressed():
    before = URLSafeSerializer(SECRET, salt="known-device").dumps(VALUE)
    assert before.startswith(".")
    signed = SignedValues(SECRET, salt="known-device")
    assert signed.loads(before) == VALUE
    now = signed.dumps(VALUE)
    assert not now.startswith(".")
    assert URLSafeSerializer(SECRET, salt="known-device").loads(now) == VALUE


@pytest.mark.parametrize("forge", [
    lambda v: v[:-1] + ("A" if v[-1] != "A" else "B"),  # the signature altered
    lambda v: "eyJkIjoiYXR0YWNrZXIiLCJhIjpbXX0" + v[v.index("."):],  # another payload, same signature
    lambda v: URLSafeSerializer("another secret, other app", salt="known-device").dumps(VALUE),
    lambda v: SignedValues(SECRET, salt="last-email").dumps(VALUE),  # another cookie's value
])
def test_a_forged_value_is_refused(forge):
    signed = SignedValues(SECRET, salt="known-device")
    with pytest.raises(BadSignature):
        signed.loads(forge(signed.dumps(VALUE)))


def test_a_known_device_cookie_set_compressed_before_still_names_its_accounts():
    devices = KnownDevices(SECRET)
    refs = [devices._ref(f"account-{n}") for n in range(6)]
    old_cookie = URLSafeSerializer(SECRET, salt="known-device").dumps({"d": "laptop", "a": refs})
    assert old_cookie.startswith(".")
    assert devices.device_for(old_cookie, "account-3") == "laptop"
    assert devices.device_for(old_cookie, "someone-else") is None
    renewed = devices.remember(old_cookie, "account-9")
    assert devices.device_for(renewed, "account-9") == devices.device_for(renewed, "account-0") == "laptop"
