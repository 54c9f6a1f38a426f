"""The clerk screens through Flask's test client: sign-in, queue, open by code, detail, corrections,
print, confirm, reject, and what each leaves in the audit trail and the exchange log."""
import json
from datetime import timedelta

import pytest

from core import exchange_log as xlog
from core import sealed
from core.application import State, form_code, utcnow
from core.store.applications import ApplicationStore
from tests.fixtures_counter import CERTIFICATE, CHECKED_ID, PASSWORD, kiosk_application, post, sign_in, text_of

pytestmark = pytest.mark.engines   # these run on PostgreSQL too (tests/fixtures_postgres.py)

LICENCE = {"address": "東京都千代田区千代田１－１", "address_at_issue": "東京都港区芝公園４－２－８"}


# --- signing in ---------------------------------------------------------------------------

def test_every_counter_page_needs_a_signed_in_clerk(client, db, clerks):
    app = kiosk_application(db)
    front = client.get("/counter/")
    assert front.status_code == 200 and 'type="password"' in front.get_data(as_text=True)
    for url in (f"/counter/applications/{app.id}", "/counter/exchange-log", "/counter/figures", "/counter/users"):
        r = client.get(url)
        assert r.status_code == 302 and "/counter/sign-in" in r.headers["Location"], url
    r = post(client, "/counter/open", {"code": form_code(app.id)})
    assert r.status_code == 302 and "/counter/sign-in" in r.headers["Location"]
    assert not list(xlog.entries(db, application_id=app.id)) or all(
        e["purpose"] != "clerk_view" for e in xlog.entries(db, application_id=app.id))


def test_sign_in_goes_back_to_the_page_asked_for_but_never_off_site(client, clerks, db):
    app = kiosk_application(db)
    r = client.get(f"/counter/applications/{app.id}")
    nxt = r.headers["Location"].split("next=")[1]
    r = post(client, "/counter/sign-in", {"username": "sato", "password": PASSWORD,
                                          "next": f"/counter/applications/{app.id}"})
    assert r.headers["Location"].endswith(f"/counter/applications/{app.id}") and nxt
    client.post("/counter/sign-out")
    r = post(client, "/counter/sign-in", {"username": "sato", "password": PASSWORD, "next": "//evil.example/"})
    assert r.headers["Location"] == "/counter/"


def test_empty_sign_in_shows_an_error_summary_linking_to_the_fields(client, clerks):
    r = post(client, "/counter/sign-in", {"username": "", "password": ""})
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert 'href="#username"' in html and 'href="#password"' in html
    assert "<title>Error:" in html or "<title>エラー" in html or "Error:" in html


def test_sign_out_ends_the_session_on_the_server(app, clerks):
    client = sign_in(app.test_client())
    cookie = client.get_cookie("session").value
    assert client.get("/counter/").status_code == 200 and "Sign out" in text_of(client.get("/counter/?lang=en"))
    post(client, "/counter/sign-out")
    # The old cookie, replayed, no longer signs anyone in.
    replay = app.test_client()
    replay.set_cookie("session", cookie)
    r = replay.get("/counter/exchange-log")
    assert r.status_code == 302 and "/counter/sign-in" in r.headers["Location"]


def test_an_expired_session_asks_to_sign_in_again(clerk_client, db):
    db.execute("UPDATE clerk_sessions SET expires_at = ?", [(utcnow() - timedelta(minutes=1)).isoformat()])
    r = clerk_client.get("/counter/exchange-log?lang=en")
    assert r.status_code == 302
    page = clerk_client.get(r.headers["Location"])
    assert "Your session has ended. Please sign in again." in text_of(page)


def test_disabling_an_account_signs_it_out(clerk_client, db):
    from core import users
    users.set_disabled(db, "sato", True)
    assert clerk_client.get("/counter/exchange-log").status_code == 302


@pytest.mark.parametrize("who, figures, accounts", [("sato", 403, 403), ("suzuki", 200, 403), ("tanaka", 200, 200)])
def test_roles(app, clerks, who, figures, accounts):
    client = sign_in(app.test_client(), who)
    assert client.get("/counter/figures").status_code == figures
    assert client.get("/counter/users").status_code == accounts
    menu = text_of(client.get("/counter/?lang=en"))
    assert ("Figures" in menu) == (figures == 200) and ("Accounts" in menu) == (accounts == 200)


# --- the queue and opening by code ------------------------------------------------------------

def test_queue_shows_number_state_procedures_and_waiting_time_without_personal_data(clerk_client, db):
    waiting = kiosk_application(db, reception="7")
    done = kiosk_application(db, CERTIFICATE, reception="3")
    arrived = (utcnow() - timedelta(minutes=42)).isoformat()
    db.execute("UPDATE application_events SET at = ? WHERE application_id = ?", [arrived, waiting.id])
    db.execute("UPDATE applications SET created_at = ? WHERE id = ?", [arrived, waiting.id])
    r = clerk_client.get("/counter/?lang=en")
    page = text_of(r)
    assert "7" in page and "Printed, waiting" in page
    assert "Notification of Change of Residence" in page
    assert "waiting 42 min" in page
    assert "山田" not in r.get_data(as_text=True)  # the queue names no one
    html = r.get_data(as_text=True)
    assert html.index(waiting.id) < html.index(done.id)  # longest waiting first
    # Filters: by procedure, by reception number, by state.
    assert waiting.id not in clerk_client.get("/counter/?procedure=juminhyo").get_data(as_text=True)
    only = clerk_client.get("/counter/?number=3").get_data(as_text=True)
    assert done.id in only and waiting.id not in only
    assert waiting.id not in clerk_client.get("/counter/?state=confirmed").get_data(as_text=True)
    # The queue is not a disclosure; it logs nothing.
    assert not [e for e in xlog.entries(db) if e["purpose"] == "clerk_view"]


@pytest.mark.parametrize("typed", [
    "MDGF1:{id}",                      # as printed
    "mdgf1:{lower}",                   # caps lock / lower-case scanner
    "ＭＤＧＦ１：{id}",                  # through a Japanese IME: full width
    "MDGF1+{id}",                      # US-layout scanner on a JIS keyboard: ':' arrives as '+'
    "  MDGF1:{id}\r\n",                # stray whitespace and CR
    "{id}",                            # the application number typed by hand
])
def test_open_by_scanned_or_typed_code(clerk_client, db, typed):
    app = kiosk_application(db)
    code = typed.format(id=app.id, lower=app.id.lower())
    r = post(clerk_client, "/counter/open", {"code": code})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/counter/applications/{app.id}")


def test_unknown_or_unreadable_codes_explain_themselves(clerk_client, db):
    r = post(clerk_client, "/counter/open?lang=en", {"code": "MDGF1:0000000000000000"})
    assert r.status_code == 404 and "No application has the code 0000000000000000" in text_of(r)
    r = post(clerk_client, "/counter/open?lang=en", {"code": "hello"})
    assert r.status_code == 400 and "This is not a form code" in text_of(r)
    assert 'href="#code"' in r.get_data(as_text=True)


def test_an_unreadable_pre_registration_code_is_refused_and_adds_nothing(clerk_client, db):
    token = "PR1:" + "A" * 60
    r = post(clerk_client, "/counter/open?lang=en", {"code": token})
    assert r.status_code == 400 and "This pre-registration code cannot be read" in text_of(r)
    assert ApplicationStore(db).count() == 0


# --- the detail page ----------------------------------------------------------------------------

def test_viewing_an_application_is_logged_as_clerk_view(clerk_client, db, config):
    app = kiosk_application(db)
    r = clerk_client.get(f"/counter/applications/{app.id}?lang=en")
    assert r.status_code == 200
    views = [e for e in xlog.entries(db, application_id=app.id) if e["purpose"] == "clerk_view"]
    assert len(views) == 1
    entry = views[0]
    assert entry["actor"] == "clerk:sato" and entry["counterparty"] == "madoguchi"
    assert entry["payload_sha256"] == xlog.payload_digest(app.data)
    from core.keys import subject_key
    assert entry["subject_ref"] == xlog.subject_ref(subject_key(config), "山田\u3000太郎", "1985-04-01")
    assert xlog.verify(db).ok


def test_detail_shows_each_value_with_its_source(clerk_client, db):
    app = kiosk_application(db, reception="12")
    page = text_of(clerk_client.get(f"/counter/applications/{app.id}?lang=en"))
    assert "Reception no. 12" in page
    assert "Full name ※ 山田\u3000太郎 My Number card" in page
    assert "Postal code ※ 100-0001 Typed at the kiosk" in page
    assert "1985-04-01（昭和60年4月1日）" in page
    assert "山田\u3000花子" in page and "Spouse (husband or wife)" in page


def test_licence_address_at_issue_and_current_are_shown_side_by_side(clerk_client, db):
    app = kiosk_application(db, licence=LICENCE)
    page = text_of(clerk_client.get(f"/counter/applications/{app.id}?lang=en"))
    assert "The licence records a change of address" in page
    assert "Address when the licence was issued 東京都港区芝公園４－２－８" in page
    assert "Current address on the licence (after the recorded change) 東京都千代田区千代田１－１" in page
    assert "Full name ※ 山田\u3000太郎 Driver's licence" in page


def test_detail_of_a_missing_application_is_404(clerk_client):
    assert clerk_client.get("/counter/applications/0000000000000000").status_code == 404
    assert clerk_client.get("/counter/applications/../../etc").status_code == 404


# --- corrections ---------------------------------------------------------------------------------

def test_a_correction_needs_a_reason_and_a_valid_value(clerk_client, db):
    app = kiosk_application(db)
    url = f"/counter/applications/{app.id}/fields/postal_code?lang=en"
    r = post(clerk_client, url, {"value": "1000002", "reason": "", "version": app.version})
    assert r.status_code == 400 and "Enter the reason for the correction" in text_of(r)
    r = post(clerk_client, url, {"value": "12-34", "reason": "typo", "version": app.version})
    assert r.status_code == 400 and "Enter postal code as 7 digits, like 100-0001" in text_of(r)
    r = post(clerk_client, url, {"value": "1000001", "reason": "typo", "version": app.version})
    assert r.status_code == 400 and "Postal code is the same as before. Enter the new value" in text_of(r)
    assert ApplicationStore(db).get(app.id).version == app.version  # nothing saved


def test_a_correction_is_kept_as_an_event_and_shown_against_the_printed_form(clerk_client, db):
    app = kiosk_application(db)
    r = post(clerk_client, f"/counter/applications/{app.id}/fields/postal_code",
             {"value": "１００－０００２", "reason": "Pointed out by the resident", "version": app.version})
    assert r.status_code == 302
    stored = ApplicationStore(db).get(app.id)
    assert stored.data["postal_code"] == "1000002" and stored.sources["postal_code"] == "clerk"
    ev = ApplicationStore(db).events(app.id)[-1]
    assert (ev.kind, ev.actor, ev.field, ev.old, ev.new, ev.reason) == (
        "field", "clerk:sato", "postal_code", "1000001", "1000002", "Pointed out by the resident")
    html = clerk_client.get(f"/counter/applications/{app.id}?lang=en").get_data(as_text=True)
    row = html[html.index('id="field-postal_code"'):]
    row = row[:row.index("</tr>")]
    assert 'class="changed' in row and "Changed since print" in row and "100-0001" in row and "100-0002" in row
    page = text_of(clerk_client.get(f"/counter/applications/{app.id}?lang=en"))
    assert "1 value(s) changed after the form was printed" in page
    assert "sato Postal code 1000001 → 1000002 Pointed out by the resident" in page


def test_dates_can_be_corrected_in_the_japanese_calendar(clerk_client, db):
    app = kiosk_application(db)
    r = post(clerk_client, f"/counter/applications/{app.id}/fields/move_date",
             {"value": "令和8年10月31日", "reason": "Checked the moving-out certificate", "version": app.version})
    assert r.status_code == 302
    assert ApplicationStore(db).get(app.id).data["move_date"] == "2026-10-31"


def test_choices_are_corrected_with_their_labels(clerk_client, db):
    app = kiosk_application(db, CERTIFICATE)
    page = clerk_client.get(f"/counter/applications/{app.id}/fields/juminhyo_scope?lang=en")
    assert page.status_code == 200 and 'type="radio"' in page.get_data(as_text=True)
    r = post(clerk_client, f"/counter/applications/{app.id}/fields/juminhyo_scope",
             {"value": "nonsense", "reason": "x", "version": app.version})
    assert r.status_code == 400


def test_a_stale_page_cannot_overwrite_someone_elses_change(clerk_client, db):
    app = kiosk_application(db)
    stale_version = app.version
    post(clerk_client, f"/counter/applications/{app.id}/fields/phone",
         {"value": "0312345679", "reason": "first", "version": stale_version})
    r = post(clerk_client, f"/counter/applications/{app.id}/fields/phone",
             {"value": "0399999999", "reason": "second", "version": stale_version}, follow_redirects=True)
    assert "Someone else changed this application" in text_of(clerk_client.get(
        f"/counter/applications/{app.id}?lang=en")) or "Someone else" in text_of(r) or "他の" in text_of(r)
    assert ApplicationStore(db).get(app.id).data["phone"] == "0312345679"


def test_household_members_can_be_corrected_added_and_taken_off(clerk_client, db):
    app = kiosk_application(db)
    url = f"/counter/applications/{app.id}/household"
    r = post(clerk_client, url, {"member": "0", "name": "山田 花子", "kana": "やまだ はなこ",
                                 "birth_date": "昭和62年9月13日", "sex": "female", "relationship": "spouse",
                                 "reason": "birth date typo", "version": app.version})
    assert r.status_code == 302, text_of(r)
    members = ApplicationStore(db).get(app.id).data["household"]
    assert members == [{"name": "山田\u3000花子", "kana": "ヤマダ\u3000ハナコ", "birth_date": "1987-09-13",
                        "sex": "female", "relationship": "spouse"}]
    v = ApplicationStore(db).get(app.id).version
    r = post(clerk_client, url, {"member": "1", "name": "山田 一郎", "birth_date": "2015-05-05", "sex": "male",
                                 "relationship": "child", "reason": "forgotten at the kiosk", "version": v})
    assert r.status_code == 302
    assert len(ApplicationStore(db).get(app.id).data["household"]) == 2
    v = ApplicationStore(db).get(app.id).version
    r = post(clerk_client, url + "?lang=en", {"member": "1", "name": "", "birth_date": "", "reason": "x", "version": v,
                                              "action": "save"})
    assert r.status_code == 400 and "Enter full name" in text_of(r) and "Enter date of birth" in text_of(r)
    r = post(clerk_client, url, {"member": "0", "action": "remove", "reason": "not moving", "version": v})
    assert r.status_code == 302
    assert [m["name"] for m in ApplicationStore(db).get(app.id).data["household"]] == ["山田\u3000一郎"]


# --- print, confirm, reject ------------------------------------------------------------------------

def test_reprint_sends_the_form_to_the_printer_and_logs_it(clerk_client, db, config):
    app = kiosk_application(db, state=State.SUBMITTED)
    r = post(clerk_client, f"/counter/applications/{app.id}/print", {"version": app.version})
    assert r.status_code == 302
    assert ApplicationStore(db).get(app.id).state is State.PRINTED
    assert list(config.path(config.devices.pdf_folder).glob("*.pdf"))
    prints = [e for e in xlog.entries(db, application_id=app.id) if e["purpose"] == "print"]
    assert prints[-1]["actor"] == "clerk:sato" and prints[-1]["result"] == "ok"
    assert prints[-1]["counterparty"] == "printer:pdf-folder"
    # Which job printed it: the printer's queue and its job id (the file's name for pdf-folder).
    [pdf] = config.path(config.devices.pdf_folder).glob("*.pdf")
    [note] = [e for e in ApplicationStore(db).events(app.id) if e.kind == "printed"]
    assert note.actor == "clerk:sato" and note.new == {"queue": "pdf-folder", "job_id": pdf.stem}


@pytest.mark.parametrize("error", ["missing_glyph", "malformed_value"])
def test_a_form_that_cannot_be_drawn_names_the_field_and_prints_nothing(clerk_client, db, config, monkeypatch, error):
    import printing
    from core.catalogue import get_catalogue
    from printing.errors import MalformedValue, MissingGlyph

    def cannot_draw(json_form, application_id):
        raise MissingGlyph("\U000f0000", "name") if error == "missing_glyph" else MalformedValue("name", "too_long")
    monkeypatch.setattr(printing, "render_application", cannot_draw)
    app = kiosk_application(db, state=State.SUBMITTED)
    r = post(clerk_client, f"/counter/applications/{app.id}/print?lang=en", {"version": app.version},
             follow_redirects=True)
    message = {"missing_glyph": "A character in the form cannot be printed with the form's font.",
               "malformed_value": "A value cannot be placed on the printed form. Correct it first."}[error]
    assert f"{message} ({get_catalogue().field('name').label_in('en')})" in text_of(r)
    assert ApplicationStore(db).get(app.id).state is State.SUBMITTED
    assert not list(config.path(config.devices.pdf_folder).glob("*.pdf"))


def test_an_offline_printer_is_reported_and_nothing_changes(clerk_client, db, config):
    folder = config.path(config.devices.pdf_folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("not a folder")  # the pdf-folder printer cannot write: "offline"
    app = kiosk_application(db, state=State.SUBMITTED)
    r = post(clerk_client, f"/counter/applications/{app.id}/print?lang=en", {"version": app.version},
             follow_redirects=True)
    assert "The printer is not responding. Check that it is on and connected." in text_of(r)
    assert ApplicationStore(db).get(app.id).state is State.SUBMITTED
    assert not [e for e in xlog.entries(db, application_id=app.id) if e["actor"] == "clerk:sato"
                and e["purpose"] == "print"]


def test_a_print_that_came_out_but_was_not_recorded_is_not_printed_again(clerk_client, db, config, monkeypatch):
    import sqlite3
    save = ApplicationStore.save

    def locked(store, app):
        raise sqlite3.OperationalError("database is locked")
    app = kiosk_application(db, state=State.SUBMITTED)
    monkeypatch.setattr(ApplicationStore, "save", locked)
    print_url = f"/counter/applications/{app.id}/print"
    r = post(clerk_client, print_url + "?lang=en", {"version": app.version}, follow_redirects=True)
    assert r.status_code == 200 and "printed_not_recorded" in text_of(r) and "could not be printed" not in text_of(r)
    assert f'action="{print_url}"' not in r.get_data(as_text=True)        # no "print again"
    folder = config.path(config.devices.pdf_folder)
    assert len(list(folder.glob("*.pdf"))) == 1
    post(clerk_client, print_url, {"version": app.version})                # posted anyway
    assert len(list(folder.glob("*.pdf"))) == 1
    assert ApplicationStore(db).get(app.id).state is State.SUBMITTED
    # Once the database takes writes, opening the application records the print that came out.
    monkeypatch.setattr(ApplicationStore, "save", save)
    page = clerk_client.get(f"/counter/applications/{app.id}").get_data(as_text=True)
    assert ApplicationStore(db).get(app.id).state is State.PRINTED and f'action="{print_url}"' in page
    assert len(list(folder.glob("*.pdf"))) == 1
    assert [e["result"] for e in xlog.entries(db, application_id=app.id) if e["purpose"] == "print"] == ["ok"]


@pytest.mark.parametrize("action", ["fields/phone", "confirm", "reject"])
def test_each_clerk_action_loads_the_application_once(clerk_client, db, monkeypatch, action):
    app = kiosk_application(db)
    get, loads = ApplicationStore.get, []

    def counted(store, application_id):
        loads.append(application_id)
        return get(store, application_id)
    monkeypatch.setattr(ApplicationStore, "get", counted)
    r = post(clerk_client, f"/counter/applications/{app.id}/{action}",
             {"version": app.version, "value": "03-1111-2222", "reason": "resident", **CHECKED_ID})
    assert r.status_code == 302 and "/applications/" in r.location and loads == [app.id]
    assert ApplicationStore(db).get(app.id).version == app.version + 1


def test_confirm_after_corrections_needs_the_resident_to_have_checked_them(clerk_client, db):
    app = kiosk_application(db)
    post(clerk_client, f"/counter/applications/{app.id}/fields/phone",
         {"value": "0312345679", "reason": "resident", "version": app.version})
    v = ApplicationStore(db).get(app.id).version
    r = post(clerk_client, f"/counter/applications/{app.id}/confirm?lang=en", {"version": v, **CHECKED_ID})
    assert r.status_code == 400 and "Values were corrected after the form was printed" in text_of(r)
    assert db["outbox"].count == 0
    r = post(clerk_client, f"/counter/applications/{app.id}/confirm", {"version": v, "checked_corrections": "yes",
                                                                  **CHECKED_ID})
    assert r.status_code == 302
    assert ApplicationStore(db).get(app.id).state is State.CONFIRMED
    row = next(db["outbox"].rows)
    assert row["state"] == "pending" and json.loads(row["record"])["confirmed_by"] == "clerk:sato"
    page = text_of(clerk_client.get(f"/counter/applications/{app.id}?lang=en"))
    assert "Confirmed. The record is queued for the core system." in page
    assert "Pending: waiting to be sent" in page
    html = clerk_client.get(f"/counter/applications/{app.id}").get_data(as_text=True)
    assert "/fields/" not in html and "/household" not in html  # closed: no more corrections
    r = post(clerk_client, f"/counter/applications/{app.id}/fields/phone",
             {"value": "0312345670", "reason": "late", "version": ApplicationStore(db).get(app.id).version})
    assert ApplicationStore(db).get(app.id).data["phone"] == "0312345679"


def test_an_incomplete_application_cannot_be_confirmed(clerk_client, db):
    app = kiosk_application(db, CERTIFICATE)
    loaded = ApplicationStore(db).get(app.id)
    loaded.set_field("juminhyo_copies", None, "typed", actor="kiosk:kiosk-1")
    ApplicationStore(db).save(loaded)
    r = post(clerk_client, f"/counter/applications/{app.id}/confirm?lang=en",
             {"version": loaded.version, "checked_corrections": "yes", **CHECKED_ID})
    assert r.status_code == 400 and "Correct the marked values before confirming." in text_of(r)
    assert "Select number of copies" in text_of(r) or "Enter number of copies" in text_of(r)
    assert db["outbox"].count == 0


def test_a_submitted_application_cannot_be_confirmed_before_printing(clerk_client, db):
    app = kiosk_application(db, state=State.SUBMITTED)
    r = post(clerk_client, f"/counter/applications/{app.id}/confirm", {"version": app.version})
    assert r.status_code == 302 and ApplicationStore(db).get(app.id).state is State.SUBMITTED


def test_forwarding_state_is_shown_pending_failing_delivered(clerk_client, db):
    from core.outbox import confirm
    app = kiosk_application(db)
    confirm(db, ApplicationStore(db).get(app.id), actor="clerk:sato")
    url = f"/counter/applications/{app.id}/forwarding?lang=en"
    assert "Pending: waiting to be sent" in text_of(clerk_client.get(url))
    # What the forwarding worker writes when the core system is down, then when it answers.
    db.execute("UPDATE outbox SET attempts = 3, last_error = 'HTTP 503 from core system' WHERE application_id = ?",
               [app.id])
    page = text_of(clerk_client.get(url))
    assert "Failing, will retry (attempt 3)" in page and "HTTP 503 from core system" in page
    db.execute("UPDATE outbox SET state = 'failed', attempts = 4, last_error = 'http_422' WHERE application_id = ?",
               [app.id])
    page = text_of(clerk_client.get(url))
    assert "Not delivered: gave up after 4 attempts" in page and "http_422" in page
    assert "Send again" in page
    r = post(clerk_client, f"/counter/applications/{app.id}/forwarding/retry")
    assert r.status_code == 302
    row = db.execute("SELECT state, attempts, idempotency_key FROM outbox WHERE application_id = ?",
                     [app.id]).fetchone()
    assert row[:2] == ("pending", 0) and row[2].startswith(app.id)
    db.execute("UPDATE outbox SET state = 'failed' WHERE application_id = ?", [app.id])
    db.execute("UPDATE outbox SET state = 'delivered', last_error = NULL, delivered_at = ? WHERE application_id = ?",
               [utcnow().isoformat(), app.id])
    assert "Delivered" in text_of(clerk_client.get(url))
    assert 'data-refresh-url' not in clerk_client.get(url).get_data(as_text=True)  # nothing more to follow


def test_reject_needs_a_reason_and_records_it(clerk_client, db):
    app = kiosk_application(db)
    r = post(clerk_client, f"/counter/applications/{app.id}/reject?lang=en", {"reason": "  ", "version": app.version})
    assert r.status_code == 400 and "Give the reason for rejecting the application." in text_of(r)
    r = post(clerk_client, f"/counter/applications/{app.id}/reject",
             {"reason": "Wrong office: belongs to the tax division", "version": app.version})
    assert r.status_code == 302
    stored = ApplicationStore(db).get(app.id)
    assert stored.state is State.REJECTED
    ev = ApplicationStore(db).events(app.id)[-1]
    assert (ev.kind, ev.new, ev.reason, ev.actor) == ("state", "rejected", "Wrong office: belongs to the tax division",
                                                      "clerk:sato")
    assert db["outbox"].count == 0


def test_reject_offers_things_to_bring_and_a_note_for_the_resident_s_status_page(clerk_client, db, config):
    from core import progress
    app = kiosk_application(db)
    url = f"/counter/applications/{app.id}/reject?lang=ja"
    page = text_of(clerk_client.get(url))
    assert "住民に持ってきてもらうもの" in page and "転出証明書" in page and "在留カード" in page
    r = post(clerk_client, url, {"reason": "転出証明書がない", "bring": ["moving_out_certificate", "unicorn"],
                                 "note": "平日にお越しください", "version": app.version})
    assert r.status_code == 400 and "一覧から選んでください" in text_of(r)
    assert 'value="moving_out_certificate" checked' in r.get_data(as_text=True) and "平日にお越しください" in text_of(r)
    assert ApplicationStore(db).get(app.id).state is not State.REJECTED
    r = post(clerk_client, url, {"reason": "転出証明書がない", "bring": ["moving_out_certificate", "seal"],
                                 "note": "平日にお越しください", "version": app.version})
    assert r.status_code == 302 and ApplicationStore(db).get(app.id).state is State.REJECTED
    progress.deliver_pending(db, config)
    found = progress.progress_of(db, app.id, progress.key_for(db, app.id))
    assert found.current == "rejected" and found.detail["bring"] == ["moving_out_certificate", "seal"]
    assert found.detail["note"] == "平日にお越しください"


def test_every_page_is_translated_into_japanese(clerk_client, db):
    app = kiosk_application(db, licence=LICENCE)
    page = text_of(clerk_client.get(f"/counter/applications/{app.id}?lang=ja"))
    assert "受付番号" in page and "印刷後に変更" not in page
    assert "運転免許証の住所" in page
    queue = text_of(clerk_client.get("/counter/?lang=ja"))
    assert "本日の受付一覧" in queue and "印刷済み・待ち" in queue


# --- a resident's pre-registration QR at the counter -----------------------------------------------

def test_a_pre_registration_qr_becomes_an_application_at_the_counter(clerk_client, db, config):
    submitted = sealed.submit(config, db, dict(CERTIFICATE))
    # A US-layout scanner on a JIS keyboard turns ':' into '+'; the counter reads it anyway.
    r = post(clerk_client, "/counter/open", {"code": submitted.token.replace(":", "+")})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/counter/applications/{submitted.app_id}")
    app = ApplicationStore(db).get(submitted.app_id)
    assert (app.state, app.channel) == (State.SUBMITTED, "counter")
    assert app.data["name"] == "髙橋\u3000𠮷子" and set(app.sources.values()) == {"qr"}
    [created] = [e.new for e in ApplicationStore(db).events(app.id) if e.kind == "created"]
    assert created["from"] == "prereg" and created["office"] == "honcho"   # the figures' channel and office
    fetches = [e for e in xlog.entries(db, application_id=app.id) if e["purpose"] == "prereg_fetch"]
    assert len(fetches) == 1 and fetches[0]["actor"] == "clerk:sato" and fetches[0]["counterparty"] == "prereg"
    # Scanning it again opens the same application; nothing is fetched twice.
    r = post(clerk_client, "/counter/open", {"code": submitted.token})
    assert r.headers["Location"].endswith(f"/counter/applications/{app.id}")
    assert ApplicationStore(db).count() == 1
    assert len([e for e in xlog.entries(db, application_id=app.id) if e["purpose"] == "prereg_fetch"]) == 1
    page = text_of(clerk_client.get(f"/counter/applications/{app.id}?lang=en"))
    assert "Pre-registration (QR)" in page and "Print the form" in page


def test_a_forged_or_expired_pre_registration_is_refused_cleanly(clerk_client, db, config):
    from core import tokens
    submitted = sealed.submit(config, db, dict(CERTIFICATE))
    app_id, key = tokens.decode_token(submitted.token)
    forged = tokens.encode_token(app_id, bytes(len(key)))  # right id, wrong key
    r = post(clerk_client, "/counter/open?lang=en", {"code": forged})
    assert r.status_code == 400 and "This pre-registration code cannot be read" in text_of(r)
    db.execute("UPDATE sealed_applications SET expires_at = '2000-01-01T00:00:00+00:00'")
    r = post(clerk_client, "/counter/open?lang=en", {"code": submitted.token})
    assert r.status_code == 404 and "This pre-registration was not found" in text_of(r)
    assert ApplicationStore(db).count() == 0
