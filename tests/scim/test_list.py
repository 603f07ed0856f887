"""GET /Users: filters and pagination (RFC 7644 §3.4.2)."""
from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.scim.conftest import LIST, SCIM_JSON, assert_error


def search(scim, filter_text: str, **params: str):
    query = "&".join([f"filter={quote(filter_text)}", *(f"{k}={v}" for k, v in params.items())])
    return scim.get(f"/Users?{query}")


def ids(response) -> list[str]:
    return [r["id"] for r in response.get_json()["Resources"]]


@pytest.fixture
def jean(scim):
    return scim.create("jean.dupont@univ-exemple.fr", emails=["jdupont@gmail.com"])


def test_filter_by_user_name(scim, jean):
    scim.create("autre@univ-exemple.fr")
    response = search(scim, 'userName eq "jean.dupont@univ-exemple.fr"')
    assert response.status_code == 200
    assert response.mimetype == SCIM_JSON
    body = response.get_json()
    assert body["schemas"] == [LIST]
    assert body["totalResults"] == 1
    assert body["itemsPerPage"] == 1
    assert body["startIndex"] == 1
    assert body["Resources"] == [jean]


@pytest.mark.parametrize("filter_text", [
    'emails.value eq "jdupont@gmail.com"',
    'emails eq "jdupont@gmail.com"',
    'emails[value eq "jdupont@gmail.com"]',
    'EMAILS.VALUE EQ "JDupont@Gmail.COM"',
    'urn:ietf:params:scim:schemas:core:2.0:User:emails.value eq "jdupont@gmail.com"',
    'emails.value eq "jean.dupont@univ-exemple.fr"',
    '  emails.value   eq   " jdupont@gmail.com "  ',
])
def test_filter_by_any_address(scim, jean, filter_text):
    assert ids(search(scim, filter_text)) == [jean["id"]]


@pytest.mark.parametrize("filter_text", [
    'userName eq "JEAN.DUPONT@univ-exemple.fr"',
    'username Eq "jean.dupont@univ-exemple.fr"',
    'urn:ietf:params:scim:schemas:core:2.0:User:userName eq "jean.dupont@univ-exemple.fr"',
])
def test_user_name_filter_is_case_insensitive(scim, jean, filter_text):
    assert ids(search(scim, filter_text)) == [jean["id"]]


def test_user_name_is_only_the_primary_address(scim, jean):
    body = search(scim, 'userName eq "jdupont@gmail.com"').get_json()
    assert body["totalResults"] == 0
    assert body["Resources"] == []


@pytest.mark.parametrize("value", ["nobody@univ-exemple.fr", "not an address", "", "a@b"])
def test_no_match_or_invalid_address_is_zero_results(scim, jean, value):
    body = search(scim, f'emails.value eq "{value}"').get_json()
    assert (body["totalResults"], body["itemsPerPage"], body["Resources"]) == (0, 0, [])


@pytest.mark.parametrize("filter_text", [
    'displayName eq "Jean"',
    'userName co "jean"',
    'userName sw "jean"',
    "userName pr",
    'userName eq "a@b.fr" or userName eq "c@d.fr"',
    'userName eq "unterminated',
    "userName eq 42",
    "userName eq true",
    'emails[type eq "work"]',
    "garbage",
    'meta.lastModified gt "2020-01-01T00:00:00Z"',
])
def test_unsupported_filters_are_400_invalid_filter(scim, jean, filter_text):
    assert_error(search(scim, filter_text), 400, "invalidFilter")


def test_filtered_result_respects_paging(scim, jean):
    body = search(scim, 'emails eq "jdupont@gmail.com"', startIndex="2").get_json()
    assert (body["totalResults"], body["itemsPerPage"], body["startIndex"]) == (1, 0, 2)
    assert search(scim, 'emails eq "jdupont@gmail.com"', count="0").get_json()["Resources"] == []


def test_unfiltered_listing_pages_in_a_stable_order(scim):
    """Creation order (by second, then id): pages concatenate to the whole listing."""
    created = [scim.create(f"user{i}@univ-exemple.fr")["id"] for i in range(5)]
    everything = scim.get("/Users").get_json()
    assert everything["totalResults"] == 5
    order = ids_of(everything)
    assert sorted(order) == sorted(created)
    page = scim.get("/Users?startIndex=2&count=2").get_json()
    assert (page["totalResults"], page["itemsPerPage"], page["startIndex"]) == (5, 2, 2)
    assert ids_of(page) == order[1:3]
    pages = [ids_of(scim.get(f"/Users?startIndex={start}&count=2").get_json()) for start in (1, 3, 5)]
    assert pages[0] + pages[1] + pages[2] == order
    assert len(pages[2]) == 1
    beyond = scim.get("/Users?startIndex=9").get_json()
    assert (beyond["totalResults"], beyond["itemsPerPage"], beyond["Resources"]) == (5, 0, [])


def test_paging_bounds_follow_the_rfc(scim):
    for i in range(3):
        scim.create(f"user{i}@univ-exemple.fr")
    order = ids_of(scim.get("/Users").get_json())
    below = scim.get("/Users?startIndex=0&count=1").get_json()
    assert below["startIndex"] == 1 and ids_of(below) == order[:1]
    assert scim.get("/Users?startIndex=-4").get_json()["startIndex"] == 1
    zero = scim.get("/Users?count=0").get_json()
    assert (zero["totalResults"], zero["itemsPerPage"], zero["Resources"]) == (3, 0, [])
    assert scim.get("/Users?count=-3").get_json()["itemsPerPage"] == 0
    assert scim.get("/Users?count=100000").status_code == 200


def test_count_is_capped_at_max_results(scim, directory, monkeypatch):
    from gateway.scim import filters

    monkeypatch.setattr(filters, "MAX_RESULTS", 2)
    for i in range(3):
        scim.create(f"user{i}@univ-exemple.fr")
    assert scim.get("/Users?count=50").get_json()["itemsPerPage"] == 2


@pytest.mark.parametrize("query", [
    "startIndex=abc", "count=1.5", "count=ten", "startIndex=99999999999999999999999",
])
def test_non_integer_paging_is_400(scim, query):
    assert_error(scim.get(f"/Users?{query}"), 400, "invalidValue")


def test_empty_directory(scim):
    body = scim.get("/Users").get_json()
    assert (body["totalResults"], body["itemsPerPage"], body["startIndex"]) == (0, 0, 1)
    assert body["Resources"] == []


def ids_of(body) -> list[str]:
    return [r["id"] for r in body["Resources"]]
