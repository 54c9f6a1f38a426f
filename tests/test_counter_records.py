"""The exchange log for clerks (by application, by person, printed for the person), the
supervisor's figures, and account management on the web."""
import csv
import io
from datetime import timedelta

import pdfplumber
import pytest

from core import exchange_log as xlog
from core.application import State, form_code
from core.keys import subject_key
from core.services.disclosure import person_log
from core.store.applications import ApplicationStore
from counter import casework, figures
from tests.fixtures_counter import CERTIFICATE, MOVE_IN, PASSWORD, kiosk_application, post, sign_in, text_of
from tests.helpers import tamper

# --- exchange log ---------------------------------------------------------------------------

def test_log_by_application_accepts_a_scanned_code(clerk_client, db):
    app = kiosk_application(db)
    clerk_client.get(f"/counter/applications/{app.id}")
    r = clerk_client.get(f"/counter/exchange-log?lang=en&application={form_code(app.id)}")
    page = text_of(r)
    assert r.status_code == 200
    assert "Card read (to fill the form)" in page and "Form printed" in page and "Viewed by a clerk" in page
    assert "Counter kiosk (kiosk-1)" in page and "Clerk (sato)" in page and "My Number card" in page
    r = clerk_client.get("/counter/exchange-log?lang=en&application=nonsense")
    assert r.status_code == 400 and "Enter an application number" in text_of(r)


def test_a_persons_log_covers_their_applications_and_household_appearances(clerk_client, db, config):
    own = kiosk_application(db, MOVE_IN)                      # 山田 太郎 applies
    spouse_form = dict(MOVE_IN, name="山田\u3000花子", kana="ヤマダ\u3000ハナコ", birth_date="1987-09-12", sex="female",
                       household=[{"name": "山田 太郎", "birth_date": "1985-04-01", "relationship": "spouse"}])
    spouse = kiosk_application(db, spouse_form)               # …and appears in his spouse's
    stranger = kiosk_application(db, CERTIFICATE)
    clerk_client.get(f"/counter/applications/{own.id}")
    assert ApplicationStore(db).ids_naming_person("山田 太郎", "1985-04-01") == [own.id, spouse.id]
    rows = person_log(db, config, "山田\u3000太郎", "1985-04-01")
    assert {r["application_id"] for r in rows} == {own.id, spouse.id}
    assert stranger.id not in {r["application_id"] for r in rows}
    # Searching takes the name and birth date by POST (never in a URL), any calendar.
    r = post(clerk_client, "/counter/exchange-log/person?lang=en",
             {"name": "山田 太郎", "birth_date": "昭和60年4月1日"})
    assert r.status_code == 200 and "Entries " + str(len(rows)) in text_of(r)
    r = post(clerk_client, "/counter/exchange-log/person?lang=en", {"name": "", "birth_date": "yesterday"})
    assert r.status_code == 400 and "Enter the person's full name" in text_of(r)


def test_the_printed_log_is_a_japanese_a4_pdf_and_printing_it_is_logged(clerk_client, db, config, output_dir):
    app = kiosk_application(db, reception="31")
    clerk_client.get(f"/counter/applications/{app.id}")
    before = db["exchange_log"].count
    r = post(clerk_client, "/counter/exchange-log/person/print?lang=en",
             {"name": "山田 太郎", "birth_date": "1985-04-01"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/pdf"
    (output_dir / "counter-person-log-test.pdf").write_bytes(r.data)
    with pdfplumber.open(io.BytesIO(r.data)) as pdf:
        page = pdf.pages[0]
        assert (round(page.width), round(page.height)) == (842, 595)  # A4 landscape: マイナポータル's columns
        text = page.extract_text()
        table = [[(cell or "").replace("\n", "") for cell in row] for row in page.extract_tables()[-1]]
    # In Japanese whatever language the clerk's screen is in; the same page as the kiosk's (web.exchange_words).
    assert "個人情報のやりとり履歴" in text and "山田 太郎 様" in text.replace("\u3000", " ")
    assert "昭和60年4月1日" in text and "窓口で交付" in text
    assert table[0] == ["管理番号", "状況", "日時", "機関", "事務", "事務手続", "やりとりされた情報の名称", "内容"]
    assert [(row[1], row[3], row[7]) for row in table[1:]] == [                     # newest first
        ("提供完了", "架空市 市民課", "閲覧（職員が申請内容を確認しました）"),
        ("提供完了", "架空市 窓口のプリンタ", "印刷（申請書を印刷するため）"),
        ("提供完了", "架空市 窓口端末のカード読取機", "カード読取（カードの情報で申請書を作成するため）"),
    ]
    assert {(row[4], row[5]) for row in table[1:]} == {("住民基本台帳に関する事務", "引越しの届出（転入・転居・転出）")}
    assert "氏名" in table[1][6] and "1985" not in table[1][6]      # the names of what was seen, never values
    assert "sato" not in text  # the resident's copy names roles, not clerks
    assert db["exchange_log"].count == before + 1
    last = list(xlog.entries(db))[-1]
    assert last["purpose"] == "log_print" and last["actor"] == "clerk:sato"
    assert last["subject_ref"] == xlog.subject_ref(subject_key(config), "山田 太郎", "1985-04-01")
    assert xlog.verify(db).ok


# --- figures ----------------------------------------------------------------------------------

def _set_times(db, app_id, *, created, printed=None, viewed=None, confirmed=None):
    db.execute("UPDATE applications SET created_at = ? WHERE id = ?", [created.isoformat(), app_id])
    db.execute("UPDATE application_events SET at = ? WHERE application_id = ? AND kind IN ('created', 'card_read')"
               " OR (application_id = ? AND kind = 'state' AND new = '\"submitted\"')",
               [created.isoformat(), app_id, app_id])
    if printed:
        db.execute("UPDATE application_events SET at = ? WHERE application_id = ? AND kind = 'state'"
                   " AND new = '\"printed\"'", [printed.isoformat(), app_id])
    if confirmed:
        db.execute("UPDATE application_events SET at = ? WHERE application_id = ? AND kind = 'state'"
                   " AND new = '\"confirmed\"'", [confirmed.isoformat(), app_id])
    if viewed:
        db.execute("UPDATE exchange_log SET at = ? WHERE application_id = ? AND purpose = 'clerk_view'",
                   [viewed.isoformat(), app_id])


@pytest.fixture
def busy_day(db, clerk_client):
    """Three confirmed visits (10, 40 and 5 minutes from scan to confirmation), one with two
    corrections, a cancelled one and a draft, on one day a week ago."""
    from core.outbox import confirm
    day = casework.today() - timedelta(days=7)
    start, _ = casework.local_day_bounds(day)
    store = ApplicationStore(db)
    plan = [(MOVE_IN, 9, 10), (CERTIFICATE, 10, 40), (CERTIFICATE, 11, 5)]
    apps = []
    for form, hour, minutes in plan:
        app = kiosk_application(db, form)
        clerk_client.get(f"/counter/applications/{app.id}")
        apps.append((app, hour, minutes))
    first = store.get(apps[0][0].id)
    for field, value in (("postal_code", "1000002"), ("phone", "0312345679")):
        post(clerk_client, f"/counter/applications/{first.id}/fields/{field}",
             {"value": value, "reason": "resident", "version": store.get(first.id).version})
    for app, hour, minutes in apps:
        confirm(db, store.get(app.id), actor="clerk:sato")
        t0 = start + timedelta(hours=hour)
        _set_times(db, app.id, created=t0, printed=t0 + timedelta(minutes=5), viewed=t0 + timedelta(minutes=20),
                   confirmed=t0 + timedelta(minutes=20 + minutes))
    cancelled = kiosk_application(db, CERTIFICATE, state=State.SUBMITTED)
    c = store.get(cancelled.id)
    c.transition(State.CANCELLED, actor="kiosk:kiosk-1")
    store.save(c)
    _set_times(db, cancelled.id, created=start + timedelta(hours=12))
    draft = kiosk_application(db, CERTIFICATE, state=State.DRAFT)
    _set_times(db, draft.id, created=start + timedelta(hours=13))
    return day


def test_figures_count_visits_forms_durations_and_corrections(db, busy_day):
    from core.catalogue import get_catalogue
    fig = figures.compute(db, get_catalogue(), busy_day - timedelta(days=1), busy_day)
    assert [d.applications for d in fig.days] == [0, 4]    # the draft is not counted
    assert [d.visits for d in fig.days] == [0, 2]          # three share reception number 12
    assert fig.forms == 3                                  # the cancelled application has no form
    assert fig.confirmed == 3
    assert fig.stays["scan"].counts == {5: 1, 10: 1, 40: 1}
    assert fig.median_minutes == 10 and fig.p90_minutes == 40
    assert fig.corrections == 2 and fig.corrected_applications == 1
    juminido = next(p for p in fig.procedures if p.procedure == "juminido")
    assert (juminido.forms, juminido.corrections, juminido.corrected_forms) == (1, 2, 1)
    assert dict(fig.top_fields) == {"postal_code": 1, "phone": 1}
    assert round(fig.corrections_per_form, 2) == 0.67


def test_percentile_is_nearest_rank():
    assert figures.percentile([], 90) is None
    assert figures.percentile([7.0], 90) == 7.0
    assert figures.percentile(list(map(float, range(1, 11))), 90) == 9.0
    assert figures.percentile(list(map(float, range(1, 12))), 90) == 10.0


def test_figures_page_and_csv_for_supervisors(app, clerks, busy_day):
    client = sign_in(app.test_client(), "suzuki")
    r = client.get(f"/counter/figures?lang=en&from={busy_day}&to={busy_day}")
    page = text_of(r)
    assert r.status_code == 200
    assert "Visits 2" in page and "Applications 4" in page and "Forms 3" in page
    assert "Scan to confirmation, median 10 min" in page and "Scan to confirmation, 90th percentile 40 min" in page
    assert "Corrections per form 0.67" in page
    r = client.get(f"/counter/figures.csv?from={busy_day}&to={busy_day}")
    assert r.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:8] == ["date", "visits", "applications", "forms", "confirmed", "corrections",
                           "scan_to_confirm_median_min", "scan_to_confirm_p90_min"]
    assert rows[1][:8] == [busy_day.isoformat(), "2", "4", "3", "3", "2", "10", "40"]
    bad = client.get("/counter/figures?from=2026-02-01&to=2026-01-01")
    assert bad.status_code == 400


# --- accounts on the web -------------------------------------------------------------------------

def test_admin_adds_disables_and_unlocks_accounts(app, clerks, db, fast_password_hashing):
    admin = sign_in(app.test_client(), "tanaka")
    r = post(admin, "/counter/users?lang=en", {"username": "kato", "display_name": "加藤", "role": "clerk",
                                               "password": "short"})
    assert r.status_code == 400 and "Use at least 10 characters." in text_of(r)
    r = post(admin, "/counter/users", {"username": "kato", "display_name": "加藤", "role": "clerk",
                                       "password": "ocean lantern 42"})
    assert r.status_code == 302
    kato = sign_in(app.test_client(), "kato", "ocean lantern 42")
    assert kato.get("/counter/").status_code == 200
    post(admin, "/counter/users/kato", {"action": "disable"})
    assert kato.get("/counter/exchange-log").status_code == 302  # signed out at once
    r = post(app.test_client(), "/counter/sign-in?lang=en", {"username": "kato", "password": "ocean lantern 42"})
    assert "This account is disabled" in text_of(r)
    post(admin, "/counter/users/kato", {"action": "enable"})
    for _ in range(5):
        post(app.test_client(), "/counter/sign-in", {"username": "kato", "password": "wrong guess!"})
    assert "Failed sign-ins: held back until" in text_of(admin.get("/counter/users?lang=en"))
    post(admin, "/counter/users/kato", {"action": "unlock"})
    assert "held back" not in text_of(admin.get("/counter/users?lang=en"))
    sign_in(app.test_client(), "kato", "ocean lantern 42")  # from the address that was held back
    r = post(admin, "/counter/users/tanaka", {"action": "disable"}, follow_redirects=True)
    assert "You cannot disable your own account" in text_of(r)
    from core import users
    assert not users.get_user(db, "tanaka").disabled


def test_a_clerk_changes_their_own_password(app, clerks):
    client = sign_in(app.test_client())
    r = post(client, "/counter/password?lang=en", {"current_password": "wrong", "new_password": "x",
                                                   "new_password_again": "x"})
    assert r.status_code == 400 and "Your current password is not right." in text_of(r)
    r = post(client, "/counter/password", {"current_password": PASSWORD, "new_password": "a much better passphrase",
                                           "new_password_again": "a much better passphrase"})
    assert r.status_code == 302, text_of(r)
    assert client.get("/counter/exchange-log").status_code == 200  # still signed in here
    sign_in(app.test_client(), "sato", "a much better passphrase")


def test_first_run_explains_how_to_make_an_account(client):
    page = text_of(client.get("/counter/?lang=en"))
    assert "There are no clerk accounts yet." in page and "madoguchi users add USERNAME --role admin" in page



def test_supervisors_can_check_the_chain_and_see_tampering(app, clerks, db, config):
    kiosk_application(db)
    client = sign_in(app.test_client(), "suzuki")
    assert "Check that the log is intact" in text_of(client.get("/counter/exchange-log?lang=en"))
    r = post(client, "/counter/exchange-log/verify", follow_redirects=True)
    assert "The exchange log is intact: 2 entries" in text_of(r)
    tamper(config, "UPDATE exchange_log SET purpose = 'clerk_view' WHERE seq = 1")
    r = post(client, "/counter/exchange-log/verify", follow_redirects=True)
    assert "The exchange log has been altered at entry 1" in text_of(r)
    clerk = sign_in(app.test_client(), "sato")
    assert "Check that the log is intact" not in text_of(clerk.get("/counter/exchange-log?lang=en"))
    assert post(clerk, "/counter/exchange-log/verify").status_code == 403


def test_an_admin_sets_a_password_for_someone_who_forgot_theirs(app, clerks, db):
    admin = sign_in(app.test_client(), "tanaka")
    forgetful = sign_in(app.test_client(), "sato")
    r = post(admin, "/counter/users/sato?lang=en", {"action": "password", "password": "tiny"},
             follow_redirects=True)
    assert "Use at least 10 characters." in text_of(r)
    post(admin, "/counter/users/sato", {"action": "password", "password": "a fresh start 2026"})
    assert forgetful.get("/counter/exchange-log").status_code == 302  # signed out everywhere
    page = text_of(sign_in(app.test_client(), "sato", "a fresh start 2026").get("/counter/?lang=en"))
    assert "Signed in as Sato (Clerk) until " in page
