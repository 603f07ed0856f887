"""The gateway's own identity provider: built once per process, and its metadata.

``build`` (the :class:`~.build.IdentityProvider` made from the settings: keys,
signer, SP metadata and policies), ``metadata`` (the IdP metadata it publishes,
signed) and ``gauges`` (certificate expiry and aggregate ages for /metrics).
"""
