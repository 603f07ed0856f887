"""The service providers the gateway trusts, and what each of them gets.

``providers`` (an SP as its metadata describes it), ``aggregates`` (remote
signed SP aggregates), ``policy`` (the per-SP settings, ``[saml.sp."<entityID>"]``),
``attributes`` (the account in Renater attributes, and the release policy),
``nameids`` (NameID formats and identifiers that never change) and ``scopes``
(the eppn scopes the gateway may assert).
"""
