"""`madoguchi tenants add|list`: towns sharing one PostgreSQL database (core.store.tenancy).

Run with the database owner's config. Each town then runs its own processes with a config of
its own: its site folder, its keys folder (where `add` puts its database password) and the
[storage].url of its role.
"""
from __future__ import annotations

from pathlib import Path

import click

from core.cli import pass_state, register_every_surface


@click.group()
def tenants():
    """Towns (municipalities) sharing one PostgreSQL database; run with the owner's config."""


def _owner_db(state):
    if state.config.storage.engine != "postgresql":
        raise click.ClickException('tenants need PostgreSQL ([storage].engine = "postgresql"): '
                                   "an SQLite database serves one town")
    register_every_surface()   # every table exists before the new role is granted them
    return state.db(every_town=True)


@tenants.command("add")
@click.argument("tenant_id")
@click.option("--name", required=True, help="The town's name, e.g. A町.")
@click.option("--keys-dir", type=click.Path(file_okay=False, path_type=Path),
              help="The town's own keys folder, [keys].dir of its config (default: keys-<id> beside this one's).")
@pass_state
def add(state, tenant_id, name, keys_dir):
    """Add a town: its database role, a random password written 0600 into its keys folder (never
    printed), its mapping and grants."""
    from core.keys import DATABASE_PASSWORD, create_key_file
    from core.store import tenancy

    config = state.config
    db = _owner_db(state)
    try:
        role = tenancy.check_new_tenant(db, tenant_id)
        keys_dir = keys_dir or config.path(config.keys.dir).parent / f"keys-{tenant_id}"
        password_file = keys_dir / DATABASE_PASSWORD
        password = tenancy.new_password()
        try:
            create_key_file(password_file, password)
        except FileExistsError:
            raise click.ClickException(f"{password_file} exists: give the new town a keys folder of its own") from None
        try:
            tenancy.add_tenant(db, tenant_id, name, password)
        except BaseException:
            password_file.unlink()
            raise
    finally:
        db.conn.close()
    click.echo(f"tenant {tenant_id} ({name}): database role {role}, its password in {password_file}")
    click.echo("its config: [storage] engine = \"postgresql\", "
               f"url = \"{tenancy.url_for_role(config.storage.url, role)}\"; [keys] dir = \"{keys_dir}\"; "
               "and its own [site] folder")


@tenants.command("list")
@pass_state
def list_tenants(state):
    """One town per line: tenant id, database role, name."""
    from core.store import tenancy

    db = _owner_db(state)
    try:
        for tenant in tenancy.tenants(db):
            click.echo(f"{tenant.tenant_id}\t{tenant.role_name}\t{tenant.name}")
    finally:
        db.conn.close()
