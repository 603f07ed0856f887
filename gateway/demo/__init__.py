"""Demonstration applications that `make run` (deploy/dev/run.sh) starts beside the gateway.

One module each, run with ``python -m gateway.demo.<module>``; nothing in the gateway imports them.
:mod:`gateway.demo.oidc_rp` is the OpenID Connect relying party on http://127.0.0.1:8002.
"""
