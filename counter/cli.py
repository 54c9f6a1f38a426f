"""`madoguchi users`: clerk accounts (add, passwd, disable, enable, unlock, role, list)."""
from __future__ import annotations

import sys

import click

from core.cli import pass_state


def _password(new: bool, from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise click.ClickException("no password on standard input")
        return line.rstrip("\r\n")
    prompt = "New password" if new else "Password"
    return click.prompt(prompt, hide_input=True, confirmation_prompt=True)


@click.group()
def users():
    """Clerk accounts: roles clerk, supervisor and admin."""


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["clerk", "supervisor", "admin"]), default="clerk", show_default=True)
@click.option("--name", "display_name", default=None, help="Name shown on screens (default: the user name).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (for scripts).")
@pass_state
def add(state, username, role, display_name, password_stdin):
    """Add an account; asks for its password."""
    from core import users as accounts
    user = accounts.add_user(state.db(), username, _password(True, password_stdin), role, display_name)
    click.echo(f"added {user.username} ({user.role})")


@users.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (for scripts).")
@pass_state
def passwd(state, username, password_stdin):
    """Set a new password (signs the user out everywhere and lifts any hold on failed sign-ins)."""
    from core import users as accounts
    from core.signin_throttle import Throttle
    db = state.db()
    accounts.get_user(db, username)  # say "no such user" before asking for a password
    accounts.set_password(db, username, _password(True, password_stdin))
    Throttle.for_config(db, state.config).clear(username)
    click.echo(f"password changed for {username}")


@users.command("disable")
@click.argument("username")
@pass_state
def disable(state, username):
    """Disable an account and end its sessions (accounts are kept: the audit trail names them)."""
    from core import users as accounts
    accounts.set_disabled(state.db(), username, True)
    click.echo(f"disabled {username}")


@users.command("enable")
@click.argument("username")
@pass_state
def enable(state, username):
    """Enable a disabled account again."""
    from core import users as accounts
    accounts.set_disabled(state.db(), username, False)
    click.echo(f"enabled {username}")


@users.command("unlock")
@click.argument("username")
@pass_state
def unlock(state, username):
    """Lift the waits after failed sign-ins on an account (from every address)."""
    from core import users as accounts
    from core.signin_throttle import Throttle
    db = state.db()
    accounts.get_user(db, username)
    Throttle.for_config(db, state.config).clear(username)
    click.echo(f"unlocked {username}")


@users.command("role")
@click.argument("username")
@click.argument("role", type=click.Choice(["clerk", "supervisor", "admin"]))
@pass_state
def role(state, username, role):
    """Change an account's role."""
    from core import users as accounts
    accounts.set_role(state.db(), username, role)
    click.echo(f"{username} is now {role}")


@users.command("list")
@pass_state
def list_(state):
    """One account per line: user name, role, status (active, disabled, held-back: failed
    sign-ins make some address wait), name."""
    from core import users as accounts
    from core.signin_throttle import Throttle
    db = state.db()
    throttle = Throttle.for_config(db, state.config)
    for u in accounts.list_users(db):
        status = "disabled" if u.disabled else "held-back" if throttle.held_back_until(u.username) else "active"
        click.echo(f"{u.username}\t{u.role}\t{status}\t{u.display_name}")
