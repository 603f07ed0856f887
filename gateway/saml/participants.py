"""Which SPs took part in an SSO session, and with which NameID and SessionIndex (groundwork for SLO).

Each Response sent is recorded with ``identity.parties`` (protocol ``"saml"``,
the SP entityID, and what SLO needs: NameID value, Format, qualifiers,
SessionIndex), for the session's lifetime. The same SP asking again in the same
session gets the same transient NameID and SessionIndex back (NID01, RSP07).

:func:`logout_hook` is registered with ``identity.logout.on_session_end``. It
only lists the SAML participants for now; ``gateway/saml/slo.py`` will send them
LogoutRequests (SLO04) from the same records.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
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


def logout_hook(parties: Parties) -> Callable[[str, Mapping[str, Any]], None]:
    """The hook for ``identity.logout.on_session_end``."""

    def on_session_end(session_id: str, data: Mapping[str, Any]) -> None:
        """Reads the SAML SPs of the ended session; SLO (next step) will send them LogoutRequests here."""
        sps = sorted(parties.of(session_id, PROTOCOL))
        if sps:
            log.info("session ended with %d SAML SP(s) not notified (SLO not implemented yet)", len(sps))

    return on_session_end
