"""What an application sees of a person after it moves to the gateway, and the check that every
identifier it stores today comes back (issue 11, ``gateway saml cutover-check``).

An application behind a Shibboleth SP 3 keys its users on what the SP's default
attribute map makes of the Response: ``eppn`` (eduPersonPrincipalName),
``persistent-id`` (the persistent NameID and eduPersonTargetedID, rendered by the
NameIDAttributeDecoder as ``$NameQualifier!$SPNameQualifier!$Name`` with
``defaultQualifiers="true"``: an absent qualifier becomes the issuer, resp. the
SP) and ``REMOTE_USER`` (the first of eppn, subject-id, pairwise-id,
persistent-id). SimpleSAMLphp keeps the NameID (its ``saml:NameIDAttribute``
filter renders it ``%I!%S!%V``, the same string) or its bare value.
:func:`application_view` renders these from what the SSO code builds
(:func:`gateway.saml.sp.nameids.format_for`, :meth:`~gateway.saml.sp.nameids.NameIds.persistent_name_id`,
:func:`gateway.saml.sso.answer.attributes_for`): nothing is derived twice.

:func:`check` takes the identifiers an application stores, finds the account that
should produce each (through the directory's uniqueness index, one HMGET per
chunk: ``legacy_ids`` by value, legacy eppns and eppns), computes what that
account's next sign-in to the SP produces, and reports each identifier that will
not come back with its reason and fix. The default attribute-policy of Shibboleth
SP 3 (``NameIDQualifierString``) drops a persistent-id qualified by another IdP,
so every former NameQualifier kept needs :func:`attribute_policy_rule` on the SP.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence

from saml2.saml import NAMEID_FORMAT_PERSISTENT

from ..accounts.directory import Directory
from ..accounts.models import Account, eppn_scope
from .idp.build import IdentityProvider
from .sp.attributes import Value, released_names
from .sp.nameids import IssuedNameId, KnownNameIds, NameIdPolicy, NameIds, format_for
from .sp.providers import ServiceProvider
from .sso.answer import attributes_for

#: Shibboleth SP 3's default REMOTE_USER, in order (shibboleth2.xml).
REMOTE_USER = ("eduPersonPrincipalName", "subject-id", "pairwise-id", "persistent-id")
#: The attributes the check compares a line with (:func:`keys_of`): ``eppn``, and
#: eduPersonTargetedID beside the persistent NameID for ``persistent-id``.
COMPARED = frozenset({"eduPersonPrincipalName", "eduPersonTargetedID"})
_CHUNK = 5000


@dataclasses.dataclass(frozen=True)
class ApplicationKeys:
    """The identifiers the application behind the SP may key a person on (what the check compares)."""

    eppn: str
    #: ``persistent-id`` as the SP exposes it: from the persistent NameID and eduPersonTargetedID,
    #: in that order, joined by ";" ("" when there is none)
    persistent_id: str
    #: the persistent NameID's bare value ("" when the NameID is transient or an address)
    name_id: str


@dataclasses.dataclass(frozen=True)
class ApplicationView(ApplicationKeys):
    """What the application behind the SP sees of a person."""

    remote_user: str


def persistent_id(name_id: IssuedNameId, idp_entity_id: str, sp_entity_id: str) -> str:
    """``NameQualifier!SPNameQualifier!value``, absent qualifiers being the IdP and the SP (Shibboleth
    SP 3 NameIDAttributeDecoder with defaultQualifiers; SimpleSAMLphp saml:NameIDAttribute ``%I!%S!%V``).
    """
    name_qualifier = name_id.name_qualifier or idp_entity_id
    return f"{name_qualifier}!{name_id.sp_name_qualifier or sp_entity_id}!{name_id.value}"


def sent_persistent(name_format: str, persistent: IssuedNameId | None) -> IssuedNameId | None:
    """The persistent NameID as the SP's NameID: ``persistent`` when that is the format, else None."""
    return persistent if name_format == NAMEID_FORMAT_PERSISTENT else None


def application_keys(idp_entity_id: str, sp_entity_id: str, name_format: str, persistent: IssuedNameId | None,
                     released: Mapping[str, tuple[Value, ...]]) -> ApplicationKeys:
    """The eppn and persistent-id the SP exposes, from the NameID format and persistent NameID the SSO
    would issue and the attributes it would release (the SP accepting the NameQualifiers it is given,
    see the runbook)."""
    sent = sent_persistent(name_format, persistent)
    ids = [sent] if sent is not None else []
    ids += [v for v in released.get("eduPersonTargetedID", ()) if isinstance(v, IssuedNameId)]
    joined = ";".join(persistent_id(i, idp_entity_id, sp_entity_id) for i in ids)
    eppns = released.get("eduPersonPrincipalName")
    return ApplicationKeys(str(eppns[0]) if eppns else "", joined, sent.value if sent is not None else "")


def application_view(idp_entity_id: str, sp_entity_id: str, name_format: str, persistent: IssuedNameId | None,
                     released: Mapping[str, tuple[Value, ...]]) -> ApplicationView:
    """What the SP exposes (:func:`application_keys`), with its REMOTE_USER."""
    keys = application_keys(idp_entity_id, sp_entity_id, name_format, persistent, released)
    first = {name: str(values[0]) for name, values in released.items() if values}
    remote = next((first[n] for n in REMOTE_USER[:3] if n in first), keys.persistent_id)
    return ApplicationView(keys.eppn, keys.persistent_id, keys.name_id, remote)


def issued_name_id(sp: ServiceProvider, account: Account,
                   name_ids: NameIds) -> tuple[str, IssuedNameId | None]:
    """The NameID format the SSO would use for this person without a NameIDPolicy, and their persistent
    NameID at the SP (None: none yet; nothing made)."""
    persistent = name_ids.persistent_name_id(account, sp.entity_id, create=False)
    return format_for(account, sp, NameIdPolicy()), persistent


def keys_of(idp: IdentityProvider, sp: ServiceProvider, account: Account,
            name_ids: NameIds) -> ApplicationKeys:
    """What the application will key this person on at their next sign-in without a NameIDPolicy
    (nothing made). Only the attributes of :data:`COMPARED` are computed (subject-id and pairwise-id,
    a hash each, are not: no line is compared with them)."""
    name_format, persistent = issued_name_id(sp, account, name_ids)
    released = attributes_for(idp, sp, account, name_ids, NameIdPolicy(), create=False, only=COMPARED)
    return application_keys(idp.entity_id, sp.entity_id, name_format, persistent, released)


def attribute_policy_rule(name_qualifiers: Sequence[tuple[str, str]]) -> str:
    """The ``persistent-id`` AttributeRule of a Shibboleth SP 3 attribute-policy.xml that accepts the
    issuer's own qualifiers and each (NameQualifier, SPNameQualifier) given ("" : the SP's own).
    """
    rules = ['        <Rule xsi:type="NameIDQualifierString"/>']
    for name_qualifier, sp_name_qualifier in name_qualifiers:
        extra = f' SPNameQualifier="{_xml(sp_name_qualifier)}"' if sp_name_qualifier else ""
        rules.append(f'        <Rule xsi:type="NameIDQualifierString" '
                     f'NameQualifier="{_xml(name_qualifier)}"{extra}/>')
    return "\n".join(['<AttributeRule attributeID="persistent-id">', '    <PermitValueRule xsi:type="OR">',
                      *rules, "    </PermitValueRule>", "</AttributeRule>"])


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


# -- the check ----------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Finding:
    """An identifier no account will produce: why, and what to do."""

    identifier: str
    reason: str
    fix: str


@dataclasses.dataclass
class Report:
    total: int = 0
    recognised: int = 0
    findings: list[Finding] = dataclasses.field(default_factory=list)
    #: (NameQualifier, SPNameQualifier) of recognised persistent-ids the SP must accept
    former_qualifiers: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    #: ids of the accounts the file names
    mentioned: set[str] = dataclasses.field(default_factory=set)


@dataclasses.dataclass(frozen=True)
class _Line:
    text: str
    kind: str  # "persistent-id", "eppn" or "value"
    value: str
    name_qualifier: str = ""
    sp_name_qualifier: str = ""


def parse_line(text: str) -> _Line:
    """A Shibboleth persistent-id (two ``!``), an eppn (one ``@``, no spaces), else a bare NameID value."""
    parts = text.split("!")
    if len(parts) == 3 and all(parts):
        return _Line(text, "persistent-id", parts[2], parts[0], parts[1])
    if text.count("@") == 1 and all(text.split("@")):
        return _Line(text, "eppn", text)
    return _Line(text, "value", text)


def _entries(line: _Line, sp: str) -> list[tuple[str, str, str]]:
    """The index entries to read for a line: legacy eppn, eppn, legacy id (by value)."""
    if line.kind == "eppn":
        return [("legacy_eppn", sp, line.value), ("eppn", "", line.value), ("legacy_id", sp, line.value)]
    return [("legacy_id", sp, line.value)]


def check(idp: IdentityProvider, sp: ServiceProvider, directory: Directory, name_ids: NameIds,
          identifiers: Sequence[str]) -> Report:
    """Judge every identifier the application stores (see the module docstring)."""
    report = Report(total=len(identifiers))
    for chunk in _chunked([parse_line(text) for text in identifiers], _CHUNK):
        entries = [_entries(line, sp.entity_id) for line in chunk]
        flat = directory.holders([e for group in entries for e in group])
        holders: Iterator[str | None] = iter(flat)
        found = [[next(holders) for _ in group] for group in entries]
        accounts = directory.get_many({h for group in found for h in group if h})
        judge = _Judge(idp, sp, _prefetched(name_ids, sp, accounts), accounts, report)
        for line, owners in zip(chunk, found):
            judge.line(line, owners)
    return report


def unmentioned(directory: Directory, sp: ServiceProvider, mentioned: set[str]) -> list[Account]:
    """Accounts holding a legacy id or legacy eppn for ``sp`` that ``mentioned`` does not name, by id."""
    left = sorted(directory.legacy_holders(sp.entity_id) - mentioned)
    found = directory.get_many(left)
    return [found[account_id] for account_id in left if account_id in found]


def _prefetched(name_ids: NameIds, sp: ServiceProvider, accounts: Mapping[str, Account]) -> NameIds:
    """``name_ids`` with the stored persistent values of ``accounts`` for ``sp`` read in one pipeline."""
    ids = [a for a, account in accounts.items() if not account.legacy_ids.get(sp.entity_id)]
    pipe = name_ids.store.redis.pipeline(transaction=False)
    for account_id in ids:
        pipe.hget(name_ids.store.persistent_ids_key(account_id), sp.entity_id)
    return KnownNameIds(name_ids, sp.entity_id, dict(zip(ids, pipe.execute())))


class _Judge:
    """Compares each line with what its account will produce; records the verdict in the report."""

    def __init__(self, idp: IdentityProvider, sp: ServiceProvider, name_ids: NameIds,
                 accounts: Mapping[str, Account], report: Report) -> None:
        self.idp, self.sp, self.name_ids, self.accounts, self.report = idp, sp, name_ids, accounts, report
        self._views: dict[str, ApplicationKeys] = {}

    def view(self, account: Account) -> ApplicationKeys:
        if account.id not in self._views:
            self._views[account.id] = keys_of(self.idp, self.sp, account, self.name_ids)
        return self._views[account.id]

    def name_id(self, account: Account) -> str:
        """:attr:`ApplicationKeys.name_id` without the attributes (what a bare value is compared with)."""
        if account.id in self._views:
            return self._views[account.id].name_id
        sent = sent_persistent(*issued_name_id(self.sp, account, self.name_ids))
        return sent.value if sent is not None else ""

    def line(self, line: _Line, owners: list[str | None]) -> None:
        if line.kind == "eppn":
            self._eppn(line, *owners)
        else:
            self._persistent(line, owners[0])

    def _eppn(self, line: _Line, legacy: str | None, plain: str | None, by_value: str | None) -> None:
        holder = self.accounts.get(plain or "")
        if holder is not None and self.sp.entity_id in holder.legacy_eppns:
            if legacy is None:
                return self._miss(line, f"account {holder.id} will send its legacy eppn for this SP, "
                                        f"{holder.legacy_eppns[self.sp.entity_id]}",
                                  "correct that account's legacy_eppns (gateway users import)")
            holder = None
        if legacy and holder is not None and holder.id != legacy:
            return self._miss(line, f"two accounts will send it ({legacy}, {holder.id})",
                              "keep it on one account only (its eppn or its legacy_eppns for this SP)")
        account = self.accounts.get(legacy or "") or holder
        if account is None:
            if by_value is not None:
                return self._persistent(dataclasses.replace(line, kind="value"), by_value)
            return self._miss(line, "no such account", self._import("legacy_eppns", line.value))
        self.report.mentioned.add(account.id)
        if self._unusable(line, account):
            return None
        sent = self.view(account).eppn
        if sent == line.value:
            self.report.recognised += 1
            return None
        wanted = account.eppn_for(self.sp.entity_id)
        if "eduPersonPrincipalName" not in released_names(self.sp):
            return self._miss(line, "eduPersonPrincipalName is not released to this SP",
                              f'add it to attributes in [saml.sp."{self.sp.entity_id}"]')
        if wanted and eppn_scope(wanted) not in self.idp.settings.scopes:
            return self._miss(line, f"the eppn scope {eppn_scope(wanted)} is not published yet",
                              "add it to saml.extra_scopes (published in the metadata at once; "
                              "the SP drops the eppn until it reloads the metadata)")
        return self._miss(line, f"account {account.id} will send {sent or '(no eppn)'}",
                          self._import("legacy_eppns", line.value, account.id))

    def _persistent(self, line: _Line, owner: str | None) -> None:
        account = self.accounts.get(owner or "")
        legacy: object = line.value
        if line.kind == "persistent-id" and line.name_qualifier != self.idp.entity_id:
            legacy = {"value": line.value, "name_qualifier": line.name_qualifier,
                      **({"sp_name_qualifier": line.sp_name_qualifier}
                         if line.sp_name_qualifier != self.sp.entity_id else {})}
        if account is None:
            return self._miss(line, "no such account", self._import("legacy_ids", legacy))
        self.report.mentioned.add(account.id)
        if self._unusable(line, account):
            return None
        if line.kind == "value":  # compared with the NameID alone
            if self.name_id(account) != line.value:
                return self._transient(line)
            self.report.recognised += 1
            return None
        view = self.view(account)
        if line.text == view.persistent_id:
            self.report.recognised += 1
            if (line.name_qualifier, line.sp_name_qualifier) != (self.idp.entity_id, self.sp.entity_id):
                self.report.former_qualifiers.add((line.name_qualifier, _other(line.sp_name_qualifier,
                                                                               self.sp.entity_id)))
            return None
        if not view.persistent_id:
            return self._transient(line)
        former = (line.name_qualifier, _other(line.sp_name_qualifier, self.sp.entity_id))
        rule = attribute_policy_rule([former])
        if line.text in view.persistent_id.split(";"):
            return self._miss(line, f"the SP will see it twice, as {view.persistent_id} (NameID and "
                                    "eduPersonTargetedID)",
                              "leave eduPersonTargetedID out of attributes in "
                              f'[saml.sp."{self.sp.entity_id}"]')
        return self._miss(line, f"the qualifiers will differ: the gateway will send {view.persistent_id}",
                          self._import("legacy_ids", legacy, account.id)
                          + "; and the SP must accept the former NameQualifier: in its attribute-policy.xml, "
                          + "replace the persistent-id rule with " + " ".join(rule.split()))

    def _transient(self, line: _Line) -> None:
        self._miss(line, "the SP asks for a transient NameID and gets one",
                   f'set legacy_name_id = true in [saml.sp."{self.sp.entity_id}"]')

    def _unusable(self, line: _Line, account: Account) -> bool:
        if account.status == "disabled":
            self._miss(line, f"account {account.id} is disabled (the gateway answers RequestDenied)",
                       "re-enable it, or remove the user from the application")
            return True
        return False

    def _import(self, field: str, value: object, account_id: str = "") -> str:
        record = {"id": account_id or "ACCOUNT-ID", field: {self.sp.entity_id: value}}
        return "import " + json.dumps(record, ensure_ascii=False) + " (gateway users import)"

    def _miss(self, line: _Line, reason: str, fix: str) -> None:
        self.report.findings.append(Finding(line.text, reason, fix))


def _other(sp_name_qualifier: str, sp_entity_id: str) -> str:
    """An SPNameQualifier to name in a rule: "" when it is the SP's own."""
    return "" if sp_name_qualifier == sp_entity_id else sp_name_qualifier


def _chunked(items: list[_Line], size: int) -> Iterator[list[_Line]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
