"""Command-line tools: `flask --app wsgi demo | user … | sync backfill | area list | backup | restore`."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import AppGroup

from .extensions import db
from .models import Area, User


def _print_logins(logins: list[dict]) -> None:
    click.echo("Demo logins (user name / password / role / areas):")
    for login in logins:
        click.echo(f"  {login['username']:<12} {login['password']:<10} {login['role']:<10} "
                   f"{', '.join(login['areas']) or '-'}")


def register_cli(app: Flask) -> None:
    @app.cli.command("demo")
    @click.option("--seed", default=1, show_default=True, help="Same seed, same town.")
    @click.option("--people", default=12000, show_default=True, help="Residents to create.")
    @click.option("--if-empty", is_flag=True, help="Do nothing when the database already holds data.")
    def demo(seed: int, people: int, if_empty: bool):
        """Build a demo town (10 villages, 1 residents' committee, ~300 groups)."""
        from .demo import DEMO_PASSWORD, build_demo, database_is_empty, demo_logins

        if not database_is_empty(db.session):
            if if_empty:
                click.echo("The database already holds data; no demo town loaded.")
                if db.session.scalar(sa.select(User.id).where(User.username == "zhanzhang")):
                    _print_logins(demo_logins(DEMO_PASSWORD))
                return
            raise click.ClickException("The database is not empty: use a new DATABASE_URL for the demo town.")
        logins = build_demo(db.session, seed=seed, people=people)
        from .checkups.demo import add_demo_days
        from .merging import local_today

        add_demo_days(db.session, local_today())
        click.echo(f"Demo town built with {people} residents (seed {seed}).")
        _print_logins(logins)

    user_group = AppGroup("user", help="Manage users.")
    app.cli.add_command(user_group)

    @user_group.command("add")
    @click.argument("username")
    @click.option("--role", required=True, type=click.Choice(["admin", "supervisor", "desk", "worker"]))
    @click.option("--area", "areas", multiple=True, help="Area code; repeat for several.")
    @click.option("--name", "display_name", default="", help="Name shown in the app.")
    @click.option("--email", default="", help="Where notice lists are e-mailed (when e-mail is set up).")
    def user_add(username: str, role: str, areas: tuple[str, ...], display_name: str, email: str):
        """Add a user; the password comes from a prompt, or DOORSTEP_PASSWORD when not interactive."""
        from .admin.service import save_user, validate_user

        password = os.environ.get("DOORSTEP_PASSWORD")
        if not password:
            if not sys.stdin.isatty():
                raise click.ClickException("Set DOORSTEP_PASSWORD when not running interactively.")
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        errors, area_rows = validate_user(username, role, list(areas), password, email=email)
        if errors:
            raise click.ClickException("; ".join(f"{k}: {v}" for k, v in errors.items()))
        save_user(None, username=username, display_name=display_name, role=role, areas=area_rows,
                  password=password, email=email)
        db.session.commit()
        click.echo(f"User {username} added ({role}).")

    @user_group.command("revoke-devices")
    @click.argument("username")
    def user_revoke_devices(username: str):
        """Sign out every device of a user at once."""
        from .auth.service import revoke_devices

        user = db.session.scalar(sa.select(User).where(User.username == username))
        if user is None:
            raise click.ClickException(f"No user named {username}.")
        count = revoke_devices(user)
        db.session.commit()
        click.echo(f"{count} device(s) of {username} revoked.")

    sync_group = AppGroup("sync", help="Sync state of the register.")
    app.cli.add_command(sync_group)

    @sync_group.command("backfill")
    def sync_backfill():
        """Make households and people written without sync (imports, old databases) pullable by phones.

        Safe to run any number of times: rows that already have sync state are left alone."""
        from .register.sync_backfill import backfill_sync_state

        added = backfill_sync_state(db.session)
        click.echo(f"Sync state added: {added['household']} household(s), {added['person']} person(s).")

    area_group = AppGroup("area", help="Areas: town, villages, groups.")
    app.cli.add_command(area_group)

    @area_group.command("list")
    def area_list():
        """One line per area: code, kind, name, parent code."""
        parent = sa.orm.aliased(Area)
        rows = db.session.execute(
            sa.select(Area.code, Area.kind, Area.name, parent.code)
            .outerjoin(parent, Area.parent_id == parent.id).order_by(Area.code)
        )
        for code, kind, name, parent_code in rows:
            click.echo(f"{code}\t{kind}\t{name}\t{parent_code or '-'}")

    @app.cli.command("backup")
    @click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
    def backup_command(path: Path):
        """Write a consistent backup of the whole database to PATH (a new file), while the app runs.

        SQLite: a SQLite file made with the online backup API. PostgreSQL: pg_dump's custom format."""
        from . import audit
        from .backup import BackupError, backup

        try:
            done = backup(db.engine, path)
        except BackupError as exc:
            raise click.ClickException(str(exc)) from None
        audit.record("backup", "database", None, after=done)
        db.session.commit()
        click.echo(f"Backed up the {done['backend']} database to {done['file']} "
                   f"({done['bytes']} bytes, sha256 {done['sha256']}).")

    @app.cli.command("restore")
    @click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--yes", is_flag=True, help="Replace a database that already holds data.")
    def restore_command(path: Path, yes: bool):
        """Replace the database with the backup at PATH (made by `flask backup`).

        Refuses a database that holds data unless --yes is given."""
        from . import audit
        from .backup import BackupError, restore

        db.session.remove()
        try:
            done = restore(db.engine, path, overwrite=yes)
        except BackupError as exc:
            raise click.ClickException(str(exc)) from None
        audit.record("restore", "database", None, after=done)
        db.session.commit()
        what = ", ".join(f"{n} {name}" for name, n in done["counts"].items())
        click.echo(f"Restored {done['file']} into the {done['backend']} database"
                   f"{' (its previous data was replaced)' if done['replaced_data'] else ''}: {what}.")
    @area_group.command("county")
    @click.argument("code")
    @click.argument("name")
    @click.argument("towns", nargs=-1, required=True)
    def area_county(code: str, name: str, towns: tuple[str, ...]):
        """Put towns (by code) under county CODE, made if it does not exist (for county users)."""
        from .attendance.service import place_towns_in_county

        try:
            county, moved = place_towns_in_county(code, name, list(towns))
        except ValueError as error:
            raise click.ClickException(str(error)) from error
        db.session.commit()
        click.echo(f"County {county.code}: {moved} town(s) placed.")
