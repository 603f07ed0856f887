"""Growing delays and rate limits against a real Redis, without Flask (the clock moves by hand)."""
from __future__ import annotations

from gateway.config import LimitSettings
from gateway.identity.ratelimits import RateLimits
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
    limits = RateLimits(store, LimitSettings(address_per_address="3/minute"))
    assert [limits.hit("address_per_address", "camille@univ-exemple.fr") for _ in range(3)] == [0, 0, 0]
    wait = limits.hit("address_per_address", "camille@univ-exemple.fr")
    assert 1 <= wait <= 60
    assert limits.hit("address_per_address", "dominique@univ-exemple.fr") == 0


def test_every_window_of_a_rule_counts(store):
    limits = RateLimits(store, LimitSettings(mail_per_address="5/minute;2/day"))
    assert [limits.hit("mail_per_address", "a@b.fr") for _ in range(2)] == [0, 0]
    assert limits.hit("mail_per_address", "a@b.fr") > 3600


def test_typed_addresses_are_not_kept_in_key_names(store):
    limits = RateLimits(store, LimitSettings())
    limits.hit("address_per_address", "camille@univ-exemple.fr")
    names = " ".join(store.redis.keys("*"))
    assert names and "camille" not in names and "univ-exemple" not in names


def test_rate_limits_can_be_disabled(store):
    limits = RateLimits(store, LimitSettings(enabled=False, address_per_address="1/minute"))
    assert [limits.hit("address_per_address", "a@b.fr") for _ in range(5)] == [0] * 5
