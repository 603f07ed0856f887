"""The errors of the sign-in rules: one tree, each carrying data, none carrying page text.

::

    SignInError                      a step refused; the view says why on its form
    ├── TooManyAttempts              a rate limit or a growing delay (.wait seconds, .minutes, .rule)
    ├── WrongPassword                the password is not the account's (or the account is not active)
    ├── PasswordRejected             the new password breaks the policy (.problems: too_short, common, is_address)
    ├── AccountUnavailable           the account was disabled or vanished since the address step
    ├── LinkFromElsewhere            a mailed code opened in another browser, not yet confirmed (.shown_as)
    └── AddressRefused               "Mes informations" refused a change to the account's addresses
        ├── AddressAlreadyYours      already a confirmed address of the account
        ├── AddressUnavailable       held by another account (one answer whatever the reason)
        ├── AddressNotYours          not an address of the account
        ├── NotAwaitingConfirmation  no code to send for it (not the account's, or already confirmed)
        ├── AddressNotConfirmed      only a confirmed address may become the primary one
        └── LastConfirmedAddress     never the last confirmed address (.only: it is the only one)

The code steps also let :class:`gateway.accounts.codes.InvalidCode` (unknown, used
or expired) and its subclass ``WrongCode`` (``.remaining`` tries) through unchanged,
and the address steps (sign-in, adding an address) :class:`gateway.accounts.errors.InvalidEmail`: they belong to
the account store that decides them. The French words for each live in ``web/``.
"""
from __future__ import annotations


class SignInError(Exception):
    """A sign-in step refused."""


class TooManyAttempts(SignInError):
    """Refused by a rate limit or a growing delay; ``wait`` seconds before the next try is counted."""

    def __init__(self, wait: int, rule: str = "") -> None:
        super().__init__(f"retry in {wait} s")
        self.wait = wait
        self.rule = rule
        self.minutes = max(1, (wait + 59) // 60)


class WrongPassword(SignInError):
    """The password is wrong, or the account is not active (the same answer, so state does not leak)."""


class PasswordRejected(SignInError):
    """The new password breaks the policy; ``problems`` names each broken rule."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(", ".join(problems))
        self.problems = problems


class AccountUnavailable(SignInError):
    """The account was disabled (or vanished) since the address step."""


class LinkFromElsewhere(SignInError):
    """A mailed code used in another browser than the one that asked for it, not yet confirmed.

    Against login CSRF by link (someone mails a victim the link of a code for his
    own account): that browser must first show whose account it opens,
    ``shown_as`` (a masked address), and the person confirm with a button.
    """

    def __init__(self, shown_as: str) -> None:
        super().__init__(f"code asked elsewhere, for {shown_as}")
        self.shown_as = shown_as


class AddressRefused(SignInError):
    """A change to the account's addresses ("Mes informations") was refused."""


class AddressAlreadyYours(AddressRefused):
    """The address is already a confirmed address of the account."""


class AddressUnavailable(AddressRefused):
    """Another account holds the address; the same answer whatever the reason, so nothing leaks."""


class AddressNotYours(AddressRefused):
    """The address is not one of the account's."""


class NotAwaitingConfirmation(AddressRefused):
    """No code to send for this address: neither being added by this browser nor unconfirmed."""


class AddressNotConfirmed(AddressRefused):
    """Only a confirmed address may become the primary one."""


class LastConfirmedAddress(AddressRefused):
    """The account would keep no confirmed address; ``only``: it is the account's only address."""

    def __init__(self, only: bool) -> None:
        super().__init__("the only address" if only else "the last confirmed address")
        self.only = only
