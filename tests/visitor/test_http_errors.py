"""Unknown paths and wrong methods: a page in the visitor's language, JSON for API clients."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient


def test_an_unknown_path_gives_a_chinese_page_to_a_chinese_phone(
    app: Flask, client: FlaskClient
) -> None:
    response = client.get("/nonexistent", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "这里没有页面" in html and "Not Found" not in html
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_an_unknown_path_in_english_and_the_language_switch_works(
    app: Flask, client: FlaskClient
) -> None:
    html = client.get("/nonexistent").get_data(as_text=True)
    assert "There is no page here" in html
    assert 'href="?lang=zh"' in html
    assert "这里没有页面" in client.get("/nonexistent?lang=zh").get_data(as_text=True)


def test_a_wrong_method_gives_a_localized_405_with_allow(app: Flask, client: FlaskClient) -> None:
    response = client.post("/healthz", headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert "不能这样使用" in response.get_data(as_text=True)
    english = client.delete("/healthz")
    assert english.status_code == 405
    assert "This page cannot be used that way" in english.get_data(as_text=True)


def test_api_clients_get_json_for_404_and_405(app: Flask, client: FlaskClient) -> None:
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"
    asked = client.get("/nonexistent", headers={"Accept": "application/json"})
    assert asked.status_code == 404 and asked.get_json()["error"]["code"] == "not_found"
    wrong = client.get("/api/v1/device/events")
    assert wrong.status_code == 405
    assert wrong.get_json()["error"]["code"] == "method_not_allowed"
    assert "POST" in wrong.headers["Allow"]
