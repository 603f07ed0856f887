"""``gateway support …`` at the edges: bad input is one clear line and a non-zero exit, in either language."""
from __future__ import annotations

import re

from tests.cli.conftest import audit_events


def test_an_unknown_address_is_one_line_and_exit_1(run):
    for command in (["diagnose"], ["code", "--operator", "Ana"], ["unblock", "--operator", "Ana"]):
        result = run("support", *command, "personne@univ-exemple.fr")
        assert result.exit_code == 1
        assert result.stdout == ""
        lines = [line for line in result.stderr.splitlines() if not line.startswith("{")]
        assert lines == ["gateway: aucun compte n'a l'adresse personne@univ-exemple.fr"]


def test_not_an_address_and_english(run):
    result = run("support", "diagnose", "pas une adresse", "--lang", "en")
    assert result.exit_code == 1
    assert "gateway: no account has the address pas une adresse" in result.stderr


def test_operator_is_required_for_actions(run, make_account):
    make_account("camille@univ-exemple.fr")
    result = run("support", "code", "camille@univ-exemple.fr")
    assert result.exit_code == 2
    assert "--operator" in result.output


def test_no_code_for_a_disabled_account(run, make_account):
    make_account("camille@univ-exemple.fr", status="disabled")
    result = run("support", "code", "camille@univ-exemple.fr", "--operator", "Ana")
    assert result.exit_code == 1
    assert "est désactivé : aucun code ne peut être donné" in result.stderr
    assert "support.code_given" not in audit_events(result.stderr)
    diagnosed = run("support", "diagnose", "camille@univ-exemple.fr")
    assert "Le compte est désactivé" in diagnosed.stdout


def test_a_code_is_printed_in_english_with_its_end(run, make_account):
    make_account("camille@univ-exemple.fr")
    result = run("support", "code", "Camille@Univ-Exemple.fr", "--operator", "Ana", "--lang", "en")
    assert result.exit_code == 0
    assert re.search(r"^Sign-in code for camille@univ-exemple.fr: \d{6}$", result.stdout, re.M)
    assert "Valid once, until" in result.stdout
