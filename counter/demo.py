"""Demo data of the counter side for `madoguchi init`: applications that went the whole way —
read from a card or a pre-registration, printed, viewed and confirmed by a clerk, forwarded —
with the exchange-log entries each step writes, so a fresh demo has a real log to look at.

Called by `core.demo.add_demo_data` inside its transaction. The people are fictional.
"""
from __future__ import annotations

from core import exchange_log as xlog
from core import outbox
from core.application import Application, Source, State
from core.catalogue import get_catalogue
from core.forms import parse_application
from core.store.applications import ApplicationStore
from core.store.db import write
from counter import forwarding

CLERK = "clerk:demo"

# (JSON form, where the data came from, the exchange-log counterparty of that first step)
DEMO_FORWARDED = [
    ({"procedures": ["juminhyo"], "name": "佐藤\u3000健一", "kana": "サトウ\u3000ケンイチ", "birth_date": "1978-06-20",
      "sex": "male", "postal_code": "1000001", "address": "東京都千代田区千代田３－５－２０１", "phone": "03-5555-0101",
      "juminhyo_scope": "household", "juminhyo_copies": 1, "juminhyo_purpose": "pension"},
     Source.CARD, "mynumber_card"),
    ({"procedures": ["inkan_shomei"], "name": "鈴木\u3000美咲", "kana": "スズキ\u3000ミサキ",
      "birth_date": "1990-11-03",
      "sex": "female", "postal_code": "1000001", "address": "東京都千代田区千代田４－１", "phone": "090-5555-0202",
      "inkan_card_number": "A-102938", "inkan_shomei_copies": 2},
     Source.QR, "prereg"),
    ({"procedures": ["zei_shomei"], "name": "﨑山\u3000翔太", "kana": "サキヤマ\u3000ショウタ",
      "birth_date": "1995-02-14",
      "sex": "male", "postal_code": "1000001", "address": "東京都千代田区千代田１－８", "phone": "080-5555-0303",
      "tax_certificate_type": "shotoku", "tax_fiscal_year": 2026, "tax_copies": 1, "tax_purpose": "housing"},
     Source.LICENCE, "driving_licence"),
]


def _log(db, config, app: Application, *, actor: str, counterparty: str, purpose: str, payload) -> None:
    xlog.append(db, config, actor=actor, counterparty=counterparty, purpose=purpose, application_id=app.id,
                payload=payload, result="ok", person=xlog.Person.of(app.data))


def add_demo_data(config, db) -> int:
    """Add the forwarded demo applications; returns how many."""
    catalogue = get_catalogue()
    store = ApplicationStore(db)
    kiosk = f"kiosk:{config.kiosk.kiosk_id}"
    apps = []
    with write(db):
        for form, source, first_counterparty in DEMO_FORWARDED:
            procs, values = parse_application(form, catalogue)
            channel = "prereg" if source is Source.QR else "kiosk"
            app = Application.create(procs, values, source, actor=kiosk, channel=channel)
            # The first disclosure: the card read at the kiosk, or the pre-registration fetched.
            purpose = "prereg_fetch" if source is Source.QR else "card_read"
            _log(db, config, app, actor=kiosk, counterparty=first_counterparty, purpose=purpose,
                 payload=app.to_json_form())
            app.transition(State.SUBMITTED, actor=kiosk)
            app.transition(State.PRINTED, actor=kiosk)
            store.save(app)
            _log(db, config, app, actor=kiosk, counterparty=f"printer:{config.devices.printer}", purpose="print",
                 payload=app.to_json_form())
            _log(db, config, app, actor=CLERK, counterparty=CLERK, purpose="clerk_view",
                 payload=app.to_json_form())
            outbox.confirm(db, app, actor=CLERK)
            apps.append(app)
        rows = [r for app in apps for r in outbox.pending_for(db, app.id)]
        if config.backend.mode == "file":
            # Really delivered: the files land in [backend].folder like any other record's.
            forwarder = forwarding.Forwarder(config, db=db)
            for row in rows:
                forwarder.deliver(row)
        else:
            # Never send made-up people to a real core system: record them as delivered here.
            for row in rows:
                forwarding.record_delivery(db, config, row, "demo:not-sent", forwarding.document(row))
    return len(apps)


__all__ = ["add_demo_data", "DEMO_FORWARDED"]
