"""Where an OIDC flow's CPU goes, in one process: ``python -m bench.oidc_split [count] [--profile]``.

A private Redis and gunicorn sign one browser in through the real pages (as
``bench oidc`` does); then the same app, built in this process, answers
``count`` code flows (authorize with the session cookie, then the token request
with client_secret_basic and PKCE) through Flask's test client, and this prints
the thread CPU per flow: each request in the app (``Flask.wsgi_app``: no
gunicorn, no socket) and the ID-token signature within the token request.
``--profile`` adds cProfile's view (read its shares, not its milliseconds).
"""
from __future__ import annotations

import cProfile
import pstats
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from gateway.oidc.credentials import new_secret

from . import oidc
from .inprocess import counting, signed_in_app


def main(argv: list[str]) -> None:
    count = int(next((a for a in argv if a.isdigit()), "500"))
    client = oidc.BenchClient(oidc.CLIENT_ID, new_secret(), "RS256")
    with tempfile.TemporaryDirectory(prefix="uness-bench-oidc-split-") as directory:
        tmp = Path(directory)
        clients_file = tmp / "oidc-clients.toml"
        clients_file.write_text(client.toml(), encoding="utf-8")
        extra = {"GATEWAY_OIDC_CLIENTS_FILE": str(clients_file)}
        with signed_in_app(tmp, extra) as (app, test, base_url):
            from gateway.oidc.keys import Keys

            spent = {"authorize": [0.0], "token": [0.0], "signature": [0.0]}
            current = ["authorize"]

            def one() -> None:
                verifier = secrets.token_urlsafe(48)
                query = urlencode({"response_type": "code", "client_id": client.client_id,
                                   "redirect_uri": oidc.REDIRECT_URI, "scope": oidc.SCOPE,
                                   "state": secrets.token_urlsafe(12), "nonce": secrets.token_urlsafe(12),
                                   "code_challenge": oidc.s256(verifier), "code_challenge_method": "S256"},
                                  quote_via=quote)
                current[0] = "authorize"
                reply = test.get(f"/oidc/authorize?{query}", base_url=base_url)
                code = parse_qs(urlsplit(reply.headers.get("Location", "")).query).get("code")
                if reply.status_code != 302 or not code:
                    sys.exit(f"bench: authorize answered {reply.status_code}")
                current[0] = "token"
                answer = test.post("/oidc/token", base_url=base_url, data={
                    "grant_type": "authorization_code", "code": code[0], "redirect_uri": oidc.REDIRECT_URI,
                    "code_verifier": verifier}, headers={"Authorization": client.authorization})
                if answer.status_code != 200 or "id_token" not in answer.get_json():
                    sys.exit(f"bench: token answered {answer.status_code} {answer.data[:200]!r}")

            for _ in range(100):  # warm-up: caches, first reads
                one()
            plain = (Keys.sign, app.wsgi_app)

            def wsgi(*args: object) -> object:
                started = time.thread_time()
                try:
                    return plain[1](*args)
                finally:
                    spent[current[0]][0] += time.thread_time() - started

            Keys.sign = counting(spent["signature"], plain[0])  # type: ignore[method-assign]
            app.wsgi_app = wsgi  # type: ignore[method-assign]
            parts = _timed_parts() if "--split" in argv else {}
            for _ in range(count):
                one()
            Keys.sign = plain[0]  # type: ignore[method-assign]
            app.wsgi_app = plain[1]  # type: ignore[method-assign]
            per = {k: v[0] / count * 1000 for k, v in spent.items()}
            print(f"per flow, thread CPU over {count}: authorize {per['authorize']:.2f} ms + token "
                  f"{per['token']:.2f} ms (signature {per['signature']:.2f}) = "
                  f"{per['authorize'] + per['token']:.2f} ms")
            for name, (owner, attr, original, total) in parts.items():
                setattr(owner, attr, original)
                print(f"  {name:<58} {total[0] / count * 1000:.3f} ms")
            if "--profile" in argv:
                profile = cProfile.Profile(time.thread_time)
                profile.runcall(lambda: [one() for _ in range(count)])
                pstats.Stats(profile).sort_stats("cumulative").print_stats(60)


def _timed_parts() -> dict[str, tuple[Any, str, Any, list[float]]]:
    """Wrap the functions a flow goes through, each counting its (inclusive) thread CPU."""
    from gateway.identity.flaskglue import session_interface
    from flask import Flask

    from gateway.oidc import authorize, exchange, provider

    targets = [
        (session_interface.RedisSessionInterface, "open_session"),
        (session_interface.RedisSessionInterface, "save_session"),
        (authorize, "current_user"), (authorize, "validate_authorization"),
        (authorize, "check_unsupported"), (authorize, "login_needed"), (authorize, "audit"),
        (authorize, "issue_code"), (authorize, "authorization_response"), (authorize, "reserialised"),
        (exchange, "authenticate_client"), (exchange, "redeem_code"), (exchange, "check_code_verifier"),
        (exchange, "new_tokens"), (exchange, "sign_id_token"), (provider.Provider, "save_code_tokens"),
        (provider, "audit"), (exchange, "json_response"),
        (Flask, "preprocess_request"), (Flask, "process_response"), (Flask, "request_context"),
        (Flask, "do_teardown_request"), (Flask, "full_dispatch_request"),
    ]
    parts: dict[str, tuple[Any, str, Any, list[float]]] = {}
    for owner, attr in targets:
        original = getattr(owner, attr)
        total = [0.0]
        setattr(owner, attr, counting(total, original))
        parts[f"{getattr(owner, '__name__', owner)}.{attr}"] = (owner, attr, original, total)
    return parts


if __name__ == "__main__":
    main(sys.argv[1:])
