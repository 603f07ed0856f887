"""The layering contracts of setup.cfg's ``[importlinter]`` hold, and they can fail.

import-linter (``lint-imports``) reads the import graph of ``gateway``, the
imports inside functions and under ``TYPE_CHECKING`` included: ``saml``,
``oidc`` and ``scim`` never import each other (directly or through another
module), ``accounts``, ``store`` and the settings (``config``, ``configbase``,
``saml/settings.py``, ``oidc/settings.py``) import neither Flask nor its companions,
the protocols' settings import neither ``config`` nor the rest of their package
(config composes them: no circle), and
neither does the identity core: the whole of ``identity/`` but its Flask glue
(``identity/flaskglue/``), which no other module of ``identity/`` imports.
Inside ``saml``, each sub-package imports only those below it (views, slo and
cutover, sso, idp, sp, wire, errors) and no modules import each other in a
circle, at any depth. The second half runs the same contracts on a throwaway package that breaks one
of them, so a contract that could never fail would show here.
"""
from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INDEPENDENT = "saml, oidc and scim do not import each other"
NO_FLASK = "accounts, store and the settings do not import Flask"
CORE_NO_FLASK = "the identity core does not import Flask"
SAML_LAYERS = "the saml sub-packages import only those below them"
SAML_ACYCLIC = "no import circles inside gateway.saml"
BELOW_GLUE = "the identity core does not import its Flask glue"
SETTINGS_ALONE = "the protocols' settings import neither config nor the rest of their package"


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports setup.cfg`` in ``cwd``, with only ``cwd`` added to the path (no cache written)."""
    program = Path(sys.executable).parent / "lint-imports"
    command = str(program) if program.exists() else shutil.which("lint-imports")
    assert command, "lint-imports is not installed (pip install -e '.[test]')"
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([command, "--no-cache", "setup.cfg"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_gateway_keeps_its_layering_contracts() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{INDEPENDENT} KEPT" in result.stdout
    assert f"{NO_FLASK} KEPT" in result.stdout
    assert f"{CORE_NO_FLASK} KEPT" in result.stdout
    assert f"{SAML_LAYERS} KEPT" in result.stdout
    assert f"{SAML_ACYCLIC} KEPT" in result.stdout
    assert f"{BELOW_GLUE} KEPT" in result.stdout
    assert f"{SETTINGS_ALONE} KEPT" in result.stdout


def saml_layer_modules() -> dict[str, str]:
    """One package per layer setup.cfg names inside ``gateway.saml``, each importing every layer of the line
    below it (the shape the contract allows, and the longest chain of imports it can have)."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "setup.cfg")
    lines = [[name.strip() for name in line.split("|")]
             for line in config["importlinter:contract:saml-layers"]["layers"].split("\n") if line.strip()]
    modules = {}
    for above, below in zip(lines, lines[1:] + [[]]):
        source = "".join(f"import gateway.saml.{name}\n" for name in below)
        modules.update({f"gateway/saml/{name}/__init__.py": source for name in above})
    return modules


def fake_gateway(tmp_path: Path, breach: dict[str, str]) -> Path:
    """A tiny ``gateway``-shaped tree under ``tmp_path`` with this project's contracts, plus ``breach``
    (module path -> source) written over it."""
    modules = {
        "gateway/__init__.py": "",
        "gateway/store.py": "import redis\nfrom .config import x\n",
        "gateway/configbase.py": "",
        "gateway/config.py": (
            "from .configbase import x\nfrom .saml.settings import x\nfrom .oidc.settings import x\n"),
        "gateway/saml/settings.py": "from ..configbase import x\n",
        "gateway/oidc/settings.py": "from ..configbase import x\n",
        "gateway/accounts/__init__.py": "",
        "gateway/accounts/models.py": "from ..store import redis\n",
        "gateway/logs.py": "import flask\n",
        "gateway/identity/__init__.py": "from ..accounts import models\n",
        "gateway/identity/sessions.py": "from ..store import redis\n",
        "gateway/identity/throttle.py": "",
        "gateway/identity/logout.py": "from .sessions import redis\n",
        "gateway/identity/signin/__init__.py": "from .. import sessions\n",
        "gateway/identity/signin/codes.py": "from .. import throttle\n",
        # the glue imports Flask, a module that does (logs), the core, and its own modules
        "gateway/identity/flaskglue/__init__.py": "",
        "gateway/identity/flaskglue/current.py": "import flask\nfrom ..sessions import redis\n",
        "gateway/identity/flaskglue/logout.py": (
            "from werkzeug import Response\nfrom ...logs import audit\nfrom .. import logout\n"
            "from .current import flask\n"),
        "gateway/saml/__init__.py": "from ..identity.flaskglue import current\nfrom . import views\n",
        **saml_layer_modules(),
        "gateway/saml/sp/attributes.py": "from . import policy\n",
        "gateway/saml/sp/policy.py": "",
        "gateway/oidc/__init__.py": "from .. import identity\n",
        "gateway/scim/__init__.py": "from ..accounts import models\n",
        **breach,
    }
    for name, source in modules.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(source)
    ours = configparser.ConfigParser(interpolation=None)
    ours.read(ROOT / "setup.cfg")
    contracts = configparser.ConfigParser(interpolation=None)
    for section in ours.sections():
        if section.split(":")[0] == "importlinter":
            contracts[section] = dict(ours[section])
    with (tmp_path / "setup.cfg").open("w") as file:
        contracts.write(file)
    return tmp_path


def test_the_fake_tree_keeps_the_contracts_when_nothing_breaks_them(tmp_path: Path) -> None:
    result = lint_imports(fake_gateway(tmp_path, {}))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("breach", "broken", "kept"), [
    ({"gateway/accounts/models.py": "from flask import current_app\n"}, NO_FLASK, INDEPENDENT),
    ({"gateway/store.py": "def f():\n    from werkzeug.exceptions import NotFound\n"}, NO_FLASK, INDEPENDENT),
    ({"gateway/saml/__init__.py": "from ..oidc import models\n"}, INDEPENDENT, NO_FLASK),
    # indirectly: oidc -> identity -> saml
    ({"gateway/identity/__init__.py": "from .. import saml\n"}, INDEPENDENT, NO_FLASK),
    ({"gateway/identity/signin/__init__.py": "from flask import session\n"}, CORE_NO_FLASK, NO_FLASK),
    # indirectly: a core module reaching Flask through a module that imports it
    ({"gateway/identity/throttle.py": "from ..logs import audit\n", "gateway/logs.py": "import flask\n"},
     CORE_NO_FLASK, INDEPENDENT),
    # inside saml: two modules in a circle, one side hidden in a function (policy <-> attributes, once)
    ({"gateway/saml/sp/policy.py": "def names():\n    from .attributes import ATTRIBUTES\n"}, SAML_ACYCLIC,
     SAML_LAYERS),
    # a wrong-direction import, in a function (initiated.py <-> views.py, once): a circle too
    ({"gateway/saml/sso/initiated.py": "def initiate():\n    from ..views import post_form\n"}, SAML_LAYERS,
     INDEPENDENT),
    ({"gateway/saml/sp/nameids.py": "from ..idp import build\n"}, SAML_LAYERS, NO_FLASK),
    # two sub-packages of one floor that must stay independent, without a circle
    ({"gateway/saml/cutover/__init__.py": "import gateway.saml.sso\nfrom ..slo import chain\n",
      "gateway/saml/slo/chain.py": ""}, SAML_LAYERS, SAML_ACYCLIC),
    ({"gateway/identity/__init__.py": "import flask\n"}, CORE_NO_FLASK, BELOW_GLUE),
    # a module nobody listed: the contract covers the whole package
    ({"gateway/identity/passkeys.py": "from werkzeug.wrappers import Request\n"}, CORE_NO_FLASK, BELOW_GLUE),
    ({"gateway/identity/logout.py": "from .flaskglue.current import flask\n"}, BELOW_GLUE, CORE_NO_FLASK),
    ({"gateway/identity/signin/codes.py": "def f():\n    from ..flaskglue import logout\n"}, BELOW_GLUE,
     INDEPENDENT),
    # indirectly: the core reaching the glue through a module outside identity
    ({"gateway/identity/sessions.py": "from .. import mail\n",
      "gateway/mail.py": "from .identity import flaskglue\n"}, BELOW_GLUE, NO_FLASK),
    ({"gateway/saml/settings.py": "from ..config import x\n"}, SETTINGS_ALONE, NO_FLASK),
    ({"gateway/oidc/settings.py": "from .keys import x\n", "gateway/oidc/keys.py": ""}, SETTINGS_ALONE,
     NO_FLASK),
    # the settings modules are passed through config only: a direct import is still one protocol's of another
    ({"gateway/scim/__init__.py": "from ..oidc.settings import x\n"}, INDEPENDENT, SETTINGS_ALONE),
    # indirectly: config (under store) reaching Flask through the SAML settings
    ({"gateway/saml/settings.py": "from werkzeug.exceptions import NotFound\n"}, NO_FLASK, SETTINGS_ALONE),
], ids=["accounts-imports-flask", "store-imports-werkzeug-in-a-function", "saml-imports-oidc",
        "oidc-reaches-saml-through-identity", "signin-imports-flask", "throttle-reaches-flask-through-logs",
        "saml-policy-attributes-circle", "saml-sso-imports-views", "saml-sp-imports-idp",
        "saml-cutover-imports-slo",
        "identity-init-imports-flask", "new-identity-module-imports-werkzeug", "logout-imports-the-glue",
        "signin-imports-the-glue-in-a-function", "sessions-reach-the-glue-through-mail",
        "saml-settings-import-config", "oidc-settings-import-oidc-keys", "scim-imports-oidc-settings",
        "saml-settings-import-werkzeug"])
def test_a_broken_contract_fails_the_check_and_is_named(tmp_path: Path, breach: dict[str, str], broken: str,
                                                        kept: str) -> None:
    result = lint_imports(fake_gateway(tmp_path, breach))
    assert result.returncode != 0
    assert f"{broken} BROKEN" in result.stdout, result.stdout + result.stderr
    assert f"{kept} KEPT" in result.stdout
