"""`workbench users` and `workbench audit`: accounts for a team server, from the machine that holds
the database (the CLI is the owner's: it needs no account, and its changes are logged as
``cli:<os user>``)."""

from __future__ import annotations

from pathlib import Path

import click

from workbench.cli import WorkbenchGroup, _store, data_dir_option, main, print_table
from workbench.domain.names import ROLE_NAMES


def _show_token(name: str, token: str) -> None:
    click.echo(f"token for {name} (shown once; only its hash is kept):")
    click.echo(token)
    click.echo("Sign in on the page with this name and token, or send it as `Authorization: Bearer <token>`.",
               err=True)


@main.group(cls=WorkbenchGroup)
def users() -> None:
    """Accounts and roles: the first user turns accounts on for this database."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLE_NAMES), required=True,
              help="viewer: read and export; annotator: + annotate; admin: + datasets, tasks, models, runs, users.")
@data_dir_option
def users_add(name: str, role: str, data_dir: Path | None) -> None:
    """Add a user and print their one-time token."""
    from workbench.service import accounts
    from workbench.service.audit import cli_actor

    store = _store(data_dir)
    first = not accounts.accounts_on(store)
    user, token = accounts.add_user(store, name, role, actor=cli_actor())
    if first:
        click.echo("accounts are now on for this database: every page and API call needs a sign-in", err=True)
    _show_token(user["name"], token)


@users.command("list")
@data_dir_option
def users_list(data_dir: Path | None) -> None:
    """List users, their roles and whether they are enabled."""
    from workbench.service import accounts

    print_table(["name", "role", "status", "created", "last sign-in"],
                [[u["name"], u["role"], "disabled" if u["disabled"] else "enabled", u["created_at"][:19],
                  (u["last_sign_in_at"] or "never")[:19]] for u in accounts.list_users(_store(data_dir))])


def _enabling(enabled: bool):
    @click.argument("name")
    @data_dir_option
    def command(name: str, data_dir: Path | None) -> None:
        from workbench.service import accounts
        from workbench.service.audit import cli_actor

        accounts.set_disabled(_store(data_dir), name, not enabled, actor=cli_actor())
        click.echo(f"{'enabled' if enabled else 'disabled'} {name}")

    command.__doc__ = ("Enable a disabled user again (with the token they had)." if enabled else
                       "Disable a user: their token and sessions stop working at once.")
    return command


users.command("disable")(_enabling(False))
users.command("enable")(_enabling(True))


@users.command("reset")
@click.argument("name")
@data_dir_option
def users_reset(name: str, data_dir: Path | None) -> None:
    """Give a user a new one-time token; the old one and their sessions stop working."""
    from workbench.service import accounts
    from workbench.service.audit import cli_actor

    user, token = accounts.reset_token(_store(data_dir), name, actor=cli_actor())
    _show_token(user["name"], token)


@users.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLE_NAMES))
@data_dir_option
def users_role(name: str, role: str, data_dir: Path | None) -> None:
    """Change a user's role."""
    from workbench.service import accounts
    from workbench.service.audit import cli_actor

    accounts.set_role(_store(data_dir), name, role, actor=cli_actor())
    click.echo(f"{name} is now {'an' if role[0] in 'aeiou' else 'a'} {role}")


@main.command()
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE [default: stdout].")
@data_dir_option
def audit(fmt: str, output: Path | None, data_dir: Path | None) -> None:
    """Print the audit log of admin actions (who, when, what), oldest first."""
    from workbench.service.audit import export_lines

    lines = export_lines(_store(data_dir), fmt)
    if output is None:
        for line in lines:
            click.echo(line, nl=False)
        return
    with output.open("w", encoding="utf-8", newline="") as f:
        f.writelines(lines)
    click.echo(f"wrote {output}", err=True)
