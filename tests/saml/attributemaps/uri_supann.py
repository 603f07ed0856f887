"""The test SP's attribute map: pysaml2's urn:oid map plus the SupAnn names it lacks (ATT04)."""
from saml2.attributemaps.saml_uri import MAP as _BASE

SUPANN = "urn:oid:1.3.6.1.4.1.7135.1.2.1."
_EXTRA = {SUPANN + "14": "supannEtablissement", SUPANN + "1": "supannListeRouge"}

MAP = {
    "identifier": _BASE["identifier"],
    "fro": {**_BASE["fro"], **_EXTRA},
    "to": {**_BASE["to"], **{name: oid for oid, name in _EXTRA.items()}},
}
