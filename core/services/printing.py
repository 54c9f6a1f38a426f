"""Printing an application's forms: send the job, then record it, or record that it failed.

    print_application(db, config, app, actor=, printer=, pdf=) -> the printer's PrintResult

The printer is any object with `name` and `print_pdf(pdf, title)` (hardware.printer's contract);
the caller renders the PDF. On success one transaction holds the state change (submitted →
printed) or the reprint note, the job's queue and id, and the exchange-log entry (purpose
`print`, counterparty `printer:<queue>`, payload the PDF). On failure the coded error is
re-raised after an `error:<code>` entry, written only when the job may have reached the print
service; the application is left as it was, in the database and in memory.

When the paper came out but recording it failed (a locked or full database, the kiosk's
upload queue), `PrintedNotRecorded` (code `printed_not_recorded`, not retryable) is raised and
the print is remembered in this process: the next `print_application` of that application
sends nothing to the printer and records the earlier print instead (or raises the same error
again while the database still fails); `record_unrecorded_print` does the same when a surface
opens the application. A second copy is never printed for it without a clerk asking again
after the print is recorded.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import sqlite_utils

from core import exchange_log as xlog
from core import metrics
from core.application import Application, State
from core.errors import MadoguchiError, TransitionError
from core.store.applications import ApplicationStore, ConcurrentUpdate
from core.store.db import write

PRINTABLE_STATES = (State.SUBMITTED, State.PRINTED, State.CONFIRMED, State.FORWARDED)
# Codes a printer raises before anything is queued (cupsd unreachable, no such queue, a queue
# paused or refusing jobs). Only consulted when the error does not say whether a job was made.
NOTHING_SENT = ("offline", "no_queue", "paused")

Logged = Callable[[sqlite_utils.Database, dict[str, Any]], None]

log = logging.getLogger("madoguchi.printing")


class PrintedJob(Protocol):
    @property
    def job_id(self) -> int | str: ...

    @property
    def queue(self) -> str: ...


class Printer(Protocol):
    name: str

    def print_pdf(self, pdf: bytes, title: str) -> Any: ...


class PrintedNotRecorded(MadoguchiError):
    """The forms came out of the printer, but the print could not be recorded. Printing again
    would make a second copy, so surfaces offer no retry: the visitor or clerk asks staff."""

    code = "printed_not_recorded"
    retryable = False


@dataclass(frozen=True)
class _UnrecordedPrint:
    result: PrintedJob
    actor: str
    pdf: bytes


# Prints whose paper came out and whose record failed, by application id (see the docstring).
_unrecorded: dict[str, _UnrecordedPrint] = {}
_unrecorded_lock = threading.Lock()


def has_unrecorded_print(app_id: str) -> bool:
    """Whether `app_id`'s forms came out of a printer here without the print being recorded."""
    with _unrecorded_lock:
        return app_id in _unrecorded


def job_title(app: Application) -> str:
    """The title CUPS shows in its job list: an id, never a name."""
    return f"madoguchi {app.id}"


def reached_print_service(error: MadoguchiError) -> bool:
    """Whether the form's data may have left for the printer before `error`.

    hardware.printer's errors carry the job id in their details once a job exists (and only
    then), so that is asked first; an error without it is judged by its code.
    """
    if "job_id" in error.details:
        return error.details["job_id"] is not None
    return error.code not in NOTHING_SENT


def print_application(db: sqlite_utils.Database, config, app: Application, *, actor: str, printer: Printer,
                      pdf: bytes, save: bool = True, logged: Logged | None = None) -> PrintedJob:
    """Print `pdf` (every form of `app`) on `printer` and record it as `actor`.

    `save=False` on a kiosk PC, whose applications live at the office: the application changes
    in memory only (the caller uploads it), the exchange-log entry is still written here.
    `logged(db, entry)` runs inside the transaction of each exchange-log entry written (the
    print's or its error's): the kiosk keeps the entries of a visit and queues its upload there.
    Raises TransitionError (`not_printable`) before sending anything for a draft or a closed
    application, the printer's coded error when the print failed, ConcurrentUpdate when someone
    else changed the application while it printed (the print is logged, the state is theirs),
    PrintedNotRecorded when the paper came out (now or at an earlier call) and the print could not
    be recorded.
    """
    if app.state not in PRINTABLE_STATES:
        raise TransitionError(f"an application in state {app.state} is not printed", code="not_printable")
    earlier = record_unrecorded_print(db, config, app, save=save, logged=logged)
    if earlier is not None:
        return earlier  # the paper of that print is out: nothing is sent again
    try:
        result = printer.print_pdf(pdf, job_title(app))
    except MadoguchiError as e:
        metrics.count_print(e.code)
        if reached_print_service(e):
            _log(db, config, app, actor, f"printer:{e.details.get('queue') or printer.name}", pdf,
                 f"error:{e.code}", logged)
        raise
    metrics.count_print("ok")
    _record(db, config, app, _UnrecordedPrint(result, actor, pdf), printer.name, save=save, logged=logged)
    return result


LOG_JOB_TITLE = "madoguchi exchange log"


def print_log(db: sqlite_utils.Database, config, *, actor: str, printer: Printer, pdf: bytes,
              person: xlog.Person, logged: Callable[[dict[str, Any]], None] | None = None) -> PrintedJob:
    """Print a person's own exchange log for them (`pdf`: printing.log_pdf) and log handing it over
    (purpose `log_print`, counterparty `printer:<queue>`, about `person`). A failed job is logged
    `error:<code>` when it may have reached the print service, as a form's is, and re-raised.
    `logged(entry)` hears the entry written (a kiosk PC re-tells it to the office)."""
    try:
        result = printer.print_pdf(pdf, LOG_JOB_TITLE)
    except MadoguchiError as e:
        if reached_print_service(e):
            queue = e.details.get("queue") or printer.name
            entry = xlog.append(db, config, actor=actor, counterparty=f"printer:{queue}", purpose="log_print",
                                application_id=None, payload=pdf, result=f"error:{e.code}", person=person)
            if logged is not None:
                logged(entry)
        raise
    entry = xlog.append(db, config, actor=actor, counterparty=f"printer:{result.queue or printer.name}",
                        purpose="log_print", application_id=None, payload=pdf, person=person)
    if logged is not None:
        logged(entry)
    return result


def record_unrecorded_print(db: sqlite_utils.Database, config, app: Application, *, save: bool = True,
                            logged: Logged | None = None) -> PrintedJob | None:
    """Record a print of `app` that came out earlier without its record (None if there is none).

    Raises PrintedNotRecorded while recording still fails, ConcurrentUpdate as print_application.
    """
    with _unrecorded_lock:
        earlier = _unrecorded.get(app.id)
    if earlier is None:
        return None
    _record(db, config, app, earlier, earlier.result.queue, save=save, logged=logged)
    return earlier.result


def _record(db: sqlite_utils.Database, config, app: Application, printed: _UnrecordedPrint, printer_name: str,
            *, save: bool, logged: Logged | None) -> None:
    """In one transaction: the state change or reprint note, the job, the exchange-log entry."""
    result, actor, pdf = printed.result, printed.actor, printed.pdf
    counterparty = f"printer:{result.queue or printer_name}"
    before = (app.state, app.updated_at, app.version, list(app.pending_events))
    try:
        with write(db):
            # Which job printed it (no personal data: the queue and its job number).
            job = {"queue": result.queue, "job_id": str(result.job_id)}
            if app.state is State.SUBMITTED:
                app.transition(State.PRINTED, actor)
                app.note(actor, "printed", new=job)
            else:
                app.note(actor, "printed", new=job, reason="reprint")
            if save:
                ApplicationStore(db).save(app)
            _log(db, config, app, actor, counterparty, pdf, "ok", logged)
    except BaseException as e:
        app.state, app.updated_at, app.version, app.pending_events[:] = before
        if isinstance(e, ConcurrentUpdate):
            # The form came out all the same: that disclosure is logged; the record stays as the
            # other writer left it (a print noted after their change would hide it).
            _log(db, config, app, actor, counterparty, pdf, "ok", logged)
            _forget(app.id)
            raise
        if not isinstance(e, Exception):
            raise
        with _unrecorded_lock:
            _unrecorded[app.id] = printed
        # No personal data: the application's id, the queue and job, the kind of failure.
        log.error("application %s printed (%s job %s) but the print could not be recorded: %s",
                  app.id, counterparty, result.job_id, type(e).__name__)
        raise PrintedNotRecorded("the forms were printed but the print could not be recorded",
                                 app_id=app.id, queue=result.queue, job_id=str(result.job_id)) from e
    _forget(app.id)


def _forget(app_id: str) -> None:
    with _unrecorded_lock:
        _unrecorded.pop(app_id, None)


def _log(db: sqlite_utils.Database, config, app: Application, actor: str, counterparty: str, pdf: bytes,
         result: str, logged: Logged | None) -> None:
    with write(db):
        entry = xlog.append(db, config, actor=actor, counterparty=counterparty, purpose="print",
                            application_id=app.id, payload=pdf, result=result, person=xlog.Person.of(app.data),
                            fields=sorted(app.data))
        if logged is not None:
            logged(db, entry)
