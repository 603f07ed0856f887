"""The attributes the gateway can release, by name: FriendlyName -> Name (ATT01, ATT05).

One table, read by the release (:mod:`.attributes`) and by the checks of the
per-SP settings (:mod:`.policy`: an ``attributes`` list may name only these).
Names are ``urn:oid:…`` (the URN itself for subject-id and pairwise-id), with
NameFormat :data:`URI`.
"""
from __future__ import annotations

URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
EDU = "urn:oid:1.3.6.1.4.1.5923.1.1.1."
#: FriendlyName -> Name (ATT05).
ATTRIBUTES = {
    "eduPersonPrincipalName": EDU + "6",
    "mail": "urn:oid:0.9.2342.19200300.100.1.3",
    "displayName": "urn:oid:2.16.840.1.113730.3.1.241",
    "givenName": "urn:oid:2.5.4.42",
    "sn": "urn:oid:2.5.4.4",
    "cn": "urn:oid:2.5.4.3",
    "eduPersonAffiliation": EDU + "1",
    "eduPersonScopedAffiliation": EDU + "9",
    "eduPersonPrimaryAffiliation": EDU + "5",
    "supannEtablissement": "urn:oid:1.3.6.1.4.1.7135.1.2.1.14",
    "supannListeRouge": "urn:oid:1.3.6.1.4.1.7135.1.2.1.1",
    "eduPersonTargetedID": EDU + "10",
    "subject-id": "urn:oasis:names:tc:SAML:attribute:subject-id",
    "pairwise-id": "urn:oasis:names:tc:SAML:attribute:pairwise-id",
}
