"""Helpers shared by every test directory (see the docstring of tests/conftest.py):
:mod:`.forms` (a page's forms and CSRF token), :mod:`.browser` (``Browser``: sign in, submit a
form), :mod:`.accounts` (``create_account``, ``PASSWORD``), :mod:`.servers` (``Gunicorn``)."""
