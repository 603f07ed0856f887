"""Application de démonstration: an OpenID Connect relying party of the gateway, for `make run` only.

deploy/dev/run.sh starts it on http://127.0.0.1:8002 (``GATEWAY_DEMO_OIDC_PORT``); the gateway never
imports it. It knows only the gateway's discovery URL and its own client id and secret: the dev-only
client ``dev-demo-rp`` of config/dev/oidc-clients.toml, unless ``GATEWAY_DEMO_OIDC_DISCOVERY_URL``,
``GATEWAY_DEMO_OIDC_CLIENT_ID`` or ``GATEWAY_DEMO_OIDC_CLIENT_SECRET`` say otherwise.

authlib's Flask client does the code flow (PKCE S256, nonce, ID token checked against the JWKS), UserInfo,
refresh and RP-Initiated Logout; ``/backchannel-logout`` checks Logout Tokens with joserfc and remembers
ended ``sid``s in memory (one process). Tokens live in the demo's signed session cookie: fine for a
demonstration on 127.0.0.1, never for a real application.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Mapping
from typing import Any

from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, abort, redirect, render_template_string, request, session
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact
from werkzeug.wrappers import Response

PORT = 8002
DEFAULTS = {
    "discovery_url": "http://127.0.0.1:8000/.well-known/openid-configuration",
    "client_id": "dev-demo-rp",
    "client_secret": "dev-only-oidc-secret-demo-rp",  # config/dev/oidc-clients.toml holds its hash
}
SCOPE = "openid profile email eduperson supann"
EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: app.extensions key: "sid:<sid>" or "sub:<sub>" -> when the gateway said that session ended
ENDED = "demo_oidc.ended"
TIME_CLAIMS = ("exp", "iat", "auth_time")
NO_STORE = {"Cache-Control": "no-store"}  # Back-Channel Logout 1.0 §2.8


def settings_from_env(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The demo's settings: its own URL (from the port), the discovery URL, its client id and secret."""
    port = int(environ.get("GATEWAY_DEMO_OIDC_PORT") or PORT)
    found = {"url": f"http://127.0.0.1:{port}"}
    for name, default in DEFAULTS.items():
        found[name] = environ.get(f"GATEWAY_DEMO_OIDC_{name.upper()}") or default
    return found


def _hhmmss(stamp: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(stamp))


def _fingerprint(token: str) -> str:  # enough to see a token change, without showing it
    return hashlib.sha256(token.encode()).hexdigest()[:8]


def verify_logout_token(client: Any, token: str) -> dict[str, Any]:
    """Back-Channel Logout 1.0 §2.6: signed (gateway JWKS), iss, aud, iat, exp, the logout event,
    sub or sid, and no nonce. Raises JoseError or ValueError."""
    metadata = client.load_server_metadata()
    algs = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    try:
        decoded = jwt.decode(token, KeySet.import_key_set(client.fetch_jwk_set()), algorithms=algs)
    except InvalidKeyIdError:  # a key published since the JWKS was fetched
        decoded = jwt.decode(token, KeySet.import_key_set(client.fetch_jwk_set(force=True)), algorithms=algs)
    claims = dict(decoded.claims)
    jwt.JWTClaimsRegistry(leeway=60, iss={"essential": True, "value": metadata["issuer"]},
                          aud={"essential": True, "value": client.client_id},
                          iat={"essential": True}, exp={"essential": True}).validate(claims)
    if decoded.header.get("typ", "logout+jwt") != "logout+jwt":
        raise ValueError("typ: not logout+jwt")
    if not isinstance(claims.get("events"), dict) or not isinstance(claims["events"].get(EVENT), dict):
        raise ValueError("events: no back-channel logout event")
    if "nonce" in claims:
        raise ValueError("nonce: forbidden in a logout token")
    if not (claims.get("sid") or claims.get("sub")):
        raise ValueError("neither sid nor sub")
    return claims


def create_app(settings: Mapping[str, str] | None = None) -> Flask:
    """The demo app; ``settings`` as :func:`settings_from_env` returns them (the tests pass their own)."""
    conf = {**DEFAULTS, "url": f"http://127.0.0.1:{PORT}", **(settings or {})}
    app = Flask(__name__)
    app.config.update(SECRET_KEY=secrets.token_urlsafe(32), SESSION_COOKIE_NAME="uness_demo_oidc",
                      SESSION_COOKIE_SAMESITE="Lax")
    ended: dict[str, float] = app.extensions.setdefault(ENDED, {})
    oauth = OAuth(app)
    uness: Any = oauth.register("uness", client_id=conf["client_id"], client_secret=conf["client_secret"],
                                server_metadata_url=conf["discovery_url"],
                                client_kwargs={"scope": SCOPE, "code_challenge_method": "S256"})

    def check_csrf() -> None:
        given = request.form.get("csrf_token", "").encode()
        if not hmac.compare_digest(given, session.get("csrf", "-").encode()):
            abort(400)

    def page(notice: str | None) -> str:
        session.setdefault("csrf", secrets.token_urlsafe(16))
        return render_template_string(PAGE, rp=session.get("rp"), notice=notice, conf=conf,
                                      time_claims=TIME_CLAIMS, hhmmss=_hhmmss, fingerprint=_fingerprint)

    @app.get("/")
    def home() -> str:
        notice = session.pop("notice", None)
        if request.args.get("state"):  # back from the gateway's end_session_endpoint
            try:
                uness.validate_logout_response()
                notice = "Vous êtes déconnecté de la passerelle et de cette application."
            except OAuthError:  # a state this browser never sent
                notice = "Retour de déconnexion inattendu (state inconnu) : ignoré."
        rp = session.get("rp")
        if rp:
            when = max(ended.get(f"sid:{rp['sid']}", 0), ended.get(f"sub:{rp['sub']}", 0))
            if when >= rp["since"]:
                session.clear()
                notice = f"Déconnecté par la passerelle (back-channel) à {_hhmmss(when)}"
        return page(notice)

    @app.get("/login")
    def login() -> Response:
        return uness.authorize_redirect(conf["url"] + "/callback")  # type: ignore[no-any-return]

    @app.get("/callback")
    def callback() -> Response:
        try:
            issuer = uness.load_server_metadata()["issuer"]
            if request.args.get("iss", issuer) != issuer:  # RFC 9207: the answer comes from our gateway
                raise ValueError(f"iss {request.args['iss']!r} is not {issuer!r}")
            token = uness.authorize_access_token()  # state, code + PKCE verifier, ID token (JWKS, nonce)
            userinfo = dict(uness.userinfo(token=token))
        except Exception as exc:  # noqa: BLE001 (a demo shows any failure on its page)
            session["notice"] = f"Connexion refusée : {type(exc).__name__}: {exc}"
            return redirect("/")
        claims = dict(token["userinfo"])  # authlib's name for the checked ID token claims
        session["rp"] = {
            "id_token": token["id_token"], "id_claims": claims,
            "header": extract_compact(token["id_token"].encode()).protected,
            "userinfo": userinfo, "access_token": token["access_token"],
            "refresh_token": token.get("refresh_token", ""), "expires_at": token.get("expires_at", 0),
            "sid": claims.get("sid", ""), "sub": claims["sub"], "since": time.time(),
        }
        return redirect("/")

    @app.post("/refresh")
    def refresh() -> Response:
        check_csrf()
        rp = session.get("rp")
        if not rp or not rp["refresh_token"]:
            return redirect("/")
        old = rp["refresh_token"]
        try:
            token = uness.fetch_access_token(grant_type="refresh_token", refresh_token=old)
            rp["userinfo"] = dict(uness.userinfo(token=token))
        except Exception as exc:  # noqa: BLE001
            session["notice"] = f"Rafraîchissement refusé : {type(exc).__name__}: {exc}"
            return redirect("/")
        new = token.get("refresh_token") or old
        rp.update(access_token=token["access_token"], refresh_token=new,
                  expires_at=token.get("expires_at", 0))
        session["rp"] = rp
        session["notice"] = (
            f"Jetons rafraîchis. Jeton de rafraîchissement : {_fingerprint(old)} → {_fingerprint(new)} "
            "(rotation : l'ancien ne vaut plus rien)." if new != old
            else "Jetons rafraîchis ; le jeton de rafraîchissement n'a pas changé.")
        return redirect("/")

    @app.post("/logout")
    def logout() -> Response:
        check_csrf()
        rp = session.get("rp")
        session.clear()
        if not rp:
            return redirect("/")
        return uness.logout_redirect(  # type: ignore[no-any-return]
            post_logout_redirect_uri=conf["url"] + "/", id_token_hint=rp["id_token"])

    @app.post("/backchannel-logout")
    def backchannel_logout() -> tuple[dict[str, str] | str, int, dict[str, str]]:
        try:
            claims = verify_logout_token(uness, request.form.get("logout_token", ""))
        except (JoseError, ValueError) as exc:
            app.logger.warning("back-channel logout refused: %s", exc)
            return {"error": "invalid_request", "error_description": str(exc)}, 400, NO_STORE
        now = time.time()
        for key in [k for k, t in ended.items() if t < now - 86400]:  # stay small
            ended.pop(key, None)
        ended[f"sid:{claims['sid']}" if claims.get("sid") else f"sub:{claims['sub']}"] = now
        return "", 200, NO_STORE

    return app


PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Application de démonstration OIDC — UNESS</title>
<style>body{font-family:system-ui,sans-serif;max-width:56rem;margin:1.5rem auto;padding:0 1rem}
.demo{background:#fff3cd;border:1px solid #d6b656;padding:.5rem 1rem}.notice{background:#e7f1ff;padding:.5rem}
table{border-collapse:collapse;margin-bottom:1rem}th,td{border:1px solid #bbb;padding:.2rem .5rem}
th{text-align:left}code{word-break:break-all}form{display:inline-block;margin-right:1rem}</style></head><body>
<p class="demo"><strong>Application de démonstration</strong> : un client OpenID Connect de la passerelle
UNESS, pour le développement seulement (client <code>{{ conf.client_id }}</code>).</p>
<h1>Application de démonstration OIDC</h1>
{% if notice %}<p class="notice" role="status">{{ notice }}</p>{% endif %}
{% if not rp %}
<p>Vous n'êtes pas connecté à cette application (découverte : <code>{{ conf.discovery_url }}</code>).</p>
<form method="get" action="/login"><button type="submit">Se connecter avec UNESS</button></form>
{% else %}
<p>Connecté : <strong>{{ rp.userinfo.name or rp.sub }}</strong> {{ rp.userinfo.email or "" }}.</p>
<h2>ID token</h2>
<p>En-tête : <code>alg</code> = <code>{{ rp.header.alg }}</code>,
<code>kid</code> = <code>{{ rp.header.kid }}</code>. La passerelle n'en délivre pas au rafraîchissement :
celui de la connexion reste affiché.</p>
{% for title, claims in [("de l’ID token", rp.id_claims), ("UserInfo", rp.userinfo)] %}
<table><caption>Revendications {{ title }}</caption><tr><th>revendication</th><th>valeur</th></tr>
{% for name, value in claims|dictsort %}<tr><td><code>{{ name }}</code></td><td><code>
{%- if value is string %}{{ value }}{% else %}{{ value|tojson }}{% endif %}</code>
{%- if name in time_claims %} ({{ hhmmss(value) }}){% endif %}</td></tr>
{% endfor %}</table>
{% endfor %}
<p>Jeton d'accès : expire à {{ hhmmss(rp.expires_at) }} ; jeton de rafraîchissement :
empreinte <code>{{ fingerprint(rp.refresh_token) if rp.refresh_token else "aucun" }}</code>.</p>
{% for action, label in [("/refresh", "Rafraîchir les jetons"), ("/logout", "Se déconnecter")] %}
<form method="post" action="{{ action }}"><input name="csrf_token" type="hidden" value="{{ session.csrf }}">
<button type="submit">{{ label }}</button></form>
{% endfor %}
{% endif %}
</body></html>
"""


def main() -> None:
    """``python -m gateway.demo.oidc_rp``: serve the demo with werkzeug (development only)."""
    from werkzeug.serving import run_simple

    settings = settings_from_env()
    run_simple("127.0.0.1", int(settings["url"].rsplit(":", 1)[1]), create_app(settings), threaded=True)


if __name__ == "__main__":
    main()
