"""The README's Architecture section leads somewhere: every ``gateway/…`` path it names exists.

A newcomer follows those paths to find where a session ends, where a sign-in code
is checked, where a SAML Response is signed; a path left behind by a move would
send them nowhere. The section is read as Markdown text (from ``## Architecture``
to the next ``## `` heading), each ``gateway/…`` path taken out of it, and looked
for in the repository: a file, or a folder when it ends with ``/``.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: A path in the project's package, as the README writes it: ``gateway/saml/sso/response.py``, ``gateway/jobs/``.
PATH = re.compile(r"(?<![\w./-])gateway/[\w./-]*[\w/]")
#: The places the issue asked a newcomer to find from this section alone.
MUST_NAME = ("gateway/identity/logout.py", "gateway/identity/signin/codes.py", "gateway/saml/sso/response.py",
             "gateway/identity/redirects.py", "gateway/outbound.py", "gateway/mail/fate.py", "gateway/support/")


def section(markdown: str, title: str) -> str:
    """The text under ``## <title>`` up to the next second-level heading. Raises AssertionError when absent."""
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert found, f"no '## {title}' section"
    return found.group(1)


def named_paths(text: str) -> list[str]:
    """Every ``gateway/…`` path of ``text``, in order, once each (a sentence's final dot is not part of it)."""
    return list(dict.fromkeys(m.group(0).rstrip(".") for m in PATH.finditer(text)))


def architecture_paths() -> list[str]:
    return named_paths(section((ROOT / "README.md").read_text(encoding="utf-8"), "Architecture"))


def test_the_section_names_where_each_flow_lives() -> None:
    named = architecture_paths()
    assert set(MUST_NAME) <= set(named), sorted(set(MUST_NAME) - set(named))


@pytest.mark.parametrize("path", architecture_paths())
def test_every_path_the_architecture_section_names_exists(path: str) -> None:
    target = ROOT / path
    assert target.is_dir() if path.endswith("/") else target.is_file(), f"README names {path}, which is not there"


@pytest.mark.parametrize(("text", "paths"), [
    ("in `gateway/identity/logout.py`, and `gateway/support/`.", ["gateway/identity/logout.py", "gateway/support/"]),
    ("ends in gateway/outbound.py. Then gateway/outbound.py again", ["gateway/outbound.py"]),
    ("`tests/gateway/x.py` and `uness-gateway/`", []),
])
def test_paths_are_read_as_written(text: str, paths: list[str]) -> None:
    assert named_paths(text) == paths


def test_a_path_that_moved_is_caught(tmp_path: Path) -> None:
    """The check can fail: a section naming a module that is not in the repository."""
    text = section("## Architecture\nSee `gateway/saml/backchannel.py`.\n## Development\n", "Architecture")
    [path] = named_paths(text)
    assert not (ROOT / path).exists()
