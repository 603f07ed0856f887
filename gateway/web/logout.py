"""``/logout``: a POST ends the SSO session (then follows a protocol's logout chain); a GET asks first."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from werkzeug.wrappers import Response

from ..identity.flaskglue.current import current_authentication
from ..identity.flaskglue.logout import end_this_session, logged_out_landing, moving_on_page
from .forms import ButtonForm

bp = Blueprint("logout", __name__)


@bp.get("/logout")
def confirm() -> Response | str:
    """A forged link cannot log anyone out: this page only shows the button."""
    if current_authentication() is None:
        return redirect(url_for("login.address"))
    return render_template("logout/confirm.html", actions=ButtonForm())


@bp.post("/logout")
def logout() -> Response:
    if ButtonForm().validate_on_submit():
        chain = end_this_session().continuation  # a page, not a 302: see moving_on_page
        return moving_on_page(chain) if chain else logged_out_landing()
    return redirect(url_for("logout.confirm"))

