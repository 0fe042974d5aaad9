"""Static files: versioned URLs cached for a year, gzip when accepted, lean 304s and polls."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path
from urllib.parse import unquote

from flask import Flask, render_template_string
from flask.testing import FlaskClient

from backend import static_files
from backend.security_headers import HSTS
from tests.factories import make_dispenser, make_site
from tests.visitor.helpers import landing, tap_get_paper, token_page

STATIC = Path(static_files.__file__).resolve().parent / "static"
YEAR = "public, max-age=31536000, immutable"


def _version(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[: static_files.VERSION_LENGTH]


def _static_urls(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', html)


def test_pages_link_static_files_by_the_hash_of_their_bytes(
    app: Flask, client: FlaskClient
) -> None:
    dispenser = make_dispenser(make_site())
    tap_get_paper(client, dispenser)
    html = token_page(client, dispenser).get_data(as_text=True)
    css, js = STATIC / "visitor/visitor.css", STATIC / "visitor/visitor.js"
    assert sorted(_static_urls(html)) == [
        f"/static/visitor/visitor.css?v={_version(css)}",
        f"/static/visitor/visitor.js?v={_version(js)}",
    ]


def test_the_icon_is_inlined_as_a_data_uri_the_policy_allows(
    app: Flask, client: FlaskClient
) -> None:
    response = landing(client, make_dispenser(make_site()))
    html = response.get_data(as_text=True)
    href = re.search(r'<link rel="icon" href="([^"]+)"', html)
    assert href is not None
    prefix = "data:image/svg+xml,"
    assert href.group(1).startswith(prefix)
    icon = (STATIC / "visitor/icon.svg").read_text(encoding="utf-8")
    assert unquote(href.group(1).removeprefix(prefix)) == icon
    csp = response.headers["Content-Security-Policy"]
    assert "img-src 'self' data:" in csp and "unsafe-inline" not in csp


def test_a_versioned_file_is_cached_for_a_year_and_never_revalidated(
    app: Flask, client: FlaskClient
) -> None:
    css = STATIC / "visitor/visitor.css"
    response = client.get(f"/static/visitor/visitor.css?v={_version(css)}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == YEAR
    assert response.mimetype == "text/css"
    assert response.data == css.read_bytes()
    # Still a static file like any other: the app's security headers are on it.
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Strict-Transport-Security"] == HSTS


def test_text_is_gzipped_when_accepted_and_sent_as_is_when_not(
    app: Flask, client: FlaskClient
) -> None:
    js = STATIC / "visitor/visitor.js"
    url = f"/static/visitor/visitor.js?v={_version(js)}"
    packed = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert gzip.decompress(packed.data) == js.read_bytes()
    assert int(packed.headers["Content-Length"]) == len(packed.data) < len(js.read_bytes()) / 2
    for accept in ({}, {"Accept-Encoding": "identity"}, {"Accept-Encoding": "gzip;q=0, br"}):
        plain = client.get(url, headers=accept)
        assert "Content-Encoding" not in plain.headers, accept
        assert "Accept-Encoding" in plain.headers["Vary"]
        assert plain.data == js.read_bytes()
        # Different bytes, different validators: a cache never mixes the two up.
        assert plain.headers["ETag"] != packed.headers["ETag"]


def test_unversioned_and_stale_urls_are_still_served_never_for_long(
    app: Flask, client: FlaskClient
) -> None:
    """Unversioned: kept briefly. Another version's URL (during a rolling deploy, a task
    still on the old files asked for the new ones): served, but never kept under it."""
    css = (STATIC / "visitor/visitor.css").read_bytes()
    for url, cache in (
        ("/static/visitor/visitor.css", "public, max-age=300"),
        ("/static/visitor/visitor.css?v=000000000000", "no-store"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.data == css
        assert response.headers["Cache-Control"] == cache, url


def test_revalidation_answers_304_without_the_body_or_the_security_headers(
    app: Flask, client: FlaskClient
) -> None:
    first = client.get("/static/visitor/visitor.css", headers={"Accept-Encoding": "gzip"})
    again = client.get(
        "/static/visitor/visitor.css",
        headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["ETag"]},
    )
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Cache-Control"] == "public, max-age=300"
    # The browser keeps the stored 200's headers: repeating them would only cost bytes.
    assert "Content-Security-Policy" not in again.headers
    assert "Strict-Transport-Security" not in again.headers


def test_unknown_static_files_and_paths_out_of_the_folder_are_not_found(
    app: Flask, client: FlaskClient
) -> None:
    for url in ("/static/visitor/nothing.css", "/static/../__init__.py", "/static/visitor/"):
        assert client.get(url).status_code == 404, url


def _tiny_app(folder: Path) -> Flask:
    tiny = Flask("tiny", static_folder=str(folder), static_url_path="/static")
    static_files.init_app(tiny)
    return tiny


def _url(tiny: Flask, filename: str) -> str:
    with tiny.test_request_context():
        return render_template_string("{{ url_for('static', filename=f) }}", f=filename)


def test_a_changed_file_gets_a_new_url_and_the_old_one_no_longer_caches(tmp_path: Path) -> None:
    (tmp_path / "a.css").write_text("body { color: black; }\n", encoding="utf-8")
    old = _tiny_app(tmp_path)
    old_url = _url(old, "a.css")
    (tmp_path / "a.css").write_text("body { color: navy; }\n", encoding="utf-8")
    new = _tiny_app(tmp_path)  # a deploy: the app is built afresh
    new_url = _url(new, "a.css")
    assert old_url.startswith("/static/a.css?v=") and new_url.startswith("/static/a.css?v=")
    assert new_url != old_url
    client = new.test_client()
    assert client.get(new_url).headers["Cache-Control"] == YEAR
    # A page from before the deploy still gets the file, but its URL no longer names
    # these bytes, so they are not kept for a year under it.
    stale = client.get(old_url)
    assert stale.data == b"body { color: navy; }\n"
    assert stale.headers["Cache-Control"] == "no-store"


def test_files_too_small_to_gain_are_never_gzipped(tmp_path: Path) -> None:
    (tmp_path / "tiny.css").write_text("a{}", encoding="utf-8")
    response = (
        _tiny_app(tmp_path)
        .test_client()
        .get("/static/tiny.css", headers={"Accept-Encoding": "gzip"})
    )
    assert response.data == b"a{}"
    assert "Content-Encoding" not in response.headers and "Vary" not in response.headers


def test_an_unchanged_poll_answer_is_a_bare_304(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    tap_get_paper(client, dispenser)
    url = f"/d/{dispenser.public_id}/token/status"
    first = client.get(url)
    assert first.status_code == 200 and first.mimetype == "application/json"
    # The JSON loads nothing: the app's strictest policy, not the pages' longer one.
    assert first.headers["Content-Security-Policy"].startswith("default-src 'none';")
    assert "script-src" not in first.headers["Content-Security-Policy"]
    for name in ("X-Content-Type-Options", "Cross-Origin-Resource-Policy", "X-Frame-Options"):
        assert name in first.headers, name
    again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    # What a 304 must repeat (RFC 9110 section 15.4.5), and nothing more of ours.
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Cache-Control"] == "private, no-cache"
    assert again.headers["Vary"] == "Cookie"
    for name in ("Content-Security-Policy", "Permissions-Policy", "Strict-Transport-Security"):
        assert name not in again.headers, name


def test_pages_and_redirects_keep_the_page_policy(app: Flask, client: FlaskClient) -> None:
    dispenser = make_dispenser(make_site())
    posted = tap_get_paper(client, dispenser)
    page = token_page(client, dispenser)
    for response in (posted, page):
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store"
        # Pages carry secrets (the code, the form's token): never compressed.
        assert "Content-Encoding" not in response.headers
