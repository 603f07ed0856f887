"""What every settings section is built with: the project's folders and :func:`secret`.

Below :mod:`gateway.config` and the protocols' settings modules
(:mod:`gateway.saml.settings`, :mod:`gateway.oidc.settings`), which config
composes: they all import it, and it imports nothing of the gateway.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

#: The project folder: relative paths in the settings (keys, metadata, clients file) are read from here.
ROOT = Path(__file__).resolve().parent.parent
#: Where the development configuration lives; production refuses files from there.
DEV_CONFIG_DIR = ROOT / "config" / "dev"


def secret(default: Any = "", **kw: Any) -> Any:
    """A field whose value may come from ``<key>_file`` and is never a dev value in production."""
    if isinstance(default, (dict, list)):
        factory = type(default)
        return dataclasses.field(default_factory=factory, metadata={"secret": True}, **kw)
    return dataclasses.field(default=default, metadata={"secret": True}, **kw)
