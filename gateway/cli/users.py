"""``gateway users …``: create, import, export and look up accounts from the command line.

Bad input never ends in a stack trace: a directory error (address taken,
invalid field, unknown account…) becomes one line on stderr and exit status 1.
Writes leave an audit line (``source="cli"``); a change to one person's account
(disable, add-email, remove-email, set-password) is audited inside the app, so
that its audit hooks hear it as they hear the pages' (:func:`gateway.logs.on_audit`:
the person's "Activité récente" and support's history).
"""
from __future__ import annotations

import collections
import contextlib
import functools
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, TypeVar, cast

import click

from .. import logs, services
from ..accounts.directory import Directory, new_account_id
from ..accounts.emails import normalize_email
from ..accounts.errors import AccountNotFound, AccountsError, InvalidEmail
from ..accounts.models import (
    AFFILIATIONS,
    Account,
    Email,
    eppn_scope,
    parse_emails,
    record_fields,
    to_record,
    validate,
)
from ..accounts.passwords import MIN_LENGTH, password_problems
from ..accounts.provisioning import apply_record
from ..identity.signin.context import email_hash
from . import Context, cli, create_app_or_exit, fail, pass_context
from .records import Entry, FileProblem, entries, file_format, read_text

F = TypeVar("F", bound=Callable[..., Any])

#: The outcomes counted by ``import``, in the order of its summary line.
IMPORT_ACTIONS = ("created", "updated", "unchanged", "rejected")
#: password_problems() keys -> the line shown to the operator.
PASSWORD_PROBLEMS = {
    "too_short": f"too short (use at least {MIN_LENGTH} characters)",
    "common": "too common (it is in lists of common or breached passwords)",
    "is_address": "it is an address of the account, or the part before the @",
}


@cli.group()
def users() -> None:
    """Create, import, export and look up accounts."""


# -- helpers -------------------------------------------------------------------

def one_line_errors(func: F) -> F:
    """Report a directory error as one line on stderr and exit 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AccountsError as exc:
            fail(str(exc))

    return cast(F, wrapper)


@contextlib.contextmanager
def open_directory(ctx: Context) -> Iterator[Directory]:
    """The directory (Redis checked reachable first), its connections closed afterwards."""
    directory = cast(Directory, ctx.directory())
    try:
        yield directory
    finally:
        directory.store.close()


def find_account(directory: Directory, ref: str) -> Account:
    """By id or by any address. Raises AccountNotFound (also for a malformed address)."""
    try:
        return directory.require(ref)
    except InvalidEmail:
        raise AccountNotFound(ref) from None


def audit(event: str, account: Account, **fields: Any) -> None:
    """One audit line for a change made from the command line."""
    logs.audit(event, account=account.id, source="cli", **fields)


@contextlib.contextmanager
def in_app() -> Iterator[None]:
    """Inside the app's context (its services; its audit hooks hear :func:`audit`), its Redis
    connections closed afterwards. A configuration problem ends the command, one line each."""
    app = create_app_or_exit()
    try:
        with app.app_context():
            yield
    finally:
        services.store(app).close()


def export_line(account: Account, persistent_ids: Mapping[str, str]) -> str:
    """One JSON Lines line: the record's keys in RECORD_FIELDS order, identifiers sorted, UTF-8 kept."""
    return json.dumps(to_record(account, persistent_ids), ensure_ascii=False) + "\n"


# -- add -------------------------------------------------------------------------

def parse_pairs(values: Iterable[str], option: str, what: str = "IDENTIFIER") -> dict[str, str]:
    """``ENTITYID=VALUE`` pairs (split at the first ``=``: identifiers may end in base64 ``=``)."""
    pairs: dict[str, str] = {}
    for value in values:
        entity_id, sep, identifier = value.partition("=")
        if not sep or not entity_id.strip() or not identifier.strip():
            fail(f"{option}: expected ENTITYID={what}, not {value!r}")
        pairs[entity_id.strip()] = identifier.strip()
    return pairs


@users.command("add")
@click.option("--email", "emails", multiple=True, required=True, metavar="ADDRESS",
              help="An address of the person; repeat for more. The first is the primary address.")
@click.option("--given-name", default="", help="Given name.")
@click.option("--family-name", default="", help="Family name.")
@click.option("--display-name", default="", help="Name shown to applications.")
@click.option("--affiliation", "affiliations", multiple=True, metavar="VALUE",
              help=f"eduPersonAffiliation, repeatable: {', '.join(AFFILIATIONS)}.")
@click.option("--establishment", default="", help="supannEtablissement code, e.g. {UAI}0751717J.")
@click.option("--eppn", default="", help="eduPersonPrincipalName, e.g. jdupont@univ-exemple.fr.")
@click.option("--legacy-id", "legacy_ids", multiple=True, metavar="ENTITYID=IDENTIFIER",
              help="The identifier an SP already stores for this person; repeatable.")
@click.option("--legacy-eppn", "legacy_eppns", multiple=True, metavar="ENTITYID=EPPN",
              help="The eppn an SP already knows this person by (replaces --eppn for it); repeatable.")
@click.option("--liste-rouge", is_flag=True,
              help="supannListeRouge: names and mail go only to applications authorised for it.")
@click.option("--id", "account_id", default="", help="The account id (default: a random UUID).")
@pass_context
@one_line_errors
def add(ctx: Context, emails: tuple[str, ...], legacy_ids: tuple[str, ...], legacy_eppns: tuple[str, ...],
        affiliations: tuple[str, ...], liste_rouge: bool, account_id: str, **names: str) -> None:
    """Create one account; print its id.

    The account is provisioned (no password yet) and its addresses are
    unverified. Exit status 1, nothing written, when an address, the eppn or a
    legacy identifier already belongs to an account, an eppn's scope is not
    configured, or a field is invalid.
    """
    fields = record_fields({**names, "affiliations": list(affiliations),
                            "legacy_ids": parse_pairs(legacy_ids, "--legacy-id"),
                            "legacy_eppns": parse_pairs(legacy_eppns, "--legacy-eppn", "EPPN"),
                            "liste_rouge": liste_rouge})
    addresses = dict.fromkeys(str(address) for address in parse_emails(list(emails)))
    account = Account(id=account_id or new_account_id(), emails=tuple(Email(a) for a in addresses),
                      status="provisioned", **fields)
    validate(account)
    with open_directory(ctx) as directory:
        created = directory.create(account)
    audit("account.created", created)
    click.echo(created.id)


# -- import / export ---------------------------------------------------------------

@users.command("import")
@click.argument("file", metavar="FILE")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]),
              help="File format (default: from the extension: .jsonl/.ndjson/.json or .csv; stdin: jsonl).")
@pass_context
def import_(ctx: Context, file: str, fmt: str | None) -> None:
    """Create or update accounts from a file, one account per line.

    FILE is JSON Lines (.jsonl, .ndjson, .json) or CSV (.csv); '-' reads
    stdin (JSON Lines unless --format csv). Fields: id, emails (the first is
    primary), given_name, family_name, display_name, affiliations,
    establishment, eppn, legacy_ids (SP entityID -> identifier, or ->
    {"value", "name_qualifier", "sp_name_qualifier"}), legacy_eppns (SP
    entityID -> eppn), liste_rouge (true or false), status, and
    password_hash, created_at, updated_at, saml_persistent_ids as export
    writes them. In CSV, separate emails and affiliations with ';', give
    legacy_ids, legacy_eppns and saml_persistent_ids as JSON objects, liste_rouge as
    true/false (or 1/0, vrai/faux, oui/non); an empty cell changes nothing.
    A persistent identifier already stored for that SP and different rejects
    the line.

    An account is found by id, else by its first (primary) address; listed
    addresses are added, others kept; absent fields are left unchanged.
    Importing the same file again changes nothing.

    \b
    Each bad line is reported as "line N: rejected: REASON" on stderr and
    writes nothing; the other lines are still applied. The last line of
    stdout is "created C, updated U, unchanged K, rejected R".
    Exit status: 0 when no line was rejected, 1 when one was (or when the
    file cannot be read or is not UTF-8: then nothing is imported).
    """
    try:
        file_fmt = file_format(file, fmt)
        lines = entries(read_text(file), file_fmt)
    except FileProblem as exc:
        fail(str(exc))
    with open_directory(ctx) as directory:
        counts = collections.Counter(apply_line(directory, line) for line in lines)
    click.echo(", ".join(f"{action} {counts[action]}" for action in IMPORT_ACTIONS))
    sys.exit(1 if counts["rejected"] else 0)


def apply_line(directory: Directory, entry: Entry) -> str:
    """Apply one entry: "created", "updated", "unchanged", or "rejected" (reported on stderr)."""
    reason = entry.problem
    if entry.record is not None:
        try:
            outcome = apply_record(directory, entry.record)
        except AccountsError as exc:
            reason = str(exc)
        else:
            if outcome.action != "unchanged":
                audit(f"account.{outcome.action}", outcome.account)
            return outcome.action
    click.echo(f"line {entry.number}: rejected: {reason}", err=True)
    return "rejected"


@users.command("export")
@click.option("--output", "-o", metavar="FILE",
              help="Write to FILE (mode 0600, replaced only once complete) instead of stdout.")
@pass_context
def export(ctx: Context, output: str | None) -> None:
    """Print every account as JSON Lines.

    One UTF-8 line per account, in creation order. The records include
    password hashes, timestamps and the SAML persistent identifiers made for
    each SP, so that importing the file into an empty directory restores every
    account exactly: keep the file private.
    """
    with open_directory(ctx) as directory:
        if output and output != "-":
            count = export_to_file(directory, output)
        else:
            with click.open_file("-", "wb") as stdout:
                count = write_records(directory, stdout)
    click.echo(f"exported {count} accounts", err=True)


def write_records(directory: Directory, stream: IO[bytes]) -> int:
    """Write every account to ``stream``; the number written."""
    count = 0
    for account, persistent_ids in directory.iter_with_persistent_ids():
        stream.write(export_line(account, persistent_ids).encode("utf-8"))
        count += 1
    stream.flush()
    return count


def export_to_file(directory: Directory, output: str) -> int:
    """Write to a private temporary file next to ``output``, then rename it over ``output``."""
    target = Path(output)
    try:
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    try:
        with os.fdopen(fd, "wb") as stream:
            count = write_records(directory, stream)
        os.replace(temporary, target)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    finally:
        Path(temporary).unlink(missing_ok=True)
    return count


# -- checks --------------------------------------------------------------------------

@users.command("check")
@pass_context
def check(ctx: Context) -> None:
    """List what breaks the directory's rules in accounts written before them.

    \b
    One line per problem on stdout:
        duplicate eppn VALUE: ID, ID
        duplicate legacy_ids VALUE for SP: ID, ID      (legacy_eppns too)
        eppn out of scope VALUE: ID   (withheld from SAML until fixed)
    and builds the uniqueness index if it is missing (what the first write does
    anyway). Fix a line with `gateway users import` (a record with the id and
    the corrected field) and run it again. Exit status 0 when there is nothing
    to fix, 1 otherwise.
    """
    scopes = ctx.settings.saml.scopes
    with open_directory(ctx) as directory:
        directory.build_unique_index()
        lines = [f"duplicate {field} {value}{' for ' + sp if sp else ''}: {', '.join(ids)}"
                 for field, sp, value, ids in directory.conflicts()]
        lines += [f"{field} out of scope {eppn}: {a.id}" for a in directory.iter_accounts()
                  for field, eppn in _eppns(a) if eppn and eppn_scope(eppn) not in scopes]
    for line in lines:
        click.echo(line)
    click.echo(f"{len(lines)} problem(s)" if lines else "no problem found")
    sys.exit(1 if lines else 0)


def _eppns(account: Account) -> list[tuple[str, str]]:
    """(field, eppn) for the account's eppn and each legacy eppn."""
    return [("eppn", account.eppn), *(("legacy_eppns", e) for _, e in sorted(account.legacy_eppns.items()))]


# -- one account -------------------------------------------------------------------

@users.command("show")
@click.argument("ref", metavar="ADDRESS_OR_ID")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON (without the password hash).")
@pass_context
@one_line_errors
def show(ctx: Context, ref: str, as_json: bool) -> None:
    """Show an account found by id or by any of its addresses."""
    with open_directory(ctx) as directory:
        account = find_account(directory, ref)
        persistent_ids = directory.persistent_ids(account.id)
    if as_json:
        record = to_record(account, persistent_ids)
        del record["password_hash"]
        click.echo(json.dumps(record, ensure_ascii=False, indent=2))
        return
    for label, value in details(account, persistent_ids):
        click.echo(f"{label + ':' if label else '':<15}{value}".rstrip())


def details(account: Account, persistent_ids: Mapping[str, str]) -> list[tuple[str, str]]:
    """(label, value) rows for ``show``; continuation rows have an empty label."""
    rows = [("id", account.id), ("status", account.status)]
    rows += _listed("emails", [
        f"{e.address} ({'primary, ' if i == 0 else ''}{'verified' if e.verified else 'unverified'})"
        for i, e in enumerate(account.emails)
    ])
    rows += [("given name", account.given_name or "-"), ("family name", account.family_name or "-"),
             ("display name", account.display_name or "-"),
             ("affiliations", ", ".join(account.affiliations) or "-"),
             ("establishment", account.establishment or "-"), ("eppn", account.eppn or "-")]
    rows += _listed("legacy ids", [f"{sp} = {_qualified(account, sp)}" for sp in sorted(account.legacy_ids)])
    rows += _listed("legacy eppns", [f"{sp} = {value}" for sp, value in sorted(account.legacy_eppns.items())])
    rows += _listed("persistent id", [f"{sp} = {value}" for sp, value in sorted(persistent_ids.items())])
    rows.append(("liste rouge", "yes" if account.liste_rouge else "no"))
    rows += [("password", "set" if account.password_hash else "not set"),
             ("created", account.created_at or "-"), ("updated", account.updated_at or "-")]
    return rows


def _qualified(account: Account, sp: str) -> str:
    """A legacy id, with the qualifiers it came with: ``value (NameQualifier X, SPNameQualifier Y)``."""
    qualifiers = account.legacy_qualifiers.get(sp)
    if qualifiers is None:
        return account.legacy_ids[sp]
    extra = f", SPNameQualifier {qualifiers.sp_name_qualifier}" if qualifiers.sp_name_qualifier else ""
    return f"{account.legacy_ids[sp]} (NameQualifier {qualifiers.name_qualifier}{extra})"


def _listed(label: str, values: list[str]) -> list[tuple[str, str]]:
    """One row per value, the label on the first; "-" when there is none."""
    return [(label if i == 0 else "", value) for i, value in enumerate(values or ["-"])]


@users.command("disable")
@click.argument("ref", metavar="ADDRESS_OR_ID")
@pass_context
@one_line_errors
def disable(ctx: Context, ref: str) -> None:
    """Disable an account (nothing is erased)."""
    with open_directory(ctx) as directory:
        account = find_account(directory, ref)
        if account.status == "disabled":
            click.echo(f"account {account.id} was already disabled")
            return
        disabled = directory.disable(account.id)
    with in_app():  # the SSO sessions end with the protocols told (the app's logout hooks)
        from ..identity.flaskglue.logout import end_account_sessions

        audit("account.disabled", disabled)
        ended = end_account_sessions(disabled.id, reason="account.disabled")
    click.echo(f"account {disabled.id} disabled; {ended} session(s) ended")


@users.command("add-email")
@click.argument("ref", metavar="ADDRESS_OR_ID")
@click.argument("new", metavar="NEW_ADDRESS")
@click.option("--verified", is_flag=True, help="Mark it verified (you checked it is the person's).")
@pass_context
@one_line_errors
def add_email(ctx: Context, ref: str, new: str, verified: bool) -> None:
    """Add an address to an account (not as primary)."""
    address = normalize_email(new)
    with open_directory(ctx) as directory:
        account = find_account(directory, ref)
        updated = directory.add_email(account.id, address, verified=verified)
    if updated.version == account.version:
        click.echo(f"{address} is already an address of account {account.id}")
        return
    with in_app():
        audit("email.added", updated, email_hash=email_hash(address))
    click.echo(f"added {address} ({'verified' if verified else 'unverified'}) to account {updated.id}")


@users.command("remove-email")
@click.argument("ref", metavar="ADDRESS_OR_ID")
@click.argument("address", metavar="ADDRESS")
@pass_context
@one_line_errors
def remove_email(ctx: Context, ref: str, address: str) -> None:
    """Remove an address from an account.

    Refuses to remove the account's last verified address, or its only one.
    """
    address = normalize_email(address)
    with open_directory(ctx) as directory:
        account = find_account(directory, ref)
        if account.email(address) is None:
            fail(f"{address} is not an address of account {account.id}")
        if len(account.emails) == 1:
            fail(f"{address} is the only address of account {account.id}")
        updated = directory.remove_email(account.id, address)
    with in_app():
        audit("email.removed", updated, email_hash=email_hash(address))
    click.echo(f"removed {address} from account {updated.id}; primary address {updated.primary_email}")


@users.command("set-password")
@click.argument("ref", metavar="ADDRESS_OR_ID")
@pass_context
@one_line_errors
def set_password(ctx: Context, ref: str) -> None:
    """Set an account's password (operator support).

    The password policy applies; a provisioned account becomes active.

    \b
    On a terminal the password is asked twice, without echo; otherwise the
    first line of stdin is the password:
        printf '%s\\n' "$NEW_PASSWORD" | gateway users set-password jean@example.fr
    """
    with open_directory(ctx) as directory:
        account = find_account(directory, ref)
        password = read_password()
        problems = password_problems(password, account.addresses)
        for problem in problems:
            click.echo(f"gateway: password refused: {PASSWORD_PROBLEMS.get(problem, problem)}", err=True)
        if problems:
            sys.exit(1)
        updated = directory.set_password_hash(account.id, ctx.passwords().hash(password))
    with in_app():
        audit("account.password_set", updated)
    click.echo(f"password set; account {updated.status}")


def read_password() -> str:
    """From the terminal (hidden, confirmed), else the first line of stdin without its line ending."""
    stdin = sys.stdin
    if stdin.isatty():
        return str(click.prompt("New password", hide_input=True, confirmation_prompt=True))
    line = stdin.readline()
    if not line:
        fail("no password on stdin (give it on the first line)")
    return line.rstrip("\r\n")
