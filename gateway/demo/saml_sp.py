"""Application de démonstration: a legacy SAML 2.0 SP (pysaml2) of the gateway, for `make run` only.

deploy/dev/run.sh starts it on http://127.0.0.1:8001 (``GATEWAY_DEMO_SAML_PORT``);
the gateway never imports it. It is what an unmodified university application
sees: SP-initiated SSO (HTTP-Redirect), the signed Response at ``/acs``
(HTTP-POST; unsolicited ones too, for IdP-initiated links), and SLO at ``/slo``
(HTTP-Redirect; HTTP-POST instead with the setting ``slo_binding = "post"``, and
its LogoutResponse by HTTP-Redirect with ``slo_answer_binding = "redirect"``, which
the browser tests use).
Its entityID is ``<url>/saml/metadata``; its metadata for port 8001 is committed
as config/dev/saml/sp/demo-sp.xml (the gateway loads that folder in development
mode), and :func:`metadata_xml` makes it for any other URL. Its key pair is the
dev-only one of config/dev/saml/demo-sp/. The gateway's metadata is fetched from
``GATEWAY_DEMO_SAML_IDP_METADATA_URL`` (default http://127.0.0.1:8000/saml/metadata)
at the first sign-in. What the SP received lives in the demo's signed session
cookie: fine on 127.0.0.1, never for a real application.
"""
from __future__ import annotations

import os
import secrets
import urllib.request
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, redirect, render_template_string, request, session
from werkzeug.wrappers import Response

with warnings.catch_warnings():  # pysaml2 names cryptography's CFB mode, which now warns on import
    warnings.filterwarnings("ignore", message="CFB has been moved")
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.client import Saml2Client
    from saml2.config import SPConfig
    from saml2.metadata import create_metadata_string
    from saml2.saml import NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT, NameID

PORT = 8001
KEYS = Path(__file__).resolve().parents[2] / "config" / "dev" / "saml" / "demo-sp"
DEFAULTS = {
    "idp_metadata_url": "http://127.0.0.1:8000/saml/metadata",
    "key_file": str(KEYS / "dev-only-demo-sp.key"),
    "cert_file": str(KEYS / "dev-only-demo-sp.crt"),
    #: its mdui:DisplayName (French), the name the gateway's sign-in pages show
    "display_name": "Application de démonstration",
}
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
CLIENT = "demo_saml.client"
SLO_BINDINGS = {"redirect": BINDING_HTTP_REDIRECT, "post": BINDING_HTTP_POST}


def settings_from_env(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The demo's settings: its own URL (from the port), the IdP metadata URL, its key pair."""
    port = int(environ.get("GATEWAY_DEMO_SAML_PORT") or PORT)
    found = {"url": f"http://127.0.0.1:{port}"}
    for name, default in DEFAULTS.items():
        found[name] = environ.get(f"GATEWAY_DEMO_SAML_{name.upper()}") or default
    return found


def sp_config(conf: Mapping[str, str], idp_metadata: str | None = None) -> dict[str, Any]:
    """The pysaml2 SP configuration (without IdP metadata: enough to make our own metadata)."""
    url = conf["url"]
    slo_binding = SLO_BINDINGS[conf.get("slo_binding", "redirect")]
    return {
        "entityid": url + "/saml/metadata",
        "key_file": conf["key_file"], "cert_file": conf["cert_file"],
        "encryption_keypairs": [{"key_file": conf["key_file"], "cert_file": conf["cert_file"]}],
        "metadata": {"inline": [idp_metadata]} if idp_metadata else {},
        "signing_algorithm": RSA_SHA256, "digest_algorithm": SHA256,
        "accepted_time_diff": 60,
        "service": {"sp": {
            "name": "Application de démonstration (UNESS, développement)",
            "ui_info": {"display_name": [{"text": conf.get("display_name") or DEFAULTS["display_name"],
                                          "lang": "fr"}]},
            "endpoints": {"assertion_consumer_service": [(url + "/acs", BINDING_HTTP_POST)],
                          "single_logout_service": [(url + "/slo", slo_binding)]},
            "name_id_format": [NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT],
            "want_response_signed": True, "want_assertions_signed": True,
            "authn_requests_signed": False, "logout_requests_signed": True,
            "allow_unsolicited": True,  # IdP-initiated links (/saml/sso/init) arrive without a request
        }},
    }


def metadata_xml(conf: Mapping[str, str]) -> str:
    """This SP's metadata (what config/dev/saml/sp/demo-sp.xml holds for port 8001)."""
    config = SPConfig().load(sp_config(conf))
    found = create_metadata_string(None, config=config, valid=0, sign=False)
    return found.decode() if isinstance(found, bytes) else str(found)


def _client(app: Flask, conf: Mapping[str, str]) -> Saml2Client:
    """The pysaml2 client, made at first use with the gateway's metadata (fetched once per process)."""
    client = app.extensions.get(CLIENT)
    if client is None:
        with urllib.request.urlopen(conf["idp_metadata_url"], timeout=10) as answer:  # noqa: S310
            idp_metadata = answer.read().decode()
        client = app.extensions[CLIENT] = Saml2Client(config=SPConfig().load(sp_config(conf, idp_metadata)))
    return client


def _idp(client: Saml2Client) -> str:
    return str(next(iter(client.metadata.identity_providers())))


def _received(result: Any) -> dict[str, Any]:
    """What the page shows, JSON-serialisable: every attribute (FriendlyName, Name, values), NameID…"""
    attributes = []
    for statement in result.assertion.attribute_statement:
        for attribute in statement.attribute:
            values = [v.text if v.text and v.text.strip() else
                      " ".join(child.text or "" for child in getattr(v, "extension_elements", []))
                      for v in attribute.attribute_value]
            attributes.append({"friendly": attribute.friendly_name or "", "name": attribute.name,
                               "values": values})
    statement = result.assertion.authn_statement[0]
    name_id = {"format": result.name_id.format, "value": result.name_id.text}
    return {"attributes": attributes, "name_id": name_id,
            "session_index": statement.session_index, "authn_instant": statement.authn_instant,
            "issuer": result.issuer()}


def create_app(settings: Mapping[str, str] | None = None) -> Flask:
    """The demo app; ``settings`` as :func:`settings_from_env` returns them (the tests pass their own)."""
    conf = {**DEFAULTS, "url": f"http://127.0.0.1:{PORT}", **(settings or {})}
    app = Flask(__name__)
    app.config.update(SECRET_KEY=secrets.token_urlsafe(32), SESSION_COOKIE_NAME="uness_demo_saml",
                      SESSION_COOKIE_SAMESITE="Lax")

    @app.get("/")
    def home() -> str:
        return render_template_string(PAGE, sp=session.get("sp"), notice=session.pop("notice", None),
                                      entity_id=conf["url"] + "/saml/metadata")

    @app.get("/login")
    def login() -> Response:
        client = _client(app, conf)
        request_id, info = client.prepare_for_authenticate(entityid=_idp(client), relay_state="/",
                                                           binding=BINDING_HTTP_REDIRECT)
        session["outstanding"] = request_id
        return redirect(dict(info["headers"])["Location"])

    @app.post("/acs")
    def acs() -> Response:
        client = _client(app, conf)
        outstanding = {session["outstanding"]: "/"} if session.get("outstanding") else {}
        try:
            result = client.parse_authn_request_response(request.form.get("SAMLResponse", ""),
                                                         BINDING_HTTP_POST, outstanding=outstanding)
            if result is None:
                raise ValueError("empty response")
            session["sp"] = _received(result)
        except Exception as exc:  # noqa: BLE001 (a demo shows any failure on its page)
            session["notice"] = f"Réponse SAML refusée : {type(exc).__name__}: {exc}"
        session.pop("outstanding", None)
        relay = request.form.get("RelayState", "/")
        return redirect(relay if relay.startswith(conf["url"] + "/") or relay == "/" else "/")

    @app.post("/logout")
    def logout() -> Response:
        received = session.pop("sp", None)
        client = _client(app, conf) if received else None
        slo = client.metadata.single_logout_service(_idp(client), BINDING_HTTP_REDIRECT, "idpsso") \
            if client else []
        if client is None or not slo:  # nobody signed in, or an IdP without SLO: local sign-out only
            session["notice"] = "Vous êtes déconnecté de cette application."
            return redirect("/")
        name_id = NameID(format=received["name_id"]["format"], text=received["name_id"]["value"],
                         name_qualifier=received["issuer"], sp_name_qualifier=conf["url"] + "/saml/metadata")
        _, logout_request = client.create_logout_request(
            slo[0]["location"], _idp(client), name_id=name_id, session_indexes=[received["session_index"]],
            sign=False, reason="urn:oasis:names:tc:SAML:2.0:logout:user")
        info = client.apply_binding(BINDING_HTTP_REDIRECT, str(logout_request), slo[0]["location"],
                                    relay_state="/", sign=True, sigalg=RSA_SHA256)
        return redirect(dict(info["headers"])["Location"])

    @app.route("/slo", methods=["GET", "POST"])
    def slo() -> Response | str:
        client = _client(app, conf)
        if "SAMLResponse" in request.args:  # the end of our LogoutRequest (we are signed out already)
            try:
                answer = client.parse_logout_request_response(request.args["SAMLResponse"],
                                                              BINDING_HTTP_REDIRECT)
                ok = answer is not None and answer.status_ok()
                notice = "Vous êtes déconnecté de la passerelle et de cette application." if ok else \
                    "La passerelle n'a pas pu terminer la déconnexion unique."
            except Exception as exc:  # noqa: BLE001 (a demo shows any failure on its page)
                notice = f"Réponse de déconnexion refusée : {type(exc).__name__}: {exc}"
            session.clear()
            session["notice"] = notice
            return redirect("/")
        if "SAMLRequest" not in request.values:
            return redirect("/")
        binding = BINDING_HTTP_POST if request.method == "POST" else BINDING_HTTP_REDIRECT
        logout = client.parse_logout_request(request.values["SAMLRequest"], binding)
        session.clear()  # front-channel: this browser's session is the one to end
        binding = SLO_BINDINGS.get(conf.get("slo_answer_binding", ""), binding)  # else as the request came
        destination = client.metadata.single_logout_service(_idp(client), binding, "idpsso")
        response = client.create_logout_response(logout.message, [binding], sign=binding == BINDING_HTTP_POST,
                                                 sign_alg=RSA_SHA256, digest_alg=SHA256)
        info = client.apply_binding(binding, str(response), destination[0]["location"],
                                    relay_state=request.values.get("RelayState"), response=True,
                                    sign=binding == BINDING_HTTP_REDIRECT, sigalg=RSA_SHA256)
        if binding == BINDING_HTTP_POST:  # pysaml2's page posts itself (an inline onload)
            return str(info["data"])
        return redirect(dict(info["headers"])["Location"])

    return app


PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Application de démonstration SAML — UNESS</title>
<style>body{font-family:system-ui,sans-serif;max-width:56rem;margin:1.5rem auto;padding:0 1rem}
.demo{background:#fff3cd;border:1px solid #d6b656;padding:.5rem 1rem}.notice{background:#e7f1ff;padding:.5rem}
table{border-collapse:collapse;margin-bottom:1rem}code{word-break:break-all}
th,td{border:1px solid #bbb;padding:.2rem .5rem;text-align:left}</style></head><body>
<p class="demo"><strong>Application de démonstration</strong> : une application « historique » qui
parle SAML 2.0 (fournisseur de service pysaml2), pour le développement seulement
(entityID <code>{{ entity_id }}</code>).</p>
<h1>Application de démonstration SAML</h1>
{% if notice %}<p class="notice" role="status">{{ notice }}</p>{% endif %}
{% if not sp %}
<p>Vous n'êtes pas connecté à cette application.</p>
<form method="get" action="/login"><button type="submit">Se connecter via UNESS</button></form>
{% else %}
<p>Connecté par <code>{{ sp.issuer }}</code>.</p>
<table><caption>Sujet et session</caption>
<tr><th>NameID (format)</th><td><code>{{ sp.name_id.format }}</code></td></tr>
<tr><th>NameID (valeur)</th><td><code>{{ sp.name_id.value }}</code></td></tr>
<tr><th>SessionIndex</th><td><code>{{ sp.session_index }}</code></td></tr>
<tr><th>AuthnInstant</th><td><code>{{ sp.authn_instant }}</code></td></tr></table>
<table><caption>Attributs reçus ({{ sp.attributes|length }})</caption>
<tr><th>nom usuel</th><th>nom (urn:oid)</th><th>valeurs</th></tr>
{% for a in sp.attributes %}<tr><td>{{ a.friendly }}</td><td><code>{{ a.name }}</code></td>
<td>{% for v in a["values"] %}<code>{{ v }}</code>{% if not loop.last %}<br>{% endif %}{% endfor %}</td></tr>
{% endfor %}</table>
<form method="post" action="/logout"><button type="submit">Se déconnecter</button></form>
{% endif %}
</body></html>
"""


def main() -> None:
    """``python -m gateway.demo.saml_sp``: serve the demo with werkzeug (development only)."""
    from werkzeug.serving import run_simple

    settings = settings_from_env()
    run_simple("127.0.0.1", int(settings["url"].rsplit(":", 1)[1]), create_app(settings), threaded=True)


if __name__ == "__main__":
    main()
