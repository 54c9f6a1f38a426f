import json

import pytest

from core.application import Application, Source
from core.errors import TransitionError
from core.outbox import confirm
from core.store.applications import ApplicationStore


def test_confirm_writes_state_and_outbox_record_together(db):
    store = ApplicationStore(db)
    app = Application.create(["juminhyo"], {"name": "山田"}, Source.CARD, actor="k", channel="kiosk")
    app.transition("submitted", actor="k")
    app.transition("printed", actor="k")
    store.save(app)
    record = confirm(db, app, actor="clerk:sato")
    assert store.get(app.id).state == "confirmed"
    rows = list(db["outbox"].rows)
    assert len(rows) == 1 and rows[0]["state"] == "pending"
    assert json.loads(rows[0]["record"]) == record and record["schema"] == "madoguchi.record/3"


def test_confirming_a_draft_is_refused_and_leaves_no_record(db):
    app = Application.create(["juminhyo"], {"name": "山田"}, Source.CARD, actor="k", channel="kiosk")
    ApplicationStore(db).save(app)
    with pytest.raises(TransitionError) as e:
        confirm(db, app, actor="clerk")
    assert e.value.code == "not_printed"
    assert db["outbox"].count == 0
