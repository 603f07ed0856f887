"""Which SPs took part in an SSO session, and with which NameID and SessionIndex (for SLO).

Each Response sent is recorded with ``identity.parties`` (protocol ``"saml"``,
the SP entityID, and what SLO needs: NameID value, Format, qualifiers,
SessionIndex), for the session's lifetime. The same SP asking again in the same
session gets the same transient NameID and SessionIndex back (NID01, RSP07).

``gateway/saml/slo.py`` (its hook registered with ``identity.logout.on_session_end``)
sends them LogoutRequests (SLO04) from the same records.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..identity.parties import Parties
from .nameids import IssuedNameId
from .sso import Participation

PROTOCOL = "saml"
log = logging.getLogger("gateway.saml")


def previous(parties: Parties, session_id: str, sp_entity_id: str) -> Participation | None:
    """What this SP already got in this session, if anything."""
    record = parties.of(session_id, PROTOCOL).get(sp_entity_id)
    return participation_of(record) if record else None


def record(parties: Parties, session_id: str, sp_entity_id: str, participation: Participation,
           ttl: int) -> None:
    name_id = participation.name_id
    parties.joined(session_id, PROTOCOL, sp_entity_id, {
        "name_id": name_id.value, "name_id_format": name_id.format,
        "name_qualifier": name_id.name_qualifier, "sp_name_qualifier": name_id.sp_name_qualifier,
        "session_index": participation.session_index,
    }, ttl)


def participation_of(record: Mapping[str, Any]) -> Participation:
    name_id = IssuedNameId(record["name_id"], record["name_id_format"], record.get("name_qualifier"),
                           record.get("sp_name_qualifier"))
    return Participation(name_id, record["session_index"])
