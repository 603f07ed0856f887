"""Growing delays, rate limits and known devices against a real Redis, without Flask.

The clock moves by hand.
"""
from __future__ import annotations

from gateway.config import LimitSettings
from gateway.identity.devices import KnownDevices
from gateway.identity.ratelimits import RateLimits, client_key
from gateway.identity.throttle import WINDOW, Throttle

ATTACKER, OFFICE = "203.0.113.66", "192.0.2.10"


def fail(throttle: Throttle, times: int, account: str = "camille", client: str = ATTACKER) -> None:
    for _ in range(times):
        throttle.failed(account, client)


def test_no_delay_below_the_threshold(throttle):
    fail(throttle, 2)  # throttle_pair is 3
    assert throttle.wait_seconds("camille", ATTACKER) == 0


def test_delay_starts_at_the_threshold_and_doubles(throttle, clock):
    fail(throttle, 3)
    waits = []
    for _ in range(6):
        wait = throttle.wait_seconds("camille", ATTACKER)
        waits.append(wait)
        clock.advance(wait)
        assert throttle.wait_seconds("camille", ATTACKER) == 0  # the delay ends by itself
        fail(throttle, 1)
    assert waits == [1, 2, 4, 8, 16, 32]


def test_delay_is_capped_never_a_lockout(throttle, clock):
    fail(throttle, 40)
    assert throttle.wait_seconds("camille", ATTACKER) == 900
    clock.advance(900)
    assert throttle.wait_seconds("camille", ATTACKER) == 0


def test_failures_are_forgotten_after_the_window(throttle, store, clock):
    fail(throttle, 3)
    assert all(0 < store.redis.ttl(k) <= WINDOW for k in store.redis.keys("gw:throttle:*"))


def test_another_client_is_not_delayed_by_the_pair_counter(throttle):
    fail(throttle, 3)
    assert throttle.wait_seconds("camille", ATTACKER) > 0
    assert throttle.wait_seconds("camille", OFFICE) == 0


def test_account_counter_delays_a_distributed_attack(throttle):
    for n in range(5):  # throttle_account is 5: five clients, one failure each
        throttle.failed("camille", f"203.0.113.{n}")
    assert throttle.wait_seconds("camille", OFFICE) > 0
    assert throttle.wait_seconds("dominique", OFFICE) == 0


def test_client_counter_delays_spraying_many_accounts(throttle):
    for n in range(8):  # throttle_client is 8
        throttle.failed(f"user-{n}", ATTACKER)
    assert throttle.wait_seconds("someone-else", ATTACKER) > 0
    assert throttle.wait_seconds("someone-else", OFFICE) == 0


def test_success_clears_the_accounts_counters_not_the_attackers(throttle):
    fail(throttle, 3, client=ATTACKER)
    fail(throttle, 2, client=OFFICE)
    throttle.succeeded("camille", OFFICE)
    assert throttle.wait_seconds("camille", OFFICE) == 0
    fail(throttle, 2, client=OFFICE)
    assert throttle.wait_seconds("camille", OFFICE) == 0  # started again from zero
    assert throttle.wait_seconds("camille", ATTACKER) > 0  # the attacker's pair is still delayed


# -- rate limits -------------------------------------------------------------------------------

def test_rate_limit_refuses_past_the_limit_and_says_how_long(store):
    limits = RateLimits(store, LimitSettings(address_per_address_client="3/minute"))
    hit = limits.hit
    rule = "address_per_address_client"
    assert [hit(rule, "camille@univ-exemple.fr", client=ATTACKER) for _ in range(3)] == [0] * 3
    wait = hit("address_per_address_client", "camille@univ-exemple.fr", client=ATTACKER)
    assert 1 <= wait <= 60
    assert hit("address_per_address_client", "dominique@univ-exemple.fr", client=ATTACKER) == 0
    assert hit("address_per_address_client", "camille@univ-exemple.fr", client=OFFICE) == 0


def test_wait_tells_without_counting(store):
    limits = RateLimits(store, LimitSettings(unknown_per_client="2/minute"))
    assert [limits.wait("unknown_per_client", client=ATTACKER) for _ in range(5)] == [0] * 5
    limits.hit("unknown_per_client", client=ATTACKER)
    limits.hit("unknown_per_client", client=ATTACKER)
    assert 1 <= limits.wait("unknown_per_client", client=ATTACKER) <= 60
    assert limits.wait("unknown_per_client", client=OFFICE) == 0


def test_ipv6_clients_are_keyed_by_their_64():
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:ffff:1:2:3") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert client_key("::ffff:203.0.113.66") == "203.0.113.66" == client_key(ATTACKER)
    assert client_key("unknown") == "unknown"


def test_trusted_networks_have_their_own_per_client_rules(store):
    settings = LimitSettings(address_per_client="2/minute", trusted_address_per_client="5/minute",
                             trusted_networks=("10.20.0.0/16", "2001:db8:42::/48"))
    limits = RateLimits(store, settings)
    for trusted in ("10.20.3.4", "::ffff:10.20.9.9", "2001:db8:42:7::1"):
        assert [limits.hit("address_per_client", client=trusted) for _ in range(5)] == [0] * 5, trusted
        assert limits.hit("address_per_client", client=trusted) > 0
    assert [limits.hit("address_per_client", client="10.21.0.1") for _ in range(2)] == [0, 0]
    assert limits.hit("address_per_client", client="10.21.0.1") > 0


def test_trusted_networks_have_their_own_client_delay_threshold(store, clock):
    throttle = Throttle(store, LimitSettings(throttle_client=3, trusted_throttle_client=6,
                                             trusted_networks=("10.20.0.0/16",)), clock=clock)
    for n in range(5):
        throttle.failed(f"user-{n}", "10.20.0.1")
        throttle.failed(f"user-{n}", ATTACKER)
    assert throttle.wait_seconds("someone-else", ATTACKER) > 0
    assert throttle.wait_seconds("someone-else", "10.20.0.1") == 0


def test_ipv6_failures_of_one_64_count_together(throttle):
    for n in range(8):  # throttle_client is 8, each from another address of the same /64
        throttle.failed(f"user-{n}", f"2001:db8:1:2::{n + 1:x}")
    assert throttle.wait_seconds("someone-else", "2001:db8:1:2:dead:beef::1") > 0
    assert throttle.wait_seconds("someone-else", "2001:db8:1:3::1") == 0


# -- known devices -----------------------------------------------------------------------------

def test_a_known_device_is_judged_by_its_own_counter_only(throttle):
    for n in range(20):  # distributed guessing: the account-wide counter is well past its threshold
        throttle.failed("camille", f"203.0.113.{n % 8}")
    assert throttle.wait_seconds("camille", OFFICE) > 0  # a browser without a device cookie waits
    assert throttle.check("camille", OFFICE).rule == "throttle_account"
    assert throttle.wait_seconds("camille", OFFICE, device="laptop") == 0
    fail(throttle, 8, client=OFFICE)  # even the client counter does not judge the known device
    assert throttle.wait_seconds("camille", OFFICE, device="laptop") == 0
    for _ in range(3):  # its own failures do (throttle_pair is 3)
        throttle.failed("camille", OFFICE, device="laptop")
    verdict = throttle.check("camille", OFFICE, device="laptop")
    assert verdict.wait > 0 and verdict.rule == "throttle_device"
    assert throttle.wait_seconds("camille", OFFICE, device="phone") == 0


def test_success_on_a_known_device_clears_its_counter(throttle):
    for _ in range(3):
        throttle.failed("camille", OFFICE, device="laptop")
    throttle.succeeded("camille", OFFICE, device="laptop")
    assert throttle.check("camille", OFFICE, device="laptop").clean


def test_device_cookie_names_only_its_accounts_and_cannot_be_forged():
    devices = KnownDevices("k" * 40)
    cookie = devices.remember(None, "camille")
    device = devices.device_for(cookie, "camille")
    assert device and devices.device_for(cookie, "dominique") is None
    both = devices.remember(cookie, "dominique")  # a shared computer: one device id, both accounts
    assert devices.device_for(both, "camille") == device == devices.device_for(both, "dominique")
    assert "camille" not in both and "dominique" not in both
    assert KnownDevices("o" * 40).device_for(cookie, "camille") is None  # another key
    assert devices.device_for(cookie[:-2] + "xx", "camille") is None
    assert devices.device_for("garbage", "camille") is None and devices.device_for(None, "camille") is None


def test_every_window_of_a_rule_counts(store):
    limits = RateLimits(store, LimitSettings(mail_per_address="5/minute;2/day"))
    assert [limits.hit("mail_per_address", "a@b.fr") for _ in range(2)] == [0, 0]
    assert limits.hit("mail_per_address", "a@b.fr") > 3600


def test_typed_addresses_are_not_kept_in_key_names(store):
    limits = RateLimits(store, LimitSettings())
    limits.hit("address_per_address_client", "camille@univ-exemple.fr", client=ATTACKER)
    names = " ".join(store.redis.keys("*"))
    assert names and "camille" not in names and "univ-exemple" not in names


def test_rate_limits_can_be_disabled(store):
    limits = RateLimits(store, LimitSettings(enabled=False, address_per_address_client="1/minute"))
    assert [limits.hit("address_per_address_client", "a@b.fr", client=ATTACKER) for _ in range(5)] == [0] * 5
