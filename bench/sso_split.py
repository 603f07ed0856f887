"""Where an SSO's CPU goes, in one process: ``python -m bench.sso_split [count] [--profile] [--pieces]``.

A private Redis and gunicorn sign one browser in through the real pages; then the
same app, built in this process, answers ``count`` SSO requests (fresh
Redirect-binding AuthnRequests, as ``bench saml`` sends them) through Flask's test
client, and this prints the thread CPU per SSO: the whole request in the app
(``Flask.wsgi_app``: no gunicorn, no socket), the response crypto (the signer's
``sign`` and ``encrypt``) and the rest. ``--profile`` adds cProfile's view by
thread CPU (each Python call costs more under the profiler: read its shares,
not its milliseconds); ``--pieces`` the thread CPU of each step of the path
(:data:`PIECES`), timed in place: a function timed alone in a loop costs less
than on the path, where the crypto before it has emptied the caches. Steadier
than a profile of the workers under load, and it needs no ptrace; gunicorn's
own share (request parsing, access line, poller, socket writes) is what
``bench saml`` reports beyond this.
"""
from __future__ import annotations

import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

from . import saml
from .inprocess import counting, signed_in_app, time_pieces


#: The steps ``--pieces`` times: (module, class or None, function), looked up where the path calls them.
PIECES = (
    ("gateway.identity.flaskglue.session_interface", "RedisSessionInterface", "open_session"),
    ("gateway.saml.views", None, "read_redirect"),
    ("gateway.saml.views", None, "receive"),
    # /saml/sso opens its session itself: the session with the SSO's reads (load: the script)
    ("gateway.identity.flaskglue.session_interface", "RedisSessionInterface", "open_awaiting"),
    ("gateway.saml.slo.participants", None, "load"),
    ("gateway.saml.sso.answer", None, "attributes_for"),
    ("gateway.saml.sso.answer", None, "build_success"),
    ("gateway.saml.views", None, "post_form"),
    ("gateway.saml.views", None, "audit"),
    ("gateway.identity.flaskglue.session_interface", "RedisSessionInterface", "save_session"),
    ("flask.app", "Flask", "preprocess_request"),
    ("flask.app", "Flask", "process_response"),
)


def main(argv: list[str]) -> None:
    count = int(next((a for a in argv if a.isdigit()), "500"))
    with tempfile.TemporaryDirectory(prefix="uness-bench-split-") as directory:
        tmp = Path(directory)
        extra = saml.bench_sp(tmp)
        with signed_in_app(tmp, extra) as (app, client, base_url):
            from gateway.saml.wire.crypto import InProcessSigner

            requests = saml.Requests(base_url + "/saml/sso")

            def one() -> None:
                reply = client.get(requests.next()[1], base_url=base_url)
                if reply.status_code != 200 or b'name="SAMLResponse"' not in reply.data:
                    sys.exit(f"bench: the SSO failed ({reply.status_code})")

            for _ in range(50):  # warm-up: caches, first reads
                one()
            pieces = time_pieces(PIECES) if "--pieces" in argv else {}
            crypto, whole = [0.0], [0.0]
            signer = InProcessSigner
            plain = (signer.sign, signer.encrypt, app.wsgi_app)
            signer.sign = counting(crypto, plain[0])  # type: ignore[method-assign]
            signer.encrypt = counting(crypto, plain[1])  # type: ignore[method-assign]
            app.wsgi_app = counting(whole, plain[2])  # type: ignore[method-assign]
            for _ in range(count):
                one()
            signer.sign, signer.encrypt = plain[0], plain[1]  # type: ignore[method-assign]
            app.wsgi_app = plain[2]  # type: ignore[method-assign]
            per = [v / count * 1000 for v in (whole[0], crypto[0])]
            print(f"per SSO, thread CPU over {count}: the app {per[0]:.2f} ms = response crypto "
                  f"{per[1]:.2f} ms + the rest {per[0] - per[1]:.2f} ms")
            for name, spent in pieces.items():  # build_success includes the crypto
                print(f"  {name:20} {spent[0] / count * 1000:.3f} ms")
            if "--profile" in argv:
                profile = cProfile.Profile(time.thread_time)
                profile.runcall(lambda: [one() for _ in range(count)])
                pstats.Stats(profile).sort_stats("cumulative").print_stats(45)


if __name__ == "__main__":
    main(sys.argv[1:])
