"""`madoguchi backup`, `madoguchi restore` and `madoguchi purge-personal` (core.backup, core.retention)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from core.cli import pass_state, register_every_surface
from core.clock import in_japan


@click.group(invoke_without_command=True)
@click.option("--to", "folder", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the backup to (default: [backup].folder).")
@click.pass_context
def backup(ctx, folder):
    """Back up the database and keys, encrypted under the backup key, and rotate the folder.
    Without the backup key (`madoguchi backup key export`) no backup can be restored."""
    if ctx.invoked_subcommand is not None:
        return
    from core.backup import make_backup

    result = make_backup(ctx.obj.config, folder=folder)
    head = result.manifest["exchange_log_head"]
    click.echo(f"backup written: {result.path} ({result.path.stat().st_size} bytes; "
               f"exchange log head: entry {head['seq']})")
    for path in result.removed:
        click.echo(f"removed by rotation: {path.name}")


@backup.group("key")
def backup_key_group():
    """The backup key: keep a copy off this machine."""


@backup_key_group.command("export")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the key to this new file (0600) instead of printing it.")
@pass_state
def backup_key_export(state, out):
    """Print the backup key (made now if there is none). Keep it off this machine, e.g. on paper
    in a safe: a backup cannot be restored without it, and anyone with both can read the backup."""
    from core.backup import backup_key
    from core.keys import BACKUP_KEY, read_existing
    from core.private_files import create_private

    backup_key(state.config)
    text = read_existing(state.config, BACKUP_KEY)
    if out is None:
        click.echo(text)
        return
    try:
        fd = create_private(out)
    except FileExistsError:
        raise click.ClickException(f"{out} exists: the key is written only to a new file") from None
    with os.fdopen(fd, "w") as f:
        f.write(f"{text}\n")
    click.echo(f"backup key written to {out}")


@click.command()
@click.argument("backup_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--into", "folder", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="A new (or empty) folder for the database (SQLite), keys and manifest.")
@click.option("--into-database", "database_url", default=None, metavar="URL",
              help="A PostgreSQL backup: the new, empty database to restore into (a libpq URL without the password).")
@click.option("--key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The exported backup key (default: the backup key of [keys].dir).")
@click.option("--replace", is_flag=True, help="Replace the database, keys and manifest of a folder that has them.")
@click.option("--anchors", "anchors_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Exported exchange-log heads to check the restored log against too.")
@pass_state
def restore(state, backup_file, folder, key_file, replace, anchors_file, database_url):
    """Restore a backup into a new folder (a PostgreSQL backup: into a new, empty database too),
    apply the migrations and verify the exchange log. Exit 1 when the log does not verify (what
    was restored stays, to be looked at)."""
    from core.backup import decode_key, existing_backup_key, restore_backup
    from core.config import database_url_problem
    from core.exchange_log import read_anchors
    from core.keys import database_password

    if database_url is not None and (problem := database_url_problem(database_url)):
        raise click.BadParameter(problem, param_hint="--into-database")
    register_every_surface()
    key = decode_key(key_file.read_text(encoding="utf-8")) if key_file else existing_backup_key(state.config)
    anchors = read_anchors(anchors_file) if anchors_file else None
    result = restore_backup(backup_file, folder, key, replace=replace, anchors=anchors, into_database=database_url,
                            database_password=database_password(state.config) if database_url else None)
    click.echo(f"restored the backup made {result.manifest['made_at']} into {result.folder}")
    if result.migrations_applied:
        click.echo(f"migrations applied: {', '.join(result.migrations_applied)}")
    if result.migrations_unknown:
        click.echo(f"warning: made by a newer version of madoguchi (migrations unknown here: "
                   f"{', '.join(result.migrations_unknown)}); run that version on it", err=True)
    if not result.verification.ok:
        click.echo(str(result.verification), err=True)
        sys.exit(1)
    click.echo(str(result.verification))
    if result.towns_without_role:
        click.echo(f"warning: this PostgreSQL cluster has no role for the towns {', '.join(result.towns_without_role)};"
                   " roles are the cluster's, not the database's: carry them over from the old cluster"
                   " (pg_dumpall --roles-only, docs/operations.md), then restore again", err=True)
    if result.database_url:
        click.echo(f'to run on it: [storage].engine = "postgresql", url = "{result.database_url}" and'
                   f' [keys].dir = "{result.keys_folder}"')
    else:
        click.echo(f'to run on it: [storage].path = "{result.database}" and [keys].dir = "{result.keys_folder}"')


@click.command("purge-personal")
@click.option("--dry-run", is_flag=True, help="Only count what would be purged.")
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="Days to keep (default: [retention].personal_data_days).")
@pass_state
def purge_personal(state, dry_run, days):
    """Delete the personal data of applications forwarded, rejected or cancelled longer ago
    than [retention].personal_data_days; their states, times and the exchange log stay."""
    from core.retention import purge_personal as purge

    db = state.db()
    try:
        report = purge(db, state.config, days=days, dry_run=dry_run)
    finally:
        db.conn.close()
    before = in_japan(report.cutoff).strftime("%Y-%m-%d %H:%M")
    if report.dry_run:
        click.echo(f"would purge the personal data of {report.applications} applications finished before {before}")
    else:
        click.echo(f"purged the personal data of {report.applications} applications finished before {before}"
                   f" ({report.records} delivered records)")
