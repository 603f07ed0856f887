"""The single logout chain's token in another browser: the attacker logs out of his own SPs and hands the
chain's link to someone else; that browser must not carry his chain to its end nor be told it logged out
of his applications."""
from __future__ import annotations

from tests.saml.conftest import Flow
from tests.saml.test_slo import (answer_b_by_post, form_of, logout_request_xml, parties,  # noqa: F401
                                 saml_config, signed_redirect, slo_dir, slo_specs)


def test_a_logout_chain_link_opened_in_another_browser_lists_nothing_there(app, flow, parties):
    a = parties["A"]
    step = flow.client.get(signed_redirect(logout_request_xml(a, "_logout21", asynchronous=True), a))
    token = form_of(step)["RelayState"]  # the attacker's chain, now on its way to B
    victim = app.test_client()
    end = victim.get(f"/saml/slo/chain?token={token}&skip=1")
    landing = victim.get(end.headers["Location"]) if end.status_code == 302 else end
    page = landing.get_data(as_text=True)
    assert "slo-unconfirmed" not in page and "slo-done" not in page and "b.example.org" not in page


def test_an_sps_answer_carried_by_another_browser_does_not_end_the_chain_there(app, flow, parties):
    """The attacker hands his LogoutRequest for B to someone else; B answers in that browser."""
    a = parties["A"]
    step = flow.client.get(signed_redirect(logout_request_xml(a, "_logout22", asynchronous=True), a))
    victim = Flow(app.test_client())
    answer = answer_b_by_post(victim, parties, form_of(step))
    assert answer.status_code == 400
    page = victim.client.get("/login?logged_out=1").get_data(as_text=True)
    assert "slo-done" not in page and "b.example.org" not in page
