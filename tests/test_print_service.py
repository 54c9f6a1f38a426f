"""core.services.printing: one print of an application, its record or its error, nothing half-way."""
from __future__ import annotations

import sqlite3

import pytest

from core import exchange_log as xlog
from core.application import Application, Source, State
from core.errors import TransitionError
from core.keys import subject_key
from core.services.printing import (
    PrintedNotRecorded,
    has_unrecorded_print,
    print_application,
    record_unrecorded_print,
)
from core.store.applications import ApplicationStore, ConcurrentUpdate
from hardware.printer import PrinterError, PrintResult, open_printer
from tests.fixtures_counter import MOVE_IN, kiosk_application

PDF = b"%PDF-1.4 the forms"


class Printer:
    """A queue that answers as told and remembers the titles it was sent."""

    def __init__(self, name="front", error: PrinterError | None = None):
        self.name, self.error, self.titles = name, error, []

    def print_pdf(self, pdf: bytes, title: str) -> PrintResult:
        self.titles.append(title)
        if self.error is not None:
            raise self.error
        return PrintResult(job_id=41, queue=self.name)


def prints(db, app_id):
    return [e for e in xlog.entries(db, application_id=app_id) if e["purpose"] == "print"]


def test_a_first_print_makes_the_application_printed_and_logs_the_disclosure(db, config):
    app = kiosk_application(db, state=State.SUBMITTED)
    before = len(prints(db, app.id))
    result = print_application(db, config, app, actor="clerk:sato", printer=open_printer(config), pdf=PDF)
    [pdf] = config.path(config.devices.pdf_folder).glob("*.pdf")
    assert pdf.read_bytes() == PDF and result.queue == "pdf-folder" and str(result.job_id) == pdf.stem
    stored = ApplicationStore(db).get(app.id)
    assert stored.state is State.PRINTED and stored.version == app.version
    [note] = [e for e in ApplicationStore(db).events(app.id) if e.kind == "printed"]
    assert (note.actor, note.new, note.reason) == ("clerk:sato", {"queue": "pdf-folder", "job_id": pdf.stem}, None)
    [entry] = prints(db, app.id)[before:]
    assert (entry["actor"], entry["counterparty"], entry["result"]) == ("clerk:sato", "printer:pdf-folder", "ok")
    assert entry["payload_sha256"] == xlog.payload_digest(PDF)
    assert entry["subject_ref"] == xlog.subject_ref(subject_key(config), MOVE_IN["name"], MOVE_IN["birth_date"])
    assert xlog.verify(db).ok


def test_the_job_title_names_the_application_never_the_person(db, config):
    app = kiosk_application(db, state=State.SUBMITTED)
    printer = Printer()
    print_application(db, config, app, actor="clerk:sato", printer=printer, pdf=PDF)
    assert printer.titles == [f"madoguchi {app.id}"]


def test_a_reprint_is_a_note_and_the_state_stays(db, config):
    app = kiosk_application(db, state=State.PRINTED)
    print_application(db, config, app, actor="clerk:sato", printer=Printer("back"), pdf=PDF)
    stored = ApplicationStore(db).get(app.id)
    assert stored.state is State.PRINTED
    assert [e.new for e in ApplicationStore(db).events(app.id) if e.kind == "state"] == ["submitted", "printed"]
    reprint = [e for e in ApplicationStore(db).events(app.id) if e.kind == "printed"][-1]
    assert (reprint.reason, reprint.new) == ("reprint", {"queue": "back", "job_id": "41"})
    assert prints(db, app.id)[-1]["counterparty"] == "printer:back"


@pytest.mark.parametrize("error", [
    PrinterError("cupsd is not running", "offline", queue="front"),
    PrinterError("paused", "paused", queue="front"),
    PrinterError("no such queue", "no_queue", queue="front"),
    PrinterError("out of paper before the job", "out_of_paper", queue="front"),   # refused before queueing
])
def test_a_failure_before_anything_was_queued_logs_nothing_and_changes_nothing(db, config, error):
    app = kiosk_application(db, state=State.SUBMITTED)
    entries, version = len(list(xlog.entries(db))), app.version
    with pytest.raises(PrinterError) as raised:
        print_application(db, config, app, actor="clerk:sato", printer=Printer(error=error), pdf=PDF)
    assert raised.value.code == error.code
    assert len(list(xlog.entries(db))) == entries
    assert ApplicationStore(db).get(app.id).state is State.SUBMITTED and app.state is State.SUBMITTED
    assert app.version == version and not app.pending_events


def test_an_unwritable_pdf_folder_is_offline_and_logs_nothing(db, config):
    folder = config.path(config.devices.pdf_folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("not a folder")
    app = kiosk_application(db, state=State.SUBMITTED)
    before = len(prints(db, app.id))
    with pytest.raises(PrinterError, match="PDF folder") as raised:
        print_application(db, config, app, actor="clerk:sato", printer=open_printer(config), pdf=PDF)
    assert raised.value.code == "offline" and len(prints(db, app.id)) == before


@pytest.mark.parametrize("code", ["out_of_paper", "offline", "timeout", "aborted", "stopped"])
def test_a_job_that_reached_the_queue_and_failed_logs_its_error_and_changes_nothing(db, config, code):
    app = kiosk_application(db, state=State.SUBMITTED)
    before = len(prints(db, app.id))
    error = PrinterError("job 7 cancelled", code, queue="front", job_id=7)
    with pytest.raises(PrinterError) as raised:
        print_application(db, config, app, actor="kiosk:kiosk-1", printer=Printer(error=error), pdf=PDF)
    assert raised.value is error
    [entry] = prints(db, app.id)[before:]
    assert (entry["actor"], entry["counterparty"], entry["result"]) == ("kiosk:kiosk-1", "printer:front",
                                                                        f"error:{code}")
    assert entry["payload_sha256"] == xlog.payload_digest(PDF) and entry["subject_ref"]
    stored = ApplicationStore(db).get(app.id)
    assert stored.state is State.SUBMITTED and stored.version == app.version
    assert not [e for e in ApplicationStore(db).events(app.id) if e.kind == "printed"]


def test_a_change_by_someone_else_during_the_print_keeps_theirs_and_logs_the_print(db, config):
    app = kiosk_application(db, state=State.SUBMITTED)
    other = ApplicationStore(db).get(app.id)
    other.set_field("phone", "0312345679", Source.CLERK, "clerk:suzuki", reason="resident")
    ApplicationStore(db).save(other)
    before = len(prints(db, app.id))
    with pytest.raises(ConcurrentUpdate):
        print_application(db, config, app, actor="clerk:sato", printer=Printer(), pdf=PDF)
    stored = ApplicationStore(db).get(app.id)
    assert stored.state is State.SUBMITTED and stored.data["phone"] == "0312345679"
    assert not [e for e in ApplicationStore(db).events(app.id) if e.kind == "printed"]
    # The paper came out: the disclosure is in the log, the stale copy in memory is as it was.
    [entry] = prints(db, app.id)[before:]
    assert entry["result"] == "ok" and entry["counterparty"] == "printer:front"
    assert app.state is State.SUBMITTED and app.version == other.version - 1 and not app.pending_events


def test_a_failure_while_recording_records_nothing_half_way_and_never_prints_twice(db, config, caplog):
    app = kiosk_application(db, state=State.SUBMITTED)
    entries, version = len(list(xlog.entries(db))), app.version

    def upload_fails(db, entry):
        raise RuntimeError("disk full")
    printer = Printer()
    with pytest.raises(PrintedNotRecorded) as raised:
        print_application(db, config, app, actor="kiosk:kiosk-1", printer=printer, pdf=PDF, logged=upload_fails)
    assert raised.value.code == "printed_not_recorded" and raised.value.retryable is False
    assert len(printer.titles) == 1 and has_unrecorded_print(app.id)
    assert len(list(xlog.entries(db))) == entries
    assert ApplicationStore(db).get(app.id).state is State.SUBMITTED
    assert app.state is State.SUBMITTED and app.version == version and not app.pending_events
    [record] = [r for r in caplog.records if r.name == "madoguchi.printing"]
    assert record.levelname == "ERROR" and app.id in record.getMessage() and "RuntimeError" in record.getMessage()
    assert MOVE_IN["name"].split("\u3000")[0] not in caplog.text and MOVE_IN["birth_date"] not in caplog.text
    # While recording still fails, another attempt sends nothing and says the same.
    with pytest.raises(PrintedNotRecorded):
        print_application(db, config, app, actor="kiosk:kiosk-1", printer=printer, pdf=PDF, logged=upload_fails)
    assert len(printer.titles) == 1
    # Once it can be recorded, the next attempt records the print that came out: no second copy.
    again = Printer()
    result = print_application(db, config, app, actor="clerk:sato", printer=again, pdf=PDF)
    assert again.titles == [] and (result.queue, result.job_id) == ("front", 41)
    stored = ApplicationStore(db).get(app.id)
    assert stored.state is State.PRINTED and not has_unrecorded_print(app.id)
    [note] = [e for e in ApplicationStore(db).events(app.id) if e.kind == "printed"]
    assert (note.actor, note.new) == ("kiosk:kiosk-1", {"queue": "front", "job_id": "41"})
    [entry] = prints(db, app.id)
    assert (entry["actor"], entry["counterparty"], entry["result"]) == ("kiosk:kiosk-1", "printer:front", "ok")
    # After that, printing again is an ordinary reprint.
    print_application(db, config, stored, actor="clerk:sato", printer=again, pdf=PDF)
    assert len(again.titles) == 1 and len(prints(db, app.id)) == 2


def test_an_unrecorded_print_is_recorded_when_the_application_is_opened(db, config):
    app = kiosk_application(db, state=State.SUBMITTED)

    def locked(db, entry):
        raise sqlite3.OperationalError("database is locked")
    with pytest.raises(PrintedNotRecorded):
        print_application(db, config, app, actor="kiosk:kiosk-1", printer=Printer(), pdf=PDF, logged=locked)
    assert record_unrecorded_print(db, config, Application.create(["juminhyo"], {}, Source.TYPED, actor="x",
                                                                   channel="counter")) is None
    fresh = ApplicationStore(db).get(app.id)
    assert record_unrecorded_print(db, config, fresh) is not None
    assert ApplicationStore(db).get(app.id).state is State.PRINTED and not has_unrecorded_print(app.id)
    assert record_unrecorded_print(db, config, fresh) is None


def test_on_a_kiosk_pc_the_application_changes_in_memory_and_the_entry_is_handed_over(db, config):
    app = Application.create(["juminhyo"], {"name": "山田\u3000太郎", "birth_date": "1980-05-17"}, Source.CARD,
                             actor="kiosk:kiosk-7", channel="kiosk")
    app.transition(State.SUBMITTED, "kiosk:kiosk-7")
    seen = []

    def logged(conn, entry):
        assert conn.conn.in_transaction
        seen.append((entry["result"], app.state))
    print_application(db, config, app, actor="kiosk:kiosk-7", printer=Printer(), pdf=PDF, save=False, logged=logged)
    assert seen == [("ok", State.PRINTED)]
    assert ApplicationStore(db).find(app.id) is None
    assert [e.kind for e in app.pending_events][-2:] == ["state", "printed"]
    assert [e["counterparty"] for e in prints(db, app.id)] == ["printer:front"]


@pytest.mark.parametrize("state", [State.DRAFT, State.REJECTED])
def test_a_draft_or_closed_application_is_not_sent_to_the_printer(db, config, state):
    app = kiosk_application(db, state=State.SUBMITTED)
    if state is State.REJECTED:
        app.transition(State.REJECTED, "clerk:sato", reason="duplicate")
    else:
        app = Application.create(["juminhyo"], {"name": "x"}, Source.TYPED, actor="clerk:sato", channel="counter")
    printer = Printer()
    with pytest.raises(TransitionError) as raised:
        print_application(db, config, app, actor="clerk:sato", printer=printer, pdf=PDF)
    assert raised.value.code == "not_printable" and printer.titles == []
