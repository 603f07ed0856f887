"""``gateway saml``: the SAML identity provider seen from the command line.

``check-sp ENTITYID [--user ADDRESS]`` prints what the gateway read of one SP's
metadata, the per-SP settings in force (``[saml.sp."<entityID>"]``, see
:mod:`gateway.saml.sp.policy`) and, with ``--user``, what that person would
receive at the next SSO without a NameIDPolicy: the NameID and every released
attribute, and what the application behind a Shibboleth SP 3 sees of them
(REMOTE_USER, eppn, persistent-id). It reads only: a persistent identifier not yet made for this
(person, SP) is *not* created (it is shown as such; the first SSO makes it),
and transient NameIDs are shown as what they are, random per session. An
unknown SP or address is one line on stderr and exit 1.

``scopes`` lists the configured scopes with the accounts using each, and the
eppns refused for lack of one. ``cutover-check ENTITYID --identifiers FILE``
checks, before an application moves to the gateway, that every identifier it
stores will come back (:mod:`gateway.saml.cutover`; README, "Moving an
application to the gateway").

``metadata [--unsigned | --aggregate NAME | --cert] [-o FILE]`` writes the IdP
metadata in the shape each trust path takes (README, "How an unmodified SP comes
to trust the gateway"): what ``/saml/metadata`` serves (signed), an aggregate for
a local federation, the unsigned entity for the Renater registry, or the
certificate SPs pin to check the metadata signature.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from . import Context, cli, fail, pass_context

NOT_YET = "(none yet: a random value is made and kept at this person's first SSO to this SP)"


@cli.group("saml")
def saml() -> None:
    """The SAML 2.0 identity provider: what it knows of an SP, its metadata."""


def _idp(ctx: Context) -> Any:
    import warnings

    from ..config import ConfigError

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="CFB has been moved")
        from ..saml.idp.build import build_identity_provider
    try:
        idp = build_identity_provider(ctx.settings)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"gateway: configuration error: {problem}", err=True)
        raise SystemExit(1) from None
    if idp is None:
        fail("the SAML IdP is off (no saml.signing_key in production mode)")
    return idp


def _fingerprint(b64: str) -> str:
    digest = hashlib.sha256(base64.b64decode(b64)).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def _yes(value: bool) -> str:
    return "true" if value else "false"


def _endpoint(e: Any) -> str:
    index = "-" if e.index is None else str(e.index)
    default = "-" if e.is_default is None else _yes(e.is_default)
    return f"  {e.location}  binding={e.binding}  index={index}  isDefault={default}"


def describe_sp(idp: Any, sp: Any) -> list[str]:
    """The metadata seen and the settings in force, one fact a line."""
    from ..saml.sso.acs import default_endpoint
    from ..saml.sp.attribute_names import ATTRIBUTES
    from ..saml.sp.attributes import policy_attributes, released_names
    from ..saml.errors import UnsupportedBinding
    from ..saml.sso.response import cipher_for, should_encrypt

    lines = [f"entityID: {sp.entity_id}", "AssertionConsumerService:"]
    lines += [_endpoint(e) for e in sp.acs] or ["  (none)"]
    try:
        lines.append(f"  default (where responses go): {default_endpoint(sp.acs).location}")
    except UnsupportedBinding:
        lines.append("  default: none usable (the gateway answers by HTTP-POST only)")
    lines.append("SingleLogoutService:")
    lines += [f"  {e.location}  binding={e.binding}" for e in sp.slo] or ["  (none)"]
    lines.append("signing keys:")
    lines += [f"  SHA-256 {_fingerprint(b64)}" for b64 in sp.signing_certs] or ["  (none)"]
    lines.append("encryption keys:")
    lines += [f"  SHA-256 {_fingerprint(c.b64)}" for c in sp.encryption_certs] or ["  (none)"]
    if sp.encryption_methods:
        lines.append("  EncryptionMethod: " + ", ".join(sp.encryption_methods))
    lines.append(f"AuthnRequestsSigned: {_yes(sp.authn_requests_signed)}")
    lines.append(f"WantAssertionsSigned: {_yes(sp.want_assertions_signed)}")
    lines.append("NameIDFormat: " + (", ".join(sp.name_id_formats) or "(none)"))
    requested = sorted(sp.requested_attributes)
    lines.append("RequestedAttribute: " + (", ".join(requested) or "(none)"))
    if sp.subject_id_req:
        lines.append(f"subject-id:req: {sp.subject_id_req}")
    lines.append("entity categories: " + (", ".join(sorted(sp.entity_categories)) or "(none)"))
    policy = sp.policy
    configured = sp.entity_id in idp.settings.sp
    lines.append("settings in force" + ("" if configured else " (defaults: no [saml.sp] table)") + ":")
    names, source = policy_attributes(sp)
    lines.append(f"  attributes (policy, from {source}): " + ", ".join(names))
    lines.append(f"  requested_only: {_yes(policy.requested_only)}")
    lines.append(f"  liste_rouge: {_yes(policy.liste_rouge)}")
    lines.append("  released: " + ", ".join(f"{n} ({ATTRIBUTES[n]})" for n in released_names(sp)))
    lines.append(f"  sign_response: {_yes(policy.sign_response)}")
    lines.append(f"  sign_assertion: {_yes(policy.sign_assertion or sp.want_assertions_signed)}"
                 + ("  (forced by WantAssertionsSigned)" if sp.want_assertions_signed
                    and not policy.sign_assertion else ""))
    encrypt = "auto" if policy.encrypt is None else _yes(policy.encrypt)
    lines.append(f"  encrypt: {encrypt} -> {'encrypted' if should_encrypt(sp) else 'not encrypted'}"
                 + (f" ({cipher_for(sp)})" if should_encrypt(sp) else ""))
    lines.append(f"  name_id_format: {policy.name_id_format}")
    lines.append(f"  email_name_id: {_yes(policy.email_name_id)}")
    lines.append(f"  legacy_name_id: {_yes(policy.legacy_name_id)}")
    if policy.form_action:
        lines.append("  form_action: " + " ".join(policy.form_action))
    return lines


def describe_user(idp: Any, sp: Any, account: Any, name_ids: Any) -> list[str]:
    """The NameID and attributes ``account`` would get, and what the application behind a Shibboleth
    SP 3 sees of them (nothing is created).
    """
    from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_PERSISTENT

    from ..saml.sp.attribute_names import ATTRIBUTES
    from ..saml.sp.attributes import released_names
    from ..saml.cutover import application_view
    from ..saml.sp.nameids import IssuedNameId, NameIdPolicy, email_address, format_for
    from ..saml.sso.answer import attributes_for

    lines = [f"account: {account.id} ({account.status})"]
    if not account.is_active:
        lines.append("  not active: the gateway answers RequestDenied, nothing is released")
    name_format = format_for(account, sp, NameIdPolicy())
    persistent = name_ids.persistent_name_id(account, sp.entity_id, create=False)
    qualifiers = ""
    if name_format == NAMEID_FORMAT_PERSISTENT:
        value = persistent.value if persistent else NOT_YET
        if account.legacy_ids.get(sp.entity_id):
            value += "  (legacy identifier of the account)"
        if persistent:
            qualifiers = (f"  NameQualifier={persistent.name_qualifier} "
                          f"SPNameQualifier={persistent.sp_name_qualifier}")
    elif name_format == NAMEID_FORMAT_EMAILADDRESS:
        value = email_address(account) or "(no verified address: InvalidNameIDPolicy)"
    else:
        value = "(random, one per SSO session and SP)"
    lines.append(f"NameID: format={name_format}")
    lines.append(f"  value: {value}")
    lines += [qualifiers] if qualifiers else []
    values = attributes_for(idp, sp, account, name_ids, NameIdPolicy(), create=False)
    lines.append("attributes:")
    for friendly in released_names(sp):
        if friendly in values:
            lines.append(f"  {friendly}  {ATTRIBUTES[friendly]}")
            lines += [f"    {_qualified(item)}" if isinstance(item, IssuedNameId) else f"    {item}"
                      for item in values[friendly]]
        elif friendly in ("eduPersonTargetedID", "pairwise-id") and persistent is None:
            lines += [f"  {friendly}  {ATTRIBUTES[friendly]}", f"    {NOT_YET}"]
    if len(lines) and lines[-1] == "attributes:":
        lines.append("  (none)")
    view = application_view(idp.entity_id, sp.entity_id, name_format, persistent, values)
    lines.append("the application behind a Shibboleth SP 3 (default attribute map) sees:")
    lines.append(f"  REMOTE_USER: {view.remote_user or '(unset)'}")
    lines.append(f"  eppn: {view.eppn or '(none)'}")
    lines.append(f"  persistent-id: {view.persistent_id or '(none)'}")
    return lines


def _qualified(name_id: Any) -> str:
    return (f"NameID format={name_id.format} NameQualifier={name_id.name_qualifier} "
            f"SPNameQualifier={name_id.sp_name_qualifier}: {name_id.value}")


@saml.command("check-sp")
@click.argument("entity_id")
@click.option("--user", "address", metavar="ADDRESS", help="Also show what this person would receive.")
@pass_context
def check_sp(ctx: Context, entity_id: str, address: str | None) -> None:
    """Print the metadata and settings of the SP ENTITYID (and, with --user, what a person gets)."""
    from ..accounts.errors import InvalidEmail
    from ..saml.sp.nameids import NameIds

    idp = _idp(ctx)
    sp = idp.provider(entity_id)
    if sp is None:
        fail(f"no SP {entity_id} in the SAML metadata")
    account = directory = None
    if address is not None:  # looked up first: an unknown address prints nothing but its one line
        directory = ctx.directory()
        try:
            account = directory.find_by_email(address) if "@" in address else directory.get(address)
        except InvalidEmail:
            account = None
        if account is None:
            fail(f"no account with the address {address}")
    for line in describe_sp(idp, sp):
        click.echo(line)
    if directory is not None:
        for line in describe_user(idp, sp, account, NameIds(directory.store, idp.entity_id)):
            click.echo(line)


@saml.command("scopes")
@pass_context
def scopes(ctx: Context) -> None:
    """List the configured scopes, how many accounts use each, and the eppns refused for lack of one.

    \b
    One line per configured scope (saml.scope and saml.extra_scopes, published
    in the metadata as shibmd:Scope):
        SCOPE  E eppn, L legacy eppn[, N without an eppn (ID@SCOPE)]
    then one line per stored eppn whose scope is not configured (withheld from
    every SP until the scope is added or the eppn corrected):
        refused EPPN (FIELD of account ID): add SCOPE to saml.extra_scopes
    Exit status 0, or 1 when an eppn is refused.
    """
    from ..accounts.models import eppn_scope

    configured = ctx.settings.saml.scopes
    counts = {scope: [0, 0] for scope in configured}
    without, refused = 0, []
    with _open_directory(ctx) as directory:
        for account in directory.iter_accounts(1000):
            without += not account.eppn
            for index, (field, eppn) in enumerate([("eppn", account.eppn)] + [
                    ("legacy_eppns", e) for _, e in sorted(account.legacy_eppns.items())]):
                if not eppn:
                    continue
                if eppn_scope(eppn) in counts:
                    counts[eppn_scope(eppn)][min(index, 1)] += 1
                else:
                    refused.append(f"refused {eppn} ({field} of account {account.id}): "
                                   f"add {eppn_scope(eppn)} to saml.extra_scopes")
    for scope, (eppns, legacy) in counts.items():
        extra = f", {without} without an eppn (ID@{scope})" if scope == ctx.settings.saml.scope else ""
        click.echo(f"{scope}  {eppns} eppn, {legacy} legacy eppn{extra}")
    for line in refused:
        click.echo(line)
    sys.exit(1 if refused else 0)


@saml.command("cutover-check")
@click.argument("entity_id")
@click.option("--identifiers", "path", required=True, metavar="FILE",
              help="The identifiers the application stores, one per line ('-': stdin).")
@pass_context
def cutover_check(ctx: Context, entity_id: str, path: str) -> None:
    """Check that every user of the application ENTITYID comes back as the same user.

    FILE holds the identifiers the application stores today, one per line,
    exactly as it stores them: an eppn, a Shibboleth persistent-id
    (IDP!SP!VALUE) or a bare NameID value. For each one no account's next
    sign-in to that SP will produce, one line:

    \b
        IDENTIFIER: REASON; fix: FIX
    then the attribute-policy.xml rule the SP needs for the former NameQualifiers
    kept, then "N of M recognised"; then the accounts holding legacy identifiers
    for that SP that FILE does not mention.
    Exit status 0 when all are recognised, 1 otherwise, 2 on usage errors
    (unknown SP, unreadable file).
    """
    from ..saml.cutover import attribute_policy_rule, check, unmentioned
    from ..saml.sp.nameids import NameIds

    idp = _idp(ctx)
    sp = idp.provider(entity_id)
    if sp is None:
        fail(f"no SP {entity_id} in the SAML metadata", code=2)
    identifiers = _identifiers(path)
    with _open_directory(ctx) as directory:
        report = check(idp, sp, directory, NameIds(directory.store, idp.entity_id), identifiers)
        for finding in report.findings:
            click.echo(f"{finding.identifier}: {finding.reason}; fix: {finding.fix}")
        if report.former_qualifiers:
            click.echo("the SP must accept the former NameQualifier(s): in its attribute-policy.xml, "
                       "replace the persistent-id AttributeRule with:")
            click.echo(attribute_policy_rule(sorted(report.former_qualifiers)))
        click.echo(f"{report.recognised} of {report.total} recognised")
        for account in unmentioned(directory, sp, report.mentioned):
            legacy = [v for v in (account.legacy_eppns.get(entity_id), account.legacy_ids.get(entity_id))
                      if v]
            click.echo(f"not in the file: account {account.id} ({account.primary_email}) holds "
                       + ", ".join(legacy))
    sys.exit(0 if report.recognised == report.total else 1)


def _identifiers(path: str) -> list[str]:
    """The non-blank lines of FILE, stripped (exit 2 when unreadable)."""
    try:
        with click.open_file(path, "rb") as stream:
            data: bytes = stream.read()
        text = data.decode("utf-8-sig")
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}", code=2)
    except UnicodeDecodeError:
        fail(f"{path}: not UTF-8 text", code=2)
    return [line.strip() for line in text.split("\n") if line.strip()]


@contextlib.contextmanager
def _open_directory(ctx: Context) -> Iterator[Any]:
    directory = ctx.directory()
    try:
        yield directory
    finally:
        directory.store.close()


@saml.command("metadata")
@click.option("--unsigned", is_flag=True,
              help="The entity, unsigned and without validUntil: what the Renater registry takes.")
@click.option("--aggregate", "aggregate_name", metavar="NAME",
              help="A signed md:EntitiesDescriptor named NAME holding the entity, for a local federation.")
@click.option("--cert", is_flag=True, help="The certificate (PEM) that signs the metadata, for SP operators.")
@click.option("-o", "--output", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to FILE instead of standard output.")
@pass_context
def metadata(ctx: Context, unsigned: bool, aggregate_name: str | None, cert: bool,
             output: Path | None) -> None:
    """Write the IdP metadata in the shape of one trust path (by default what /saml/metadata serves)."""
    if unsigned + cert + (aggregate_name is not None) > 1:
        fail("choose one of --unsigned, --aggregate and --cert")
    if aggregate_name is not None and not aggregate_name.strip():
        fail("--aggregate: give the aggregate's Name (e.g. https://federation.uness.fr/)")
    idp = _idp(ctx)
    if cert:
        document, what = idp.keys.metadata_signing.cert.pem.encode(), "metadata signing certificate"
    else:
        document, what = _metadata_document(ctx, idp, unsigned, aggregate_name)
    if output is None:
        click.echo(document, nl=False)
        return
    try:
        output.write_bytes(document)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")
    click.echo(f"{output}: {what}")


def _metadata_document(ctx: Context, idp: Any, unsigned: bool,
                       aggregate_name: str | None) -> tuple[bytes, str]:
    """The document and what it is, in words. The scopes are the configured ones (A03)."""
    from ..saml.idp.metadata import MetadataPublisher

    scopes = ctx.settings.saml.scopes
    publisher = MetadataPublisher(idp)
    signed = "signed" if publisher.signer is not None else "unsigned"
    now = datetime.now(timezone.utc)
    if unsigned:
        return publisher.for_registry(scopes), f"unsigned EntityDescriptor of {idp.entity_id}, no validUntil"
    if aggregate_name is not None:
        document = publisher.aggregate(scopes, now, aggregate_name)
        return document, f"{signed} EntitiesDescriptor {aggregate_name!r}"
    return publisher.entity(scopes, now), f"{signed} EntityDescriptor of {idp.entity_id}"
