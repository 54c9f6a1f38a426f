"""The resident's status page in headless Chromium at phone size, against `madoguchi serve`:
the QR's own URL opens it, and its steps advance as the office prints and confirms."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import requests
import zxingcpp

from core import outbox
from core.application import Application, Source, State
from core.config import load_config
from core.services.prereg import open_preregistration
from core.store.applications import ApplicationStore
from core.store.db import open_from_config
from tests.fixtures_browser import assert_accessible
from tests.test_prereg_api import FORM

pytestmark = pytest.mark.browser


def marks(page) -> dict[str, str]:
    items = page.locator("ol.progress-steps li")
    return {items.nth(i).get_attribute("data-step"): items.nth(i).get_attribute("data-mark")
            for i in range(items.count())}


def test_the_status_page_advances_as_the_office_prints_and_confirms(axe_page, live_server, config_file, tmp_path,
                                                                   output_dir):
    page, shots = axe_page, output_dir / "progress"
    shots.mkdir(parents=True, exist_ok=True)
    server = live_server("all")
    body = requests.post(server.url + "/prereg/api/v1/applications", json=FORM, timeout=10).json()
    png = requests.get(body["qr_png_url"].replace("http://localhost", server.url),
                       headers={"Authorization": f"Bearer {body['token']}"}, timeout=10).content
    [url] = [b.text for b in zxingcpp.read_barcodes(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE))]
    assert url.startswith("HTTP://127.0.0.1:") and url.endswith("/S/" + body["token"])

    page.goto(url + "?lang=en")                 # what a phone camera opens
    assert page.locator("h1").inner_text() == "Your application's progress"
    assert "has not received it yet" in page.locator("main").inner_text()
    assert marks(page) == {"received": "pending", "printed": "pending", "confirmed": "pending",
                           "forwarded": "pending"}
    page.screenshot(path=str(shots / "status-1-sent.png"), full_page=True)
    assert_accessible(page)

    config = load_config(config_file, base_dir=tmp_path)
    db = open_from_config(config)
    try:
        opened = open_preregistration(db, config, body["token"], actor="kiosk:kiosk-1")
        app = Application.create(["juminhyo"], {k: v for k, v in opened.form.items() if k != "procedures"},
                                 Source.QR, actor="kiosk:kiosk-1", channel="kiosk", application_id=opened.app_id)
        app.transition(State.SUBMITTED, "kiosk:kiosk-1")
        app.transition(State.PRINTED, "kiosk:kiosk-1")
        ApplicationStore(db).save(app)
        page.reload()
        assert marks(page) == {"received": "done", "printed": "current", "confirmed": "pending",
                               "forwarded": "pending"}
        assert FORM["name"] not in page.content()
        page.screenshot(path=str(shots / "status-2-printed.png"), full_page=True)

        outbox.confirm(db, ApplicationStore(db).get(app.id), "clerk:sato")
        page.goto(url + "?lang=ja")
        assert page.locator("h1").inner_text() == "申請の進み具合"
        assert marks(page)["confirmed"] == "current" and "確認済" in page.locator("main").inner_text()
        assert page.locator("li[data-step=confirmed] .progress-step__time").inner_text().startswith("20")
        page.screenshot(path=str(shots / "status-3-confirmed.png"), full_page=True)
        assert_accessible(page)
    finally:
        db.conn.close()
