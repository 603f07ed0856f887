"""The shared test helpers (tests/helpers/) read forms as a browser does, and the gunicorn launcher
fails a test with the log of a gateway that does not start."""
from __future__ import annotations

import pytest

from tests.helpers.forms import csrf_token, forms, page_form
from tests.helpers.servers import Gunicorn


def test_forms_are_read_as_a_browser_sends_them():
    """Entities unescaped, unchecked boxes and buttons left out, textareas and selected options in."""
    html = ('<form method="POST" action="/a?x=1&amp;y=2">'
            '<input type="hidden" name="csrf_token" value="t&#34;k">'
            '<input name="c" type="checkbox"><input name="d" type="checkbox" checked value="v">'
            '<textarea name="t">hi &amp; bye</textarea>'
            '<select name="s"><option value="1">1<option value="2" selected>2</select>'
            '<button type="submit" name="b">x</button></form>')
    [f] = forms(html)
    assert f.action == "/a?x=1&y=2" and f.method == "post"
    assert f.fields == {"csrf_token": 't"k', "d": "v", "t": "hi & bye", "s": "2"}
    assert csrf_token(html) == 't"k'
    with pytest.raises(AssertionError):
        csrf_token("<p>none</p>")
    with pytest.raises(AssertionError):
        page_form(html, action="/b")


def test_a_gateway_that_does_not_start_fails_the_test_with_its_log(tmp_path, redis_server):
    server = Gunicorn(redis_server.url, tmp_path / "gunicorn.log",
                      {"GATEWAY_MODE": "production", "GATEWAY_SECRET_KEY": ""})
    with pytest.raises(pytest.fail.Exception) as failed:
        server.start()
    assert "configuration error" in str(failed.value) and server.process is None
