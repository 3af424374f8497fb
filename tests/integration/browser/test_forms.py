"""Page forms without a browser's help: CSRF is required on every form, and unknown pages answer in French."""

from __future__ import annotations

import re

import httpx

from tests.support.browser import make_user


def _signed_in(base: str, username: str, password: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, follow_redirects=False)
    form = client.get("/connexion")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    answer = client.post(
        "/connexion", data={"csrf_token": csrf.group(1), "next": "/", "username": username, "password": password}
    )
    assert answer.status_code == 303
    page = client.get("/file/eps:paris-13")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert page.status_code == 200 and token is not None
    return client, token.group(1)


def test_a_form_without_its_csrf_token_is_refused_in_french(live_server: str) -> None:
    person = make_user("coordinator", ["mus"])
    client, token = _signed_in(live_server, person.username, person.password)
    try:
        refused = client.post("/meteo", data={"kind": "canicule", "level": "1"})
        assert refused.status_code == 403
        assert "text/html" in refused.headers["content-type"] and "Accès refusé" in refused.text
        assert "Aucun plan météo en vigueur." in client.get("/meteo").text
        forged = client.post("/meteo", data={"kind": "canicule", "level": "1", "csrf_token": "x" * 43})
        assert forged.status_code == 403
        done = client.post("/meteo", data={"kind": "canicule", "level": "1", "csrf_token": token})
        assert done.status_code == 303 and done.headers["location"] == "/meteo?fait=set"
        assert "Canicule, niveau 1" in client.get("/meteo").text
    finally:
        client.close()


def test_an_unknown_page_is_a_french_page_for_browsers(live_server: str) -> None:
    answer = httpx.get(f"{live_server}/nulle-part", headers={"Accept": "text/html"})
    assert answer.status_code == 404 and "Page introuvable" in answer.text
    assert '<html lang="fr">' in answer.text
    api = httpx.get(f"{live_server}/v1/nulle-part", headers={"Accept": "text/html"})
    assert api.headers["content-type"].startswith("application/problem+json")
