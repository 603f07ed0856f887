"""The SAML wire format and its cryptography: what any message is made of, whoever it is for.

``xml`` (safe parsing, namespaces), ``bindings`` (HTTP-Redirect and HTTP-POST
decoding, size caps), ``keys`` (the IdP's keys and certificates), ``crypto``
(signing and encrypting, in-process or with the xmlsec1 program) and
``signatures`` (checking the signatures of incoming messages), ``schemas``
(pysaml2's schema validator, built when first used). Nothing here knows an SP, a
session or Flask.
"""
