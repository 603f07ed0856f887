"""``gateway saml``: the SAML identity provider seen from the command line.

``check-sp ENTITYID [--user ADDRESS]`` prints what the gateway read of one SP's
metadata, the per-SP settings in force (``[saml.sp."<entityID>"]``, see
:mod:`gateway.saml.policy`) and, with ``--user``, what that person would
receive at the next SSO without a NameIDPolicy: the NameID and every released
attribute. It reads only: a persistent identifier not yet made for this
(person, SP) is *not* created (it is shown as such; the first SSO makes it),
and transient NameIDs are shown as what they are, random per session. An
unknown SP or address is one line on stderr and exit 1.

``metadata [--unsigned | --aggregate NAME | --cert] [-o FILE]`` writes the IdP
metadata in the shape each trust path takes (README, "How an unmodified SP comes
to trust the gateway"): what ``/saml/metadata`` serves (signed), an aggregate for
a local federation, the unsigned entity for the Renater registry, or the
certificate SPs pin to check the metadata signature.
"""
from __future__ import annotations

import base64
import hashlib
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
        from ..saml.idp import build_identity_provider
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
    from ..saml.acs import default_endpoint
    from ..saml.attributes import ATTRIBUTES, policy_attributes, released_names
    from ..saml.errors import UnsupportedBinding
    from ..saml.response import cipher_for, should_encrypt

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
    if policy.form_action:
        lines.append("  form_action: " + " ".join(policy.form_action))
    return lines


def describe_user(idp: Any, sp: Any, account: Any, name_ids: Any) -> list[str]:
    """The NameID and attributes ``account`` would get (nothing is created)."""
    from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_PERSISTENT

    from ..saml.attributes import ATTRIBUTES, account_values, release
    from ..saml.nameids import IssuedNameId, NameIdPolicy, choose_format, email_address

    lines = [f"account: {account.id} ({account.status})"]
    if not account.is_active:
        lines.append("  not active: the gateway answers RequestDenied, nothing is released")
    name_format = choose_format(sp, NameIdPolicy())
    stored = name_ids.persistent_value(account, sp.entity_id, create=False)
    legacy = account.legacy_ids.get(sp.entity_id)
    if name_format == NAMEID_FORMAT_PERSISTENT:
        value = stored or NOT_YET
        if legacy:
            value += "  (legacy identifier of the account)"
    elif name_format == NAMEID_FORMAT_EMAILADDRESS:
        value = email_address(account) or "(no verified address: InvalidNameIDPolicy)"
    else:
        value = "(random, one per SSO session and SP)"
    lines.append(f"NameID: format={name_format}")
    lines.append(f"  value: {value}")
    values = release(sp, account_values(account, sp, idp.entity_id, idp.settings.scope, stored or "-",
                                          scopes=idp.settings.scopes))
    lines.append("attributes:")
    for friendly, found in values.items():
        lines.append(f"  {friendly}  {ATTRIBUTES[friendly]}")
        if friendly in ("eduPersonTargetedID", "pairwise-id") and not stored:
            lines.append(f"    {NOT_YET}")
            continue
        for item in found:
            if isinstance(item, IssuedNameId):
                lines.append(f"    NameID format={item.format} NameQualifier={item.name_qualifier} "
                             f"SPNameQualifier={item.sp_name_qualifier}: {item.value}")
            else:
                lines.append(f"    {item}")
    if not values:
        lines.append("  (none)")
    return lines


@saml.command("check-sp")
@click.argument("entity_id")
@click.option("--user", "address", metavar="ADDRESS", help="Also show what this person would receive.")
@pass_context
def check_sp(ctx: Context, entity_id: str, address: str | None) -> None:
    """Print the metadata and settings of the SP ENTITYID (and, with --user, what a person gets)."""
    from ..accounts.errors import InvalidEmail
    from ..saml.nameids import NameIds

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
    from ..saml.metadata import MetadataPublisher

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
