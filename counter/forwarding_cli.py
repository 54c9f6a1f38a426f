"""`madoguchi forward` (deliver confirmed records) and `madoguchi exchange-log` (verify the
hash chain, export its head as an anchor, list entries)."""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

import click

from core.cli import pass_state
from core.store.tenancy import refuse_config_seeing_every_town


def _japan(stamp: str | None) -> str:
    """A stored UTC time as Japan's clock shows it (the clerks' and the forms' time)."""
    from datetime import datetime

    from core.clock import in_japan
    if not stamp:
        return "-"
    try:
        return in_japan(datetime.fromisoformat(stamp)).strftime("%Y-%m-%d %H:%M:%S JST")
    except ValueError:
        return stamp


def _echo_json(obj) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2))


@click.command("forward")
@click.option("--once", is_flag=True, help="Deliver what is due now, then stop (for cron or a test).")
@click.option("--interval", type=click.FloatRange(0.05), default=1.0, show_default=True,
              help="Seconds between checks for new records while looping.")
@click.option("--status", "show_status", is_flag=True, help="Show what waits, what failed, and stop.")
@click.option("--retry-failed", is_flag=True, help="Put records that failed for good back in the queue, and stop.")
@click.option("--json", "as_json", is_flag=True, help="With --status: print JSON.")
@pass_state
def forward(state, once, interval, show_status, retry_failed, as_json):
    """Deliver confirmed records to the core system ([backend] in the config).

    Loops until interrupted (Ctrl-C or SIGTERM), retrying failed deliveries with exponential
    backoff. `madoguchi serve` runs the same worker in a thread; running both is safe.
    """
    from core import outbox
    from counter import forwarding

    config = state.config
    if show_status or retry_failed:
        db = state.db()
        if retry_failed:
            n = outbox.requeue_failed(db)
            click.echo(f"{n} failed record(s) queued again")
            return
        st = forwarding.status(db)
        if as_json:
            _echo_json(st)
            return
        click.echo(f"mode: {config.backend.mode}")
        click.echo(f"pending: {st['pending']}  delivered: {st['delivered']}  failed: {st['failed']}")
        if st["oldest_pending_since"]:
            click.echo(f"oldest waiting since: {_japan(st['oldest_pending_since'])}")
        for r in st["retrying"]:
            click.echo(f"  retrying {r['application_id']} ({r['idempotency_key']}): {r['attempts']} attempt(s),"
                       f" last error {r['last_error']}, next at {_japan(r['next_attempt_at'])}")
        for r in st["failed_records"]:
            click.echo(f"  FAILED {r['application_id']} ({r['idempotency_key']}): {r['last_error']}"
                       f" after {r['attempts']} attempt(s)")
        if st["failed"]:
            sys.exit(2)
        return

    if config.backend.mode == "pull":
        click.echo("backend.mode is pull: the core system fetches records from /counter/api/v1/records;"
                   " there is nothing to send.")
        return
    refuse_config_seeing_every_town(config)   # its senders open their own connections
    forwarder = forwarding.Forwarder(config)
    target = forwarder.transport.counterparty
    try:
        if once:
            counts = forwarder.run_once()
            click.echo(f"delivered {counts['delivered']}, to retry {counts['retry']},"
                       f" refused {counts['rejected']} ({config.backend.mode} → {target})")
            return
        stop = threading.Event()

        def on_signal(*_):
            stop.set()
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        click.echo(f"forwarding ({config.backend.mode} → {target}); Ctrl-C stops", err=True)

        def report(counts):
            click.echo(f"delivered {counts['delivered']}, to retry {counts['retry']}, refused {counts['rejected']}",
                       err=True)
        forwarder.run(stop, poll_seconds=interval, on_pass=report)
    finally:
        forwarder.close()


@click.group("exchange-log")
def exchange_log():
    """The exchange log (やりとり履歴): every disclosure or transfer of personal data."""


@exchange_log.command("verify")
@click.option("--anchors", "anchors_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON Lines of exported heads (`exchange-log head --append-to`): also detects a cut tail.")
@pass_state
def verify(state, anchors_file):
    """Check the hash chain. Exit 0 when intact; 1 naming the first bad entry."""
    from core import exchange_log as xlog

    anchors = xlog.read_anchors(anchors_file) if anchors_file else None
    result = xlog.verify(state.db(), anchors=anchors)
    if result.ok:
        suffix = f", {len(anchors)} anchor(s) match" if anchors else ""
        click.echo(f"{result}{suffix}")
        return
    click.echo(str(result), err=True)
    sys.exit(1)


@exchange_log.command("head")
@click.option("--append-to", type=click.Path(dir_okay=False, path_type=Path),
              help="Also append the head as one JSON line to this file (keep it off this machine).")
@pass_state
def head(state, append_to):
    """Print the chain head {seq, entry_hash, at} as an anchor to keep elsewhere."""
    from core import exchange_log as xlog

    anchor = xlog.head(state.db())
    line = json.dumps(anchor, ensure_ascii=False, sort_keys=True)
    click.echo(line)
    if append_to:
        append_to.parent.mkdir(parents=True, exist_ok=True)
        with open(append_to, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())


@exchange_log.command("list")
@click.option("--application", "application_id", help="Only this application's entries.")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True, help="Newest entries to show.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON Lines.")
@pass_state
def list_entries(state, application_id, limit, as_json):
    """Show entries, oldest first (hashes of payloads only: the log holds no personal data)."""
    from core import exchange_log as xlog

    for r in xlog.newest(state.db(), limit, application_id=application_id):
        if as_json:
            click.echo(json.dumps(r, ensure_ascii=False, sort_keys=True))
        else:
            click.echo(f"{r['seq']:>6}  {_japan(r['at'])}  {r['actor']:<18} {r['purpose']:<12} "
                       f"{r['counterparty'] or '-':<28} {r['application_id'] or '-':<16}  {r['result']}")
