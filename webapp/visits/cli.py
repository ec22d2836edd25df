"""`flask visits load-form FILE`: load a new form version without a deploy (like the admin page)."""
from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup


def register_cli(app) -> None:
    group = AppGroup("visits", help="Visit forms.")
    app.cli.add_command(group)

    @group.command("load-form")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--as-user", "username", required=True, help="The admin loading it (audited).")
    def load_form(path: Path, username: str):
        """Load a YAML/JSON definition or an XLSForm .xlsx as the newest version of its form."""
        import sqlalchemy as sa

        from ..extensions import db
        from ..models import User
        from .service import load_definition

        user = db.session.scalar(sa.select(User).where(User.username == username, User.role == "admin"))
        if user is None:
            raise click.ClickException(f"no admin called {username!r}")
        definition, problems = load_definition(user, path.name, path.read_bytes())
        if problems:
            raise click.ClickException("the form was not loaded:\n  " + "\n  ".join(problems))
        click.echo(f"Loaded {definition['form_id']} version {definition['version']}.")
