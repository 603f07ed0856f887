"""ATT07: ``liste_rouge`` through ``gateway users add|show|import`` (JSON Lines and CSV)."""
from __future__ import annotations

import json

import pytest

from .test_users_import import jsonl, write


def test_att07_add_sets_it_and_show_prints_it(run, accounts):
    result = run("users", "add", "--email", "rouge@example.fr", "--liste-rouge", "--id", "rouge")
    assert result.exit_code == 0, result.stderr
    assert accounts.get("rouge").liste_rouge
    assert "liste rouge:   yes" in run("users", "show", "rouge").stdout.splitlines()
    assert json.loads(run("users", "show", "rouge", "--json").stdout)["liste_rouge"] is True
    run("users", "add", "--email", "plain@example.fr", "--id", "plain")
    assert not accounts.get("plain").liste_rouge
    assert "liste rouge:   no" in run("users", "show", "plain").stdout.splitlines()


def test_att07_import_jsonl_sets_clears_and_leaves_it(run, accounts, tmp_path):
    run("users", "import", write(tmp_path, "a.jsonl", jsonl({"id": "r", "emails": ["r@example.fr"],
                                                             "liste_rouge": True})))
    assert accounts.get("r").liste_rouge
    result = run("users", "import", write(tmp_path, "b.jsonl", jsonl({"id": "r", "given_name": "R"})))
    assert result.stdout.strip() == "created 0, updated 1, unchanged 0, rejected 0"
    assert accounts.get("r").liste_rouge  # absent: unchanged
    run("users", "import", write(tmp_path, "c.jsonl", jsonl({"id": "r", "liste_rouge": False})))
    assert not accounts.get("r").liste_rouge


@pytest.mark.parametrize("cell, expected", [("TRUE", True), ("vrai", True), ("1", True), ("Oui", True),
                                            ("false", False), ("FAUX", False), ("0", False), ("non", False)])
def test_att07_import_csv_booleans(run, accounts, tmp_path, cell, expected):
    """SupAnn writes TRUE/FALSE; French Excel VRAI/FAUX."""
    text = f"emails;liste_rouge\r\nc@example.fr;{cell}\r\n"
    result = run("users", "import", write(tmp_path, "p.csv", text))
    assert result.exit_code == 0, result.stderr
    assert accounts.find_by_email("c@example.fr").liste_rouge is expected


def test_att07_a_bad_value_rejects_the_line(run, accounts, tmp_path):
    text = jsonl({"emails": ["a@example.fr"], "liste_rouge": "peut-être"}, {"emails": ["b@example.fr"],
                                                                           "liste_rouge": 1})
    result = run("users", "import", write(tmp_path, "bad.jsonl", text))
    assert result.exit_code == 1
    assert "line 1: rejected: liste_rouge: expected true or false" in result.stderr
    assert "line 2: rejected: liste_rouge: expected true or false" in result.stderr
    assert accounts.count() == 0
