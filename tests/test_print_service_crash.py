"""cupsd dies in the middle of a job, at the kiosk and at the counter: the visitor and the clerk
are told the printer is not responding, nothing is lost, and once cupsd is back a reprint
prints the form once (cupsd resumes the job it had: the reprint follows it)."""
from __future__ import annotations

import threading
import time

import pytest

from core import exchange_log as xlog
from core.application import State
from core.config import load_config
from core.store.applications import ApplicationStore
from core.store.db import open_from_config
from tests.fixtures_counter import kiosk_application, post, text_of
from tests.helpers import ROOT
from tests.kiosk_helpers import Kiosk

pytestmark = pytest.mark.cups


@pytest.fixture
def config(tmp_path, private_cupsd, overrides):
    """The test's settings, printing on the private cupsd's slow queue."""
    values = overrides(devices={"printer": "rec", "cups_server": private_cupsd.socket, "emulator_persona": ""})
    return load_config(ROOT / "config.toml", overrides=values, base_dir=tmp_path)


def crash_cupsd_once_the_job_prints(server) -> None:
    import cups
    conn = cups.Connection(host=server.socket)
    deadline = time.monotonic() + 20
    while not any(conn.getJobAttributes(j)["job-state"] == 5 for j in conn.getJobs(which_jobs="not-completed")):
        assert time.monotonic() < deadline, "no job reached the printer"
        time.sleep(0.05)
    server.crash()


def printed_files(server, settle: float = 4.0) -> list[bytes]:
    time.sleep(settle)          # a second copy would have come out by now (the printer takes 3 s)
    return [p.read_bytes() for p in server.out.iterdir()]


def test_the_kiosk_says_the_printer_is_not_responding_and_a_retry_prints_once(config, private_cupsd, emulated_cards):
    from web import create_app
    app = create_app(config, "kiosk")
    app.config["TESTING"] = True
    kiosk = Kiosk(app)
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("certificates", ["juminhyo"])
    kiosk.answer_all()
    waiting = threading.Thread(target=kiosk.print_and_wait)
    waiting.start()
    crash_cupsd_once_the_job_prints(private_cupsd)
    waiting.join(timeout=30)
    visit = kiosk.visit()
    assert visit.print.state == "failed", (visit.print.state, visit.print.error)
    assert "The printer is not responding" in kiosk.text and "Try again" in kiosk.text, visit.print.error
    assert visit.print.state == "failed" and visit.pdf and visit.reception_number == "A-001"
    db = open_from_config(config)
    assert ApplicationStore(db).get(visit.application_id).state is State.SUBMITTED

    private_cupsd.start()
    kiosk.print_and_wait()
    assert "Your forms are printed" in kiosk.text and "A-001" in kiosk.text
    stored = ApplicationStore(db).get(visit.application_id)
    assert stored.state is State.PRINTED
    assert len(printed_files(private_cupsd)) == 1
    prints = [e for e in xlog.entries(db, application_id=stored.id) if e["purpose"] == "print"]
    # the job had reached the queue when cupsd died: that attempt is logged too, as at the counter
    assert [(e["counterparty"], e["result"]) for e in prints] == [("printer:rec", "error:offline"),
                                                                  ("printer:rec", "ok")]


def test_the_counter_says_the_printer_is_not_responding_and_a_reprint_prints_once(clerk_client, db, private_cupsd):
    application = kiosk_application(db, state=State.SUBMITTED)
    answers = {}

    def press_print():
        answers["page"] = post(clerk_client, f"/counter/applications/{application.id}/print?lang=en",
                               {"version": application.version}, follow_redirects=True)
    pressing = threading.Thread(target=press_print)
    pressing.start()
    crash_cupsd_once_the_job_prints(private_cupsd)
    pressing.join(timeout=30)
    assert "The printer is not responding" in text_of(answers["page"])
    assert ApplicationStore(db).get(application.id).state is State.SUBMITTED

    private_cupsd.start()
    page = post(clerk_client, f"/counter/applications/{application.id}/print?lang=en",
                {"version": application.version}, follow_redirects=True)
    assert "The form has been sent to the printer." in text_of(page)
    assert ApplicationStore(db).get(application.id).state is State.PRINTED
    assert len(printed_files(private_cupsd)) == 1
    prints = [e for e in xlog.entries(db, application_id=application.id)
              if e["purpose"] == "print" and e["actor"] == "clerk:sato"]
    assert [(e["counterparty"], e["result"]) for e in prints] == [("printer:rec", "error:offline"),
                                                                  ("printer:rec", "ok")]
