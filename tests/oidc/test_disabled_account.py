"""The tokens of an account disabled after they were issued (SCIM DELETE, ``gateway users disable``):
introspection answers ``active: false`` (RFC 7662 §2.2), UserInfo 401, the refresh grant invalid_grant."""
from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import requests

from gateway.identity.flaskglue.logout import end_account_sessions
from tests.oidc.conftest import SECRETS, sign_in_and_get_tokens

BASIC = ("rp-basic", SECRETS["rp-basic"])
API = ("api", SECRETS["api"])


def _post(live, path, data, auth=BASIC):
    return requests.post(live.endpoint(path), data=data, auth=auth, timeout=10)


def _refused_everywhere(live, party, token) -> None:
    for value in (token["access_token"], token["refresh_token"]):
        for auth in (BASIC, API):  # the token's client, and the API that may introspect every token
            assert _post(live, "/oidc/introspect", {"token": value}, auth).json() == {"active": False}
    assert party.userinfo(token).status_code == 401
    grant = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    refreshed = _post(live, "/oidc/token", grant)
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


def _signed_in(browser, rp):
    party = rp("rp-basic")
    _, token = sign_in_and_get_tokens(browser, party)
    assert _post(party.live, "/oidc/introspect", {"token": token["refresh_token"]}).json()["active"] is True
    return party, token


def test_scim_delete_makes_the_tokens_inactive(browser, rp, live, account):
    """SCIM DELETE disables the account: its sessions end, their tokens are revoked."""
    party, token = _signed_in(browser, rp)
    deleted = requests.delete(live.endpoint(f"/scim/v2/Users/{account.id}"), timeout=10,
                              headers={"Authorization": "Bearer scim-test-token-cockpit-0123456789"})
    assert deleted.status_code == 204
    _refused_everywhere(live, party, token)


def test_cli_disable_makes_the_tokens_inactive(browser, rp, live, account):
    """What ``gateway users disable`` does: the directory, then every session ended with the hooks."""
    party, token = _signed_in(browser, rp)
    live.app.extensions["gateway.directory"].disable(account.id)
    with live.app.app_context():
        assert end_account_sessions(account.id, reason="account.disabled") == 1
    _refused_everywhere(live, party, token)


def test_tokens_outliving_their_session_die_with_the_account(browser, rp, live, account):
    """A session that timed out told nobody, so its tokens live on (refresh: 12 h); once the account is
    disabled, with no session left to end, the account status alone refuses them."""
    party, token = _signed_in(browser, rp)
    with live.app.app_context():
        sessions = live.app.extensions["gateway.sessions"]
        [info] = sessions.list_for(account.id)
        assert sessions.end(account.id, info.session_id) is not None  # no hook: as a timeout
        live.app.extensions["gateway.directory"].disable(account.id)
        assert end_account_sessions(account.id, reason="account.disabled") == 0
    _refused_everywhere(live, party, token)


def test_a_session_whose_account_was_disabled_gets_no_code(browser, rp, live, account):
    """The account is read with the session at authorize (one round trip): disabled there, with its
    session left in Redis, authorize answers with the sign-in page's address, never with a code."""
    party, _ = _signed_in(browser, rp)
    live.app.extensions["gateway.directory"].disable(account.id)  # no session ended: the record stays
    answer = browser.get(party.authorization().url)
    assert answer.status_code == 302, answer.status_code
    target = answer.headers["Location"]
    assert urlsplit(urljoin(answer.url, target)).path == "/login" and "code=" not in target
