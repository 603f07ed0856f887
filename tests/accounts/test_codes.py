"""One-time codes against real Redis: one live code per (purpose, account), whatever the browser."""
from __future__ import annotations

import threading

import pytest

from gateway.accounts.codes import Codes, InvalidCode, WrongCode
from gateway.store import Store

SECRET = "test-secret-0123456789abcdef0123456789"


@pytest.fixture
def codes(redis_client):
    return Codes(Store(redis_client), SECRET)


def other_than(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_a_new_code_voids_the_previous_one_of_the_account(codes):
    """The flows of two browsers are two flow ids: the second still voids the first."""
    first_flow, first_code = codes.start_code("signin", "acc-1", 600, 5, {"account": "acc-1"})
    second_flow, second_code = codes.start_code("signin", "acc-1", 600, 5, {"account": "acc-1"})
    with pytest.raises(InvalidCode) as refused:
        codes.check_code("signin", first_flow, first_code)
    assert not isinstance(refused.value, WrongCode)  # void: not even a try counted
    assert codes.check_code("signin", second_flow, second_code)["account"] == "acc-1"


def test_other_accounts_and_purposes_keep_their_codes(codes):
    mine = codes.start_code("signin", "acc-1", 600, 5, {"account": "acc-1"})
    codes.start_code("signin", "acc-2", 600, 5, {"account": "acc-2"})
    codes.start_code("activation", "acc-1", 600, 5, {"account": "acc-1"})
    assert codes.check_code("signin", *mine)["account"] == "acc-1"


def test_codes_started_at_once_leave_one_live(codes):
    """Concurrent starts (many browsers at the same instant) never leave two live codes."""
    started: list[tuple[str, str]] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        started.append(codes.start_code("signin", "acc-1", 600, 5, {"account": "acc-1"}))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    live = [flow for flow, _ in started if codes.code_data("signin", flow) is not None]
    assert len(live) == 1


def test_a_wrong_code_names_the_flow_it_was_tried_on(codes):
    flow, code = codes.start_code("activation", "acc-1", 600, 2, {"account": "acc-1", "email": "a@x.fr"})
    with pytest.raises(WrongCode) as first:
        codes.check_code("activation", flow, other_than(code))
    assert (first.value.remaining, first.value.data["account"]) == (1, "acc-1")
    with pytest.raises(WrongCode) as last:
        codes.check_code("activation", flow, other_than(code))
    assert (last.value.remaining, last.value.data["account"]) == (0, "acc-1")
    with pytest.raises(InvalidCode):  # void after the last try
        codes.check_code("activation", flow, code)


def test_links_and_flows_leave_a_trace_without_their_secret(codes, redis_client):
    """What a used, replaced or expired link's page needs (its account and address), for TRACE_TTL."""
    from gateway.accounts.codes import TRACE_TTL

    token = codes.issue_link("reset", "u1", 1800, {"email": "a@example.org"})
    codes.redeem_link("reset", token)
    assert codes.link_trace("reset", token)["email"] == "a@example.org"
    assert codes.link_trace("reset", "made-up") is None and codes.link_trace("reset", "") is None
    flow, code = codes.start_code("signin", "u1", 600, 5, {"account": "u1", "email": "a@example.org"})
    codes.check_code("signin", flow, code)
    assert codes.flow_trace("signin", flow) == {"account": "u1", "email": "a@example.org",
                                                "exp": codes.flow_trace("signin", flow)["exp"]}
    traces = list(redis_client.scan_iter("gw:*-trace:*"))
    assert len(traces) == 2 and all(600 < redis_client.ttl(t) <= TRACE_TTL for t in traces)
    assert all(code not in redis_client.get(t) and token not in redis_client.get(t) for t in traces)
