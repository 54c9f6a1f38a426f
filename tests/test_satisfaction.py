"""Five faces at the end of a kiosk visit and of a pre-registration: kept apart from any person
or application, counted on the figures page and in its CSV."""
from __future__ import annotations

from datetime import date

import pytest

from core import satisfaction
from core.clock import today_in_japan
from tests.fixtures_counter import sign_in


def rows(db):
    return list(db.query("SELECT * FROM ratings"))


def test_a_rating_keeps_the_day_the_place_and_the_score_and_nothing_else(db):
    satisfaction.rate(db, channel="kiosk", score="5", comment="  早かった\x07です  ", office="honcho")
    [row] = rows(db)
    assert set(row) == {"id", "day", "channel", "office", "score", "comment", "tenant_id"}   # tenant: the town
    assert (row["day"], row["channel"], row["office"], row["score"], row["comment"]) == (
        today_in_japan().isoformat(), "kiosk", "honcho", 5, "早かったです")
    satisfaction.rate(db, channel="prereg", score=4, comment="x" * 1000)
    assert max(len(r["comment"]) for r in rows(db)) == satisfaction.MAX_COMMENT


@pytest.mark.parametrize("score", ["0", "6", "five", "５", "", None, "4.5", "-1"])
def test_a_score_is_one_to_five(db, score):
    with pytest.raises(satisfaction.RatingRefused) as e:
        satisfaction.rate(db, channel="kiosk", score=score)
    assert e.value.code == "bad_score" and rows(db) == []


def test_the_share_of_satisfied_ratings(db):
    for score, day in ((5, date(2026, 11, 1)), (4, date(2026, 11, 1)), (2, date(2026, 11, 2)), (5, date(2026, 10, 1))):
        satisfaction.rate(db, channel="kiosk", score=score, day=day)
    s = satisfaction.summary(db, date(2026, 11, 1), date(2026, 11, 30))
    assert s.total == 3 and s.counts[5] == 1 and s.counts[2] == 1
    assert s.satisfied_share == pytest.approx(2 / 3)
    assert satisfaction.summary(db, date(2026, 12, 1), date(2026, 12, 31)).satisfied_share is None


def test_the_kiosk_asks_on_the_done_screen_once_a_visit(kiosk):
    kiosk.start("en")
    kiosk.read_card()
    kiosk.choose("certificates", ["juminhyo"])
    kiosk.answer_all()
    assert kiosk.post("/kiosk/rate", {"score": "5"}).location == "/kiosk/confirm"   # not before printing
    kiosk.print_and_wait()
    kiosk.get("/kiosk/done")
    assert "How was your visit today?" in kiosk.text and kiosk.text.count('name="score"') == 5
    kiosk.post("/kiosk/rate", {"score": "4", "comment": "分かりやすかった"})
    kiosk.post("/kiosk/rate", {"score": "1"})                          # a second tap is not counted
    kiosk.get("/kiosk/done")
    assert "Thank you for your answer." in kiosk.text and 'name="score"' not in kiosk.text
    from web import get_db
    with kiosk.app.app_context():
        kept = rows(get_db())
    assert [(r["channel"], r["score"], r["comment"]) for r in kept] == [("kiosk", 4, "分かりやすかった")]
    assert "山田" not in str(kept) and kiosk.visit().application_id not in str(kept)


def test_prereg_asks_on_its_done_page(walker, db):
    from tests.prereg_helpers import answer_all
    from tests.test_prereg_flow import CERT_ANSWERS, start
    start(walker)
    answer_all(walker, CERT_ANSWERS)
    walker.post({})
    assert walker.at() == "/prereg/done" and "この手続きはいかがでしたか" in walker.page
    walker.post({"score": "9"}, path="/prereg/done/rate")
    assert rows(db) == []
    walker.post({"score": "3"}, path="/prereg/done/rate")
    assert "ご回答ありがとうございました。" in walker.page
    assert [(r["channel"], r["score"]) for r in rows(db)] == [("prereg", 3)]


def test_the_figures_show_the_share_and_the_csv_has_it(clerks, app, db):
    for score in (5, 5, 4, 1):
        satisfaction.rate(db, channel="kiosk", score=score, comment="ありがとう" if score == 1 else "")
    client = app.test_client()
    sign_in(client, "suzuki")
    day = today_in_japan().isoformat()
    page = client.get(f"/counter/figures?from={day}&to={day}&lang=en").get_data(as_text=True)
    assert 'id="fig-satisfied">75%' in page and "Ratings by score" in page and "ありがとう" in page
    csv = client.get(f"/counter/figures.csv?from={day}&to={day}").get_data(as_text=True)
    assert "satisfied_share,0.750" in csv and "\r\n5,2\r\n" in csv


def test_a_kiosk_pc_sends_its_ratings_to_the_office_server(app, db):
    from tests.test_kiosk_office import bearer
    client, token = app.test_client(), bearer(app, "kiosk-7", "K")
    assert client.post("/kiosk/api/v1/ratings", json={"score": 5}).status_code == 401
    assert client.post("/kiosk/api/v1/ratings", json={"score": 7}, headers=token).status_code == 400
    assert client.post("/kiosk/api/v1/ratings", json=[1], headers=token).status_code == 400
    r = client.post("/kiosk/api/v1/ratings", json={"score": 5, "comment": "ok"}, headers=token)
    assert r.status_code == 204 and [(x["channel"], x["score"]) for x in rows(db)] == [("kiosk", 5)]
