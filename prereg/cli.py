"""`madoguchi purge`: delete expired pre-registrations, stale drafts and old progress."""
from __future__ import annotations

import click


def purge_all(config) -> tuple[int, int, int]:
    from core import progress, sealed
    from core.store.db import open_from_config
    from prereg import drafts

    db = open_from_config(config)
    try:
        return (sealed.purge(db), drafts.purge(db),
                progress.purge(db, days=config.retention.progress_days))
    finally:
        db.conn.close()


@click.command()
@click.pass_obj
def purge(state):
    """Delete expired pre-registrations (ciphertexts past [retention].prereg_days) and
    wizard drafts left alone for a day, and the progress of applications whose last step is
    older than [retention].progress_days. `madoguchi serve` also does this on a timer."""
    sealed_n, drafts_n, progress_n = purge_all(state.config)
    click.echo(f"purged {sealed_n} expired pre-registrations, {drafts_n} stale drafts, "
               f"{progress_n} progress steps")
