"""Demo data for `madoguchi init`: a few applications a fresh demo can show."""
from __future__ import annotations

from collections.abc import Callable, Iterable

from core.application import Application, Source, State
from core.catalogue import get_catalogue
from core.forms import parse_application
from core.store.applications import ApplicationStore
from core.store.db import write

DEMO_APPLICATIONS = [
    ({"procedures": ["juminido"], "name": "山田\u3000太郎", "kana": "ヤマダ\u3000タロウ", "birth_date": "1985-04-01",
      "sex": "male", "postal_code": "1000001", "address": "東京都千代田区千代田１－１", "phone": "03-1234-5678",
      "move_type": "tennyu", "move_date": "2026-11-01", "previous_postal_code": "0600000",
      "previous_address": "北海道札幌市中央区北１条西２丁目", "relationship_to_head": "head",
      "nationality_kind": "japanese", "honseki": "北海道札幌市中央区北１条西２丁目１番地",
      "hittousha": "山田\u3000太郎", "notifier_type": "self",
      "household": [{"name": "山田\u3000花子", "kana": "ヤマダ\u3000ハナコ", "birth_date": "1987-09-12",
                     "sex": "female",
                     "relationship": "spouse"}]},
     Source.CARD, State.PRINTED),
    ({"procedures": ["juminhyo"], "name": "髙橋\u3000𠮷子", "kana": "タカハシ\u3000ヨシコ", "birth_date": "1952-01-15",
      "sex": "female", "postal_code": "1000001", "address": "東京都千代田区千代田２－３", "phone": "090-1111-2222",
      "juminhyo_scope": "self", "juminhyo_copies": 2, "juminhyo_purpose": "pension"},
     Source.QR, State.SUBMITTED),
]


def add_demo_data(config, db, surface_demos: Iterable[Callable] = ()) -> int:
    """Add the demo applications if the database has none, then each of `surface_demos`'
    (called with config and db in the same transaction); returns how many were added."""
    store = ApplicationStore(db)
    if store.count():
        return 0
    catalogue = get_catalogue()
    added = 0
    with write(db):
        for form, source, final_state in DEMO_APPLICATIONS:
            procs, values = parse_application(form, catalogue)
            app = Application.create(procs, values, source, actor="demo", channel="demo")
            for state in (State.SUBMITTED, State.PRINTED, State.CONFIRMED, State.FORWARDED):
                if app.state == final_state:
                    break
                app.transition(state, actor="demo")
            store.save(app)
            added += 1
        # The surfaces' own demo data (e.g. the counter's forwarded records with their exchange log).
        for add_surface_demo in surface_demos:
            added += add_surface_demo(config, db)
    return added
