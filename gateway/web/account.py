"""``/account``: "Mes informations"."""
from __future__ import annotations

from flask import Blueprint, render_template, session
from flask_login import current_user, login_required

bp = Blueprint("account", __name__)


@bp.get("/account")
@login_required
def overview() -> str:
    return render_template("account/overview.html", account=current_user.account, notice=session.pop("notice", None))
