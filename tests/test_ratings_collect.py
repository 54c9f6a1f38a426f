"""Ratings given on a separate prereg server reach the office's figures: collected over the prereg
API with the office key, forgotten there once the office has them, never lost or counted twice."""
from __future__ import annotations

from datetime import date

import pytest
import requests

from core import satisfaction
from core.config import load_config
from core.keys import office_api_key
from core.sealed import PreregUnavailable
from core.store.db import open_from_config
from tests.conftest import test_overrides as overrides_in
from tests.helpers import write_config


@pytest.fixture
def servers(live_server, config_file, tmp_path):
    prereg = live_server("prereg")
    prereg_config = load_config(config_file, base_dir=tmp_path)
    office_dir = tmp_path / "office"
    office_dir.mkdir()
    overrides = overrides_in(office_dir)
    overrides["keys"]["office_api_key"] = office_api_key(prereg_config)
    overrides["prereg"] = {"server_url": prereg.url}
    office = load_config(write_config(office_dir / "config.toml", overrides), base_dir=office_dir)
    return prereg, prereg_config, office


def test_the_office_collects_the_prereg_servers_ratings_once(servers):
    prereg, prereg_config, office = servers
    prereg_db, office_db = open_from_config(prereg_config), open_from_config(office)
    for score in (5, 4, 2):
        satisfaction.rate(prereg_db, channel="prereg", score=score, comment="早かった" if score == 5 else "")
    assert satisfaction.collect_from_prereg(office, office_db) == 3
    today = date.today()
    found = satisfaction.summary(office_db, date(today.year - 1, 1, 1), date(today.year + 1, 1, 1))
    assert found.by_channel == {"kiosk": 0, "prereg": 3} and found.counts[5] == 1 and found.counts[2] == 1
    assert [c for _day, _score, c in found.comments] == ["早かった"]
    assert satisfaction.uncollected(prereg_db) == []              # forgotten there once kept here
    assert satisfaction.collect_from_prereg(office, office_db) == 0


def test_a_batch_collected_twice_is_kept_once(servers):
    prereg, prereg_config, office = servers
    prereg_db, office_db = open_from_config(prereg_config), open_from_config(office)
    satisfaction.rate(prereg_db, channel="prereg", score=4)
    rows = satisfaction.uncollected(prereg_db)
    # The office kept them but its acknowledgement was lost: the next collection sends them again.
    assert satisfaction.keep_collected(office_db, rows) == [rows[0]["id"]]
    assert satisfaction.collect_from_prereg(office, office_db) == 1
    assert office_db.execute("SELECT COUNT(*) FROM ratings").fetchone()[0] == 1


def test_a_down_or_refusing_prereg_server_loses_nothing(servers):
    prereg, prereg_config, office = servers
    prereg_db, office_db = open_from_config(prereg_config), open_from_config(office)
    satisfaction.rate(prereg_db, channel="prereg", score=3)
    wrong_key = office.replace({"keys": {"office_api_key": "not-the-key-" + "x" * 20}})
    with pytest.raises(PreregUnavailable) as e:
        satisfaction.collect_from_prereg(wrong_key, office_db)
    assert e.value.code == "prereg_unauthorized"
    prereg.stop()
    with pytest.raises(PreregUnavailable):
        satisfaction.collect_from_prereg(office, office_db, timeout=2)
    assert office_db.execute("SELECT COUNT(*) FROM ratings").fetchone()[0] == 0
    assert len(satisfaction.uncollected(prereg_db)) == 1


def test_the_ratings_api_needs_the_office_key_and_refuses_bad_bodies(servers):
    prereg, prereg_config, _office = servers
    assert requests.get(prereg.url + "/prereg/api/v1/ratings", timeout=10).status_code == 401
    key = {"Authorization": f"Bearer {office_api_key(prereg_config)}"}
    for body in ({"ids": "abc"}, {"ids": {"a": 1}}, [1, 2]):
        r = requests.post(prereg.url + "/prereg/api/v1/ratings/collected", json=body, headers=key, timeout=10)
        assert r.status_code == 422, body
    r = requests.post(prereg.url + "/prereg/api/v1/ratings/collected", json={"ids": ["'; DROP TABLE ratings; --"]},
                      headers=key, timeout=10)
    assert r.status_code == 200 and r.json() == {"deleted": 0}
    assert requests.get(prereg.url + "/prereg/api/v1/ratings", headers=key, timeout=10).json() == {"ratings": []}
