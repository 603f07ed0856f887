"""The WSGI entry point for gunicorn: ``gunicorn -c deploy/gunicorn.conf.py gateway.wsgi:app``."""
from __future__ import annotations

import sys

from . import create_app
from .config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    for problem in exc.problems:
        print(f"gateway: configuration error: {problem}", file=sys.stderr)
    sys.exit(4)  # gunicorn's APP_LOAD_ERROR: the arbiter stops instead of respawning
