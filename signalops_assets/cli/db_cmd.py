from __future__ import annotations

import click

from signalops_assets.cli import common


@click.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command()
def upgrade() -> None:
    """Create or upgrade the schema to the latest migration."""
    from signalops_assets.db.migrate import current_revision
    from signalops_assets.db.migrate import upgrade as run_upgrade
    from signalops_assets.db.session import database_url
    from signalops_assets.redaction import redact_url

    eng = common.engine(migrate=False, create=True)
    run_upgrade(eng)
    click.echo(f"database {redact_url(database_url())} at revision {current_revision(eng)}")
