"""手続きナビ (core.navigator): the procedures a visit needs from its life event, a few answers
and what is known already, each with its reason; the rules are data a site can change."""
from __future__ import annotations

import re
import shutil
from datetime import date

import pytest

from core.catalogue import CatalogueError, get_catalogue
from core.navigator import Facts, holds
from core.site import activate, check_site, load_site
from tests.conftest import DEMO_SITE

TODAY = date(2026, 12, 1)


def suggested(facts: Facts, event: str = "moving_in") -> dict[str, tuple]:
    cat = get_catalogue()
    found = cat.navigator.suggest(event, facts, set(cat.event(event).procedures))
    return {s.procedure: s.reasons for s in found}


def asked(facts: Facts, event: str = "moving_in") -> list[str]:
    cat = get_catalogue()
    return [q.id for q in cat.navigator.questions_for(event, facts, set(cat.event(event).procedures))]


def test_a_single_adult_moving_in_is_asked_only_what_matters():
    facts = Facts(birth_date="1985-04-01", today=TODAY)
    assert asked(facts) == ["wants_seal", "has_child", "has_employer_insurance", "has_employer_pension",
                            "care_certified", "has_mynumber_card", "has_registered_dog",
                            "has_dog"]   # has_dog: the demo city's own (a dog never registered)
    assert list(suggested(facts)) == ["juminido", "kokuho_shutoku", "nenkin"]   # no employer's insurance said
    reason = suggested(facts)["juminido"][0]
    assert "14" in reason["ja"] and "14 days" in reason["en"] and set(reason) >= {"zh", "ko", "vi", "pt", "ja-easy"}


def test_answers_and_the_household_choose_the_procedures_with_their_reasons():
    facts = Facts.from_values({"birth_date": "1985-04-01", "household": [{"birth_date": "2016-06-01"}]},
                              {"wants_seal": True, "has_dog": True}, today=TODAY)
    assert "has_child" not in asked(facts)                 # the household answers it: a 10-year-old
    found = suggested(facts)
    assert list(found) == ["juminido", "inkan_toroku", "jido_teate", "kokuho_shutoku", "nenkin", "tennyugaku",
                           "kodomo_iryo", "inu_toroku"]    # the 10-year-old: a school transfer too
    assert "15" in found["jido_teate"][0]["ja"] and "30" in found["inu_toroku"][0]["ja"]


def test_a_child_of_19_is_not_a_child_for_the_allowance():
    facts = Facts.from_values({"birth_date": "1970-01-01", "household": [{"birth_date": "2007-11-30"}]},
                              today=TODAY)
    assert "has_child" in asked(facts) and "jido_teate" not in suggested(facts)
    facts.answers["has_child"] = False
    assert "jido_teate" not in suggested(facts)


@pytest.mark.parametrize("condition, expected", [
    ({"age_at_least": 75}, True), ({"age_at_least": 76}, False), ({"age_under": 75}, False),
    ({"member_age_between": [6, 15]}, True), ({"member_age_between": [16, 18]}, False),
    ({"member_age_under": 7}, False), ({"member_age_under": 8}, True),
    ({"all": [{"age_at_least": 70}, {"answer": "q"}]}, True), ({"any": [{"age_under": 20}, {"answer": "x"}]}, False),
    ({"not": {"answer": "q"}}, False),
])
def test_conditions(condition, expected):
    # 75 today (birthday today), living with a 7-year-old
    facts = Facts("1951-12-01", ["2019-01-15"], {"q": True}, today=TODAY)
    assert holds(condition, facts) is expected


def test_a_site_changes_the_rules_and_switching_a_procedure_off_drops_its_rules(tmp_path):
    city = tmp_path / "city"
    shutil.copytree(DEMO_SITE, city)
    rules = city / "procedures" / "navigator.toml"
    rules.write_text(rules.read_text("utf-8").replace('when = { answer = "has_dog" }', ""), "utf-8")
    activate(load_site(city))
    assert "inu_toroku" in suggested(Facts(today=TODAY))     # every moving-in visit, in this city
    site_toml = city / "site.toml"
    site_toml.write_text(site_toml.read_text("utf-8").replace("disabled = []", 'disabled = ["inkan_toroku"]'),
                         "utf-8")
    offices = city / "offices.toml"
    offices.write_text(offices.read_text("utf-8").replace('"inkan_toroku", ', ""), "utf-8")
    assert check_site(city) == []
    activate(load_site(city))
    assert "inkan_toroku" not in suggested(Facts(answers={"wants_seal": True}, today=TODAY))
    assert "wants_seal" not in asked(Facts(today=TODAY))     # no rule of an offered procedure needs it


@pytest.mark.parametrize("bad, message", [
    ('[[rules]]\nid = "x"\nprocedure = "nope"\nlife_events = ["moving_in"]\nreason = { ja = "x" }\n',
     "unknown procedure nope"),
    ('[[rules]]\nid = "x"\nprocedure = "juminhyo"\nlife_events = ["moving_in"]\nreason = { ja = "x" }\n'
     'when = { answer = "no_such_question" }\n', "answer 'no_such_question' is not a question's id"),
    ('[[rules]]\nid = "x"\nprocedure = "juminhyo"\nlife_events = ["moving_in"]\nreason = { ja = "x" }\n'
     'when = { age_over = 3 }\n', "unknown condition ['age_over']"),
    ('[[rules]]\nid = "x"\nprocedure = "juminhyo"\nlife_events = ["holiday"]\nreason = { ja = "x" }\n',
     "unknown life events ['holiday']"),
])
def test_broken_rules_are_refused_naming_the_rule(tmp_path, bad, message):
    city = tmp_path / "city"
    shutil.copytree(DEMO_SITE, city)
    (city / "procedures" / "navigator.toml").write_text(bad, "utf-8")
    problems = check_site(city)
    assert any(message in p and "rule x" in p for p in problems), problems
    with pytest.raises(CatalogueError):
        activate(load_site(city))
        get_catalogue()


# --- on prereg -------------------------------------------------------------------------------

def test_prereg_asks_the_guide_questions_and_starts_the_procedures_page_from_them(walker):
    from tests.prereg_helpers import answer_guide
    walker.get("/prereg/event?lang=en")
    walker.post({"event": "moving_in"})
    assert walker.at() == "/prereg/guide" and "question 1 of 8" in walker.page
    r = walker.post({"q": "wants_seal", "answer": "maybe"}, expect=400)
    assert "Select yes or no" in r.get_data(as_text=True)
    assert answer_guide(walker, {"has_child": "yes", "has_employer_insurance": "yes", "has_employer_pension": "yes",
                                 "has_dog": "yes"}) == [
        "wants_seal", "has_child", "has_employer_insurance", "has_employer_pension", "care_certified",
        "has_mynumber_card", "has_registered_dog", "has_dog"]
    assert walker.at() == "/prereg/procedures"
    checked = set(re.findall(r'name="procedures" type="checkbox" value="([a-z_]+)"\s+checked', walker.page))
    assert checked == {"juminido", "jido_teate", "kodomo_iryo", "inu_toroku"}
    assert "apply for the child allowance within 15 days" in walker.page
    assert "register their dog within 30 days" in walker.page
    # An answer changed afterwards adds and removes only what it decides.
    walker.get("/prereg/guide?q=has_dog")
    walker.post({"q": "has_dog", "answer": "no"})
    walker.get("/prereg/guide?q=wants_seal")
    walker.post({"q": "wants_seal", "answer": "yes"})
    walker.get("/prereg/procedures")
    checked = set(re.findall(r'name="procedures" type="checkbox" value="([a-z_]+)"\s+checked', walker.page))
    assert checked == {"juminido", "jido_teate", "kodomo_iryo", "inkan_toroku"}
    # the resident's own choice stands: a procedure taken off stays off when another answer changes
    walker.post({"procedures": ["juminido", "inkan_toroku"]})
    walker.get("/prereg/guide?q=has_dog")
    walker.post({"q": "has_dog", "answer": "yes"})
    walker.get("/prereg/procedures")
    checked = set(re.findall(r'name="procedures" type="checkbox" value="([a-z_]+)"\s+checked', walker.page))
    assert checked == {"juminido", "inkan_toroku", "inu_toroku"}


def test_an_event_without_questions_goes_straight_to_the_procedures(walker):
    walker.get("/prereg/event?lang=en")
    walker.post({"event": "certificates"})
    assert walker.at() == "/prereg/procedures"


# --- at the kiosk ----------------------------------------------------------------------------

def test_the_kiosk_asks_the_guide_with_the_card_read_and_explains_its_choices(kiosk):
    kiosk.start("en")
    kiosk.read_card()                 # the card gives the birth date: the guide knows the age
    r = kiosk.post("/kiosk/purpose", {"event": "moving_in"})
    assert r.location == "/kiosk/guide"
    kiosk.get("/kiosk/guide")
    # The My Number card was just read: the guide does not ask whether the visitor has one.
    assert "question 1 of 7" in kiosk.text and 'value="wants_seal"' in kiosk.text
    r = kiosk.post("/kiosk/guide", {"q": "wants_seal", "answer": "perhaps"})
    assert r.location == "/kiosk/guide"                          # asked again, nothing recorded
    assert kiosk.visit().guide == {}
    kiosk.post("/kiosk/guide", {"q": "wants_seal", "answer": "yes"})
    kiosk.post("/kiosk/guide", {"q": "has_child", "answer": "no"})
    kiosk.post("/kiosk/guide", {"q": "has_employer_insurance", "answer": "yes"})
    kiosk.post("/kiosk/guide", {"q": "has_employer_pension", "answer": "yes"})
    r = kiosk.post("/kiosk/guide", {"q": "care_certified", "answer": "no"})
    kiosk.get(r.location)
    assert 'value="has_registered_dog"' in kiosk.text and "has_mynumber_card" not in kiosk.text
    kiosk.post("/kiosk/guide", {"q": "has_registered_dog", "answer": "no"})
    r = kiosk.post("/kiosk/guide", {"q": "has_dog", "answer": "yes"})
    assert r.location == "/kiosk/procedures"
    kiosk.get("/kiosk/procedures")
    checked = set(re.findall(r'name="procedure" value="([a-z_]+)" checked', kiosk.text))
    assert checked == {"juminido", "inkan_toroku", "inu_toroku", "mynumber_card_slip"}
    assert "register their dog within 30 days" in kiosk.text and "Suggested from your answers" in kiosk.text
    # the visitor takes one off; a changed answer later adds only what it decides
    kiosk.post("/kiosk/procedures", {"procedure": ["juminido", "inu_toroku"]})
    kiosk.post("/kiosk/guide", {"q": "has_child", "answer": "yes"})
    assert kiosk.visit().procedures == ["juminido", "inu_toroku", "jido_teate", "kodomo_iryo"]


# --- the clerk sees the same list with its reasons -----------------------------------------

def test_the_clerk_sees_the_kiosks_guide_list_with_its_reasons(kiosk_app, clerks):
    from tests.fixtures_counter import sign_in, text_of
    from tests.kiosk_helpers import Kiosk
    app = kiosk_app(with_counter=True)
    kiosk = Kiosk(app)
    kiosk.start("en")
    kiosk.read_card()
    kiosk.post("/kiosk/purpose", {"event": "moving_in"})
    for question, answer in (("wants_seal", "no"), ("has_child", "no"), ("has_employer_insurance", "yes"),
                             ("has_employer_pension", "yes"), ("care_certified", "no"),
                             ("has_registered_dog", "no"), ("has_dog", "yes")):
        kiosk.post("/kiosk/guide", {"q": question, "answer": answer})
    kiosk.post("/kiosk/procedures", {"procedure": ["juminido"]})     # the visitor leaves the dog for later
    kiosk.answer_all()
    kiosk.print_and_wait()
    from core.store.applications import ApplicationStore
    from web import get_db
    with app.app_context():
        stored = ApplicationStore(get_db()).list()[0]
        app_id = stored.id
        guide = [e for e in ApplicationStore(get_db()).events(app_id) if e.kind == "guide"]
    assert guide and guide[0].new == {"life_event": "moving_in",
                                      "answers": {"wants_seal": False, "has_child": False,
                                                  "has_employer_insurance": True, "has_employer_pension": True,
                                                  "care_certified": False, "has_mynumber_card": True,
                                                  "has_registered_dog": False, "has_dog": True}}
    clerk = sign_in(app.test_client())
    page = text_of(clerk.get(f"/counter/applications/{app_id}?lang=en"))
    assert "Procedures the guide found" in page
    assert "Application for Dog Registration — not chosen" in page and "register their dog within 30 days" in page
    assert "within 14 days of the move" in page and "Procedure guide answered" in page
    assert "enter its PIN at the counter's terminal" in page    # known from the card read, not asked


def test_the_residents_guide_answers_come_with_the_pre_registration(walker, clerks):
    from prereg.views import DONE
    from tests.fixtures_counter import post, sign_in, text_of
    from tests.prereg_helpers import answer_all, answer_guide, date_parts
    from tests.test_prereg_flow import CERT_ANSWERS
    walker.get("/prereg/event?lang=en")
    walker.post({"event": "moving_in"})
    answer_guide(walker, {"has_child": "yes"})
    walker.post({"procedures": ["juminido"]})          # the resident leaves the allowance for later
    answer_all(walker, dict(CERT_ANSWERS, move_date=date_parts("move_date", 2026, 11, 20),
                            previous_postal_code={"previous_postal_code": "0600000"},
                            previous_address={"previous_address__town": "北海道札幌市中央区",
                                              "previous_address__rest": "1-1"}))
    walker.post({})
    assert walker.at() == "/prereg/done"
    with walker.client.session_transaction() as session:
        token = session[DONE]["token"]
    clerk = sign_in(walker.client.application.test_client())
    r = post(clerk, "/counter/open", {"code": token})
    assert r.status_code == 302
    page = text_of(clerk.get(r.location + "?lang=en"))
    assert "Procedures the guide found" in page and "apply for the child allowance within 15 days" in page
    assert "not chosen" in page and "Procedure guide answered" in page
