"""The Flask-Login user: an account that may sign in."""
from __future__ import annotations

from flask_login import UserMixin

from ... import services
from ...accounts.models import Account
from .current import current_account


class User(UserMixin):
    def __init__(self, account: Account) -> None:
        self.account = account

    def get_id(self) -> str:
        return self.account.id


def load_user(account_id: str) -> User | None:
    """Flask-Login's loader: a disabled or vanished account is signed out. Read with the session for a
    view marked :func:`~gateway.identity.flaskglue.session_interface.session_with_account`."""
    account = current_account(account_id, services.directory().get)
    if account is None or account.status != "active":
        return None
    return User(account)
