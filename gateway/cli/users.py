"""``gateway users …``: provisioning from the command line (placeholder)."""
from __future__ import annotations

import click

from . import cli


@cli.group()
def users() -> None:
    """Create, import, export and look up accounts."""
