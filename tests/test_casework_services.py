"""The clerk's actions as domain services (core.services.casework): what each writes when it
succeeds, and that each refusal has its code and changes nothing."""
import json

import pytest

from core import exchange_log as xlog
from core.application import Source, State
from core.errors import NotFound, TransitionError, ValidationError
from core.services import casework as services
from core.store.applications import ApplicationStore
from tests.fixtures_counter import CERTIFICATE, kiosk_application

CLERK = "clerk:sato"
LICENCE = services.IdentityCheck((services.IdDocument("driving_licence"),))


def snapshot(db, app_id):
    """Everything a refused action must leave as it was."""
    app = ApplicationStore(db).get(app_id)
    return (app.version, app.state, app.data, ApplicationStore(db).events(app_id),
            db["outbox"].count, xlog.count(db, application_id=app_id))


def codes(excinfo) -> set[str]:
    return {e.code for e in excinfo.value.errors}


# --- correct -------------------------------------------------------------------------------

def test_correct_changes_the_value_with_the_reason_in_the_audit_trail(db, config):
    app = kiosk_application(db)
    logged = xlog.count(db, application_id=app.id)
    done = services.correct(db, config, services.load(db, app.id), actor=CLERK, field="phone",
                            value="０３-９８７６-５４３２", reason="  resident  gave a new number ",
                            expected_version=app.version)
    stored = ApplicationStore(db).get(app.id)
    assert stored.data["phone"] == done.data["phone"] != app.data["phone"]
    assert stored.sources["phone"] == "clerk" and stored.version == app.version + 1
    last = ApplicationStore(db).events(app.id)[-1]
    assert (last.kind, last.field, last.actor, last.reason) == ("field", "phone", CLERK, "resident gave a new number")
    assert (last.old, last.new) == (app.data["phone"], stored.data["phone"])
    [entry] = list(xlog.entries(db, application_id=app.id))[logged:]   # the correction, by name, no value
    assert (entry["purpose"], json.loads(entry["fields"]), entry["actor"]) == ("correction", ["phone"], CLERK)
    assert "9876" not in json.dumps(entry) and db["outbox"].count == 0    # nothing left the office


def test_correct_reads_a_japanese_era_date(db, config):
    app = kiosk_application(db)
    services.correct(db, config, services.load(db, app.id), actor=CLERK, field="birth_date", value="昭和60年4月2日",
                     reason="typo", expected_version=None)
    assert ApplicationStore(db).get(app.id).data["birth_date"] == "1985-04-02"


def test_correct_sets_the_household_list(db, config):
    app = kiosk_application(db)
    members = app.data["household"] + [{"name": "山田\u3000一郎", "birth_date": "2015-05-05"}]
    services.correct(db, config, services.load(db, app.id), actor=CLERK,
                     field="household", value=members, reason="a son",
                     expected_version=app.version)
    stored = ApplicationStore(db).get(app.id).data["household"]
    assert [m["name"] for m in stored] == ["山田\u3000花子", "山田\u3000一郎"]


@pytest.mark.parametrize(("field", "value", "reason", "expected"), [
    ("phone", "12", "typo", {"bad_phone"}),
    ("birth_date", "not a date", "typo", {"bad_date"}),
    ("name", "", "typo", {"required"}),
    ("phone", "03-1234-5678", "typo", {"same_value"}),
    ("phone", "03-9999-0000", "   ", {"reason_required"}),
    ("phone", "03-9999-0000", "x" * (services.MAX_REASON + 1), {"reason_too_long"}),
    ("phone", "12", "", {"bad_phone", "reason_required"}),
    ("no_such_field", "1", "typo", {"unknown_field"}),
])
def test_correct_refuses_bad_input_with_field_codes_and_changes_nothing(db, config, field, value, reason, expected):
    app = kiosk_application(db)
    before = snapshot(db, app.id)
    with pytest.raises(ValidationError) as e:
        services.correct(db, config, services.load(db, app.id), actor=CLERK, field=field, value=value, reason=reason,
                         expected_version=app.version)
    assert codes(e) == expected
    assert snapshot(db, app.id) == before


def test_correct_refuses_a_stale_version_and_a_closed_application(db, config):
    app = kiosk_application(db)
    before = snapshot(db, app.id)
    with pytest.raises(services.Stale) as stale:
        services.correct(db, config, services.load(db, app.id), actor=CLERK,
                         field="phone", value="03-9999-0000", reason="typo",
                         expected_version=app.version - 1)
    assert stale.value.code == "stale" and snapshot(db, app.id) == before
    services.reject(db, config, services.load(db, app.id), actor=CLERK, reason="wrong office", expected_version=None)
    before = snapshot(db, app.id)
    with pytest.raises(TransitionError) as closed:
        services.correct(db, config, services.load(db, app.id), actor=CLERK,
                         field="phone", value="03-9999-0000", reason="typo",
                         expected_version=None)
    assert closed.value.code == "application_closed" and snapshot(db, app.id) == before


def test_an_unknown_application_is_not_found(db, config):
    with pytest.raises(NotFound):
        services.load(db, "0" * 16)
    with pytest.raises(NotFound):
        services.load(db, "../etc")


# --- confirm -------------------------------------------------------------------------------

def test_confirm_closes_the_application_and_queues_its_record_in_one_go(db, config):
    app = kiosk_application(db)
    logged = xlog.count(db, application_id=app.id)
    done = services.confirm(db, config, services.load(db, app.id), actor=CLERK, identity=LICENCE,
                     expected_version=app.version)
    assert done.state is State.CONFIRMED
    stored = ApplicationStore(db).get(app.id)
    assert stored.state is State.CONFIRMED and stored.version == app.version + 1
    last = ApplicationStore(db).events(app.id)[-1]
    assert (last.kind, last.old, last.new, last.actor) == ("state", "printed", "confirmed", CLERK)
    [row] = list(db["outbox"].rows)
    record = json.loads(row["record"])
    assert row["state"] == "pending" and row["idempotency_key"] == f"{app.id}-v{stored.version}"
    assert record["confirmed_by"] == CLERK and record["data"] == stored.data
    [entry] = list(xlog.entries(db, application_id=app.id))[logged:]   # the confirm, nothing else
    assert entry["purpose"] == "confirm" and entry["actor"] == CLERK


def test_confirm_after_corrections_needs_the_resident_to_have_checked_them(db, config):
    app = kiosk_application(db)
    services.correct(db, config, services.load(db, app.id), actor=CLERK,
                     field="phone", value="03-9999-0000", reason="typo",
                     expected_version=None)
    before = snapshot(db, app.id)
    with pytest.raises(ValidationError) as e:
        services.confirm(db, config, services.load(db, app.id), actor=CLERK, identity=LICENCE,
                     expected_version=None)
    assert codes(e) == {"corrections_unchecked"} and snapshot(db, app.id) == before
    services.confirm(db, config, services.load(db, app.id), actor=CLERK, identity=LICENCE,
                     expected_version=None, corrections_checked=True)
    assert ApplicationStore(db).get(app.id).state is State.CONFIRMED and db["outbox"].count == 1


def test_confirm_refuses_an_incomplete_application(db, config):
    app = kiosk_application(db, CERTIFICATE)
    store = ApplicationStore(db)
    stored = store.get(app.id)
    del stored.data["address"]  # as a kiosk of an older catalogue may have left it
    store.save(stored)
    before = snapshot(db, app.id)
    with pytest.raises(ValidationError) as e:
        services.confirm(db, config, services.load(db, app.id), actor=CLERK, identity=LICENCE,
                         expected_version=None, corrections_checked=True)
    assert "incomplete" in codes(e) and snapshot(db, app.id) == before


def test_confirm_refuses_what_is_not_printed_and_a_stale_version(db, config):
    submitted = kiosk_application(db, state=State.SUBMITTED)
    before = snapshot(db, submitted.id)
    with pytest.raises(TransitionError) as e:
        services.confirm(db, config, services.load(db, submitted.id), actor=CLERK, identity=LICENCE,
                     expected_version=None)
    assert e.value.code == "not_printed" and snapshot(db, submitted.id) == before
    printed = kiosk_application(db)
    before = snapshot(db, printed.id)
    with pytest.raises(services.Stale):
        services.confirm(db, config, services.load(db, printed.id), actor=CLERK, identity=LICENCE,
                     expected_version=printed.version + 1)
    assert snapshot(db, printed.id) == before


# --- reject --------------------------------------------------------------------------------

def test_reject_closes_the_application_with_the_reason(db, config):
    app = kiosk_application(db, state=State.SUBMITTED)
    done = services.reject(db, config, services.load(db, app.id), actor=CLERK,
                           reason="not  this office", expected_version=app.version)
    assert done.state is State.REJECTED and ApplicationStore(db).get(app.id).state is State.REJECTED
    last = ApplicationStore(db).events(app.id)[-1]
    assert (last.kind, last.new, last.reason, last.actor) == ("state", "rejected", "not this office", CLERK)
    assert db["outbox"].count == 0


def test_reject_refusals_have_codes_and_change_nothing(db, config):
    app = kiosk_application(db)
    before = snapshot(db, app.id)
    with pytest.raises(ValidationError) as e:
        services.reject(db, config, services.load(db, app.id), actor=CLERK, reason=" \n ", expected_version=None)
    assert codes(e) == {"reason_required"} and snapshot(db, app.id) == before
    with pytest.raises(services.Stale):
        services.reject(db, config, services.load(db, app.id), actor=CLERK,
                        reason="x", expected_version=app.version + 5)
    assert snapshot(db, app.id) == before
    services.confirm(db, config, services.load(db, app.id), actor=CLERK, identity=LICENCE,
                     expected_version=None)
    before = snapshot(db, app.id)
    with pytest.raises(TransitionError) as closed:
        services.reject(db, config, services.load(db, app.id), actor=CLERK, reason="x", expected_version=None)
    assert closed.value.code == "illegal_transition_confirmed_to_rejected" and snapshot(db, app.id) == before


@pytest.mark.parametrize("action", ["correct", "confirm", "reject"])
def test_a_change_stored_after_the_application_was_loaded_is_never_overwritten(db, config, action):
    app = kiosk_application(db)
    loaded = services.load(db, app.id)
    other = services.load(db, app.id)
    other.set_field("phone", "03-1111-2222", Source.CLERK, actor="clerk:suzuki", reason="resident")
    ApplicationStore(db).save(other)
    before = snapshot(db, app.id)
    do = {"correct": lambda: services.correct(db, config, loaded, actor=CLERK, field="kana",
                                              value="ヤマダ\u3000タロ", reason="typo", expected_version=None),
          "confirm": lambda: services.confirm(db, config, loaded, actor=CLERK, expected_version=None, identity=LICENCE,
                                              corrections_checked=True),
          "reject": lambda: services.reject(db, config, loaded, actor=CLERK, reason="x", expected_version=None)}
    with pytest.raises(services.Stale):
        do[action]()
    assert snapshot(db, app.id) == before
