import pytest
import requests

from web import create_app


@pytest.mark.parametrize("surface", ["prereg", "kiosk", "counter"])
def test_only_the_asked_surface_is_registered(config, surface):
    app = create_app(config, surface)
    client = app.test_client()
    # A browser that is not the kiosk's own gets the kiosk's "this is not a kiosk" page.
    assert client.get(f"/{surface}/").status_code == (403 if surface == "kiosk" else 200)
    for other in {"prereg", "kiosk", "counter"} - {surface}:
        assert client.get(f"/{other}/").status_code == 404


def test_all_in_one_home_links_every_surface(client):
    page = client.get("/").get_data(as_text=True)
    assert "/prereg/" in page and "/kiosk/" in page and "/counter/" in page


def test_security_headers_and_no_store(client):
    r = client.get("/")
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in r.headers["Content-Security-Policy"]
    assert r.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in r.headers


def test_language_switch_is_remembered(client):
    r = client.get("/?lang=en")
    assert 'lang="en"' in r.get_data(as_text=True)
    assert "lang=en" in r.headers["Set-Cookie"]
    assert 'lang="en"' in client.get("/").get_data(as_text=True)


def test_post_without_csrf_token_is_refused(app):
    @app.post("/echo")
    def echo():
        return "ok"
    assert app.test_client().post("/echo").status_code == 400


def test_serve_runs_all_surfaces(live_server):
    import re
    server = live_server("all")
    for surface in ("prereg", "counter"):
        assert requests.get(f"{server.url}/{surface}/", timeout=5).status_code == 200
    kiosk = requests.Session()
    assert kiosk.get(f"{server.url}/kiosk/", timeout=5).status_code == 403      # not the kiosk's browser yet
    # With the embedded demo's emulated reader, serve prints a URL that makes a browser the kiosk.
    url = re.search(r"open (http://\S+/kiosk/pair\?code=\S+)", server.output()).group(1)
    page = kiosk.get(url, timeout=5).text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    code = url.split("code=", 1)[1]
    kiosk.post(f"{server.url}/kiosk/pair", data={"csrf_token": csrf, "code": code}, timeout=5)
    assert kiosk.get(f"{server.url}/kiosk/", timeout=5).status_code == 200
