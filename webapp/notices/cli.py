"""``flask scheduler`` (the scheduler process) and ``flask notices send-due`` (one pass by hand)."""
from __future__ import annotations

import click
from flask.cli import AppGroup, with_appcontext


def register_cli(app) -> None:
    @app.cli.command("scheduler")
    @with_appcontext
    def scheduler_command():
        """Run the scheduler (notice lists T-3, catch-up, SMS/e-mail). One or more per deployment."""
        from .scheduler import run_from_cli

        run_from_cli()

    notices = AppGroup("notices", help="Notice lists and their messages.")

    @notices.command("send-due")
    def send_due():
        """Make the lists that are due now and send queued messages, once (what the scheduler does)."""
        from .dispatch import dispatch_due
        from .service import send_due_lists

        made = send_due_lists()
        sent = dispatch_due()
        click.echo(f"{len(made)} list(s) made, {sent} message(s) attempted")

    app.cli.add_command(notices)
