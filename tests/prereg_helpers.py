"""Walking the prereg wizard with Flask's test client, as a browser without JavaScript would."""
from __future__ import annotations

import re
from urllib.parse import urlparse

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


class Walker:
    def __init__(self, client, lang: str = "ja"):
        self.client = client
        self.client.get(f"/prereg/?lang={lang}")
        self.page = ""
        self.path = "/prereg/"

    def get(self, path: str) -> str:
        r = self.client.get(path)
        assert r.status_code == 200, (path, r.status_code)
        self.page, self.path = r.get_data(as_text=True), path
        return self.page

    def post(self, data: dict, path: str | None = None, follow: bool = True, expect: int | None = None):
        path = path or self.path
        token = CSRF_RE.search(self.page)
        assert token, f"no form on {self.path}"
        r = self.client.post(path, data={"csrf_token": token.group(1), **data})
        if expect is not None:
            assert r.status_code == expect, (path, r.status_code, r.get_data(as_text=True)[:2000])
            self.page = r.get_data(as_text=True)
            return r
        if r.status_code == 302 and follow:
            return self.get(urlparse(r.headers["Location"]).path)
        self.page = r.get_data(as_text=True)
        return r

    def at(self) -> str:
        return self.path


GUIDE_Q_RE = re.compile(r'name="q" value="([a-z_]+)"')


def answer_guide(w: Walker, answers: dict[str, str] | None = None, limit: int = 10) -> list[str]:
    """Answer 手続きナビ's yes/no questions ("no" unless `answers` says otherwise) until the
    procedures page; returns the ids asked, in order."""
    asked = []
    for _ in range(limit):
        if not w.at().endswith("/prereg/guide"):
            return asked
        qid = GUIDE_Q_RE.search(w.page).group(1)
        asked.append(qid)
        w.post({"q": qid, "answer": (answers or {}).get(qid, "no")})
    raise AssertionError("the guide did not end")


def date_parts(name: str, y, m, d, era: str = "western") -> dict:
    return {f"{name}__era": era, f"{name}__year": str(y), f"{name}__month": str(m), f"{name}__day": str(d)}


def answer_all(w: Walker, answers: dict, members: list[dict] | None = None, limit: int = 60) -> None:
    """Answer questions until the check page, from `answers` keyed by field name."""
    for _ in range(limit):
        if w.at().endswith("/check"):
            return
        m = re.search(r"/prereg/q/([a-z_]+)$", w.at())
        assert m, f"unexpected page {w.at()}"
        name = m.group(1)
        if name == "household":
            if members:
                for person in members:
                    w.post({"add": "yes"})
                    w.post(person)
                    assert w.at().endswith("/q/household"), w.page[:3000]
                members = None
            w.post({"add": "no"})
            continue
        assert name in answers, f"no answer for {name}"
        before = w.at()
        w.post(answers[name])
        assert w.at() != before, f"stayed on {name}: {re.findall(r'error-message[^>]*>(.*?)</p>', w.page, re.S)}"
    raise AssertionError("too many questions")
