"""OpenID Connect provider (authlib): discovery, authorize, token, userinfo, logout, registration.

This package's ``__init__`` imports nothing: :mod:`gateway.config` reads
:mod:`.settings` (the ``[oidc]`` settings and their checks, run by
:func:`gateway.config.load_settings` with every other check) without loading
authlib. :func:`gateway.oidc.app.init_app` (called by ``create_app``) checks what the values cannot tell (a key set marked dev-only in
production), loads the signing keys and the clients file, builds the
:class:`~gateway.oidc.provider.Provider` with :func:`~gateway.oidc.server.build_provider`
(``app.extensions["gateway.oidc"]``, read with :func:`~gateway.oidc.provider.current_provider`),
registers the views, the logout hook (Back-Channel Logout, its jobs on
:data:`gateway.jobs.LOGOUT`).

Development uses the dev-only keys of config/dev/oidc/keys and the dev-only
clients of config/dev/oidc-clients.toml when nothing else is configured;
production refuses both, and without any signing key the provider is off (its
pages answer 404), as the SAML IdP is without its key.

Module map, each importing only those before it: ``errors``, ``credentials``,
``keys``, ``claims``, ``models``, ``clients`` (and registered clients in Redis),
``tokens`` (Redis), ``provider`` (the facade the parts call), ``grants``, ``discovery``,
``endpoints``, ``exchange``, ``registration``, ``authorize``, ``backchannel``, ``views``, and
``server`` (the builder wiring authlib's server around the facade), and ``app`` (``init_app``). ``grants``
holds the code grant (the authorization request's checks, the code, its
redemption, PKCE, the ID token; not authlib's) and authlib's refresh grant;
``endpoints`` revocation, introspection, end session, userinfo and
private_key_jwt; ``exchange`` the token endpoint's code exchange and the one
client authentication; ``registration`` RFC 7591/7592; ``authorize`` the
authorization endpoint and the hand-over to the sign-in pages; ``backchannel``
the logout tokens.
"""
