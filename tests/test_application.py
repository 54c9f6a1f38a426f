import pytest

from core.application import Application, Source, State, is_application_id
from core.errors import TransitionError


def make():
    return Application.create(["juminhyo"], {"name": "山田\u3000太郎", "address": "東京都"}, Source.CARD,
                              actor="kiosk-1", channel="kiosk", sources={"address": Source.TYPED})


def test_new_application_is_a_draft_with_sources_and_a_created_event():
    app = make()
    assert is_application_id(app.id)
    assert app.state is State.DRAFT
    assert app.sources == {"name": "card", "address": "typed"}
    assert [e.kind for e in app.pending_events] == ["created"]


def test_happy_path_through_every_state():
    app = make()
    for s in ("submitted", "printed", "confirmed", "forwarded"):
        app.transition(s, actor="x")
    assert app.state is State.FORWARDED
    kinds = [(e.old, e.new) for e in app.pending_events if e.kind == "state"]
    assert kinds == [("draft", "submitted"), ("submitted", "printed"), ("printed", "confirmed"),
                     ("confirmed", "forwarded")]


@pytest.mark.parametrize("path, bad", [
    ([], "confirmed"),
    ([], "forwarded"),
    (["submitted"], "forwarded"),
    (["submitted", "printed", "confirmed"], "rejected"),
    (["cancelled"], "submitted"),
    (["submitted", "rejected"], "printed"),
])
def test_illegal_transitions_raise_with_a_machine_code(path, bad):
    app = make()
    for s in path:
        app.transition(s, actor="x")
    before = app.state
    with pytest.raises(TransitionError) as e:
        app.transition(bad, actor="x")
    assert e.value.code == f"illegal_transition_{before}_to_{bad}"
    assert app.state == before


def test_field_change_records_old_new_and_source():
    app = make()
    app.pending_events.clear()
    ev = app.set_field("address", "東京都千代田区", Source.CLERK, actor="clerk:sato", reason="番地の誤り")
    assert (ev.field, ev.old, ev.new, ev.reason, ev.actor) == (
        "address", "東京都", "東京都千代田区", "番地の誤り", "clerk:sato")
    assert app.sources["address"] == "clerk"
    assert app.set_field("address", "東京都千代田区", Source.CLERK, actor="c", reason="r") is None


def test_clerk_correction_needs_a_reason():
    app = make()
    with pytest.raises(TransitionError) as e:
        app.set_field("name", "x", Source.CLERK, actor="clerk")
    assert e.value.code == "reason_required"


def test_fields_are_frozen_after_confirmation():
    app = make()
    for s in ("submitted", "printed", "confirmed"):
        app.transition(s, actor="x")
    with pytest.raises(TransitionError) as e:
        app.set_field("name", "x", Source.CLERK, actor="c", reason="r")
    assert e.value.code == "application_closed"
