"""Requests a hostile or careless client sends, one row each: the answer is the expected 4xx, a problem document
(or a French page for the pages), naming the field when there is one. Never a 500.

Each row was found by probing the running API; several answered 500 before (marked « 500 avant »)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from services.core.models import Signal
from tests.integration.conftest import TokenFactory
from tests.integration.test_intake import count

JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}
NO_SITUATION = "00000000-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class Row:
    name: str
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str | bytes] = field(default_factory=lambda: dict(JSON))
    status: int = 422
    field: str | None = None  # the field the problem must name
    rule: str | None = None
    caller: str | None = "admin"  # the role of the token sent, None for none
    page: bool = False  # a French page rather than a problem document


def signal(**changes: Any) -> bytes:
    body: dict[str, Any] = {"location": {"arrondissement": 13}, "source": "maraude", "people": {"adults": 1}}
    body.update(changes)
    return json.dumps(body).encode()


def cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def forged_cursors() -> list[tuple[str, str]]:
    return [
        ("un NUL dans l'id", cursor(json.dumps(["2026-01-14T00:00:00+00:00", "a\u0000b"]).encode())),  # 500 avant
        ("un demi-substitut dans l'id", cursor(b'["2026-01-14T00:00:00+00:00", "a\\ud800"]')),  # 500 avant
        ("pas du base64", "!!!%2A%2A%2A"),
        ("base64 d'autre chose que du JSON", cursor(b"\xff\xfe\x00")),
        ("un objet", cursor(b'{"a": 1, "b": 2}')),  # a pair of keys once unpacked as a pair
        ("trois éléments", cursor(b'["2026-01-14T00:00:00+00:00", "a", "b"]')),
        ("un id qui n'est pas un texte", cursor(b'["2026-01-14T00:00:00+00:00", [1]]')),
        ("une date de l'an 1", cursor(b'["0001-01-01T00:00:00+01:00", "a"]')),
        ("une date sans décalage", cursor(b'["2026-01-14T00:00:00", "a"]')),
        ("une imbrication profonde", cursor(b"[" * 3000 + b"]" * 3000)),  # 500 avant
        ("un nombre démesuré", cursor(b"[" + b"9" * 5000 + b", 1]")),
        ("vide", ""),
    ]


ROWS: list[Row] = [
    # Instants (contract 1.1): between 2000-01-01 and 10 minutes after reception.
    Row(
        "observed_at an 1",
        "POST",
        "/v1/signals",
        signal(observed_at="0001-01-01T00:00:00+01:00"),
        field="observed_at",
        rule="too_early",
        caller="outreach",
    ),  # 202 avant, puis 500 en lecture
    Row(
        "observed_at an 1 -01:00",
        "POST",
        "/v1/signals",
        signal(observed_at="0001-01-01T00:00:00-01:00"),
        field="observed_at",
        rule="too_early",
        caller="outreach",
    ),
    Row(
        "observed_at 1999",
        "POST",
        "/v1/signals",
        signal(observed_at="1999-12-31T23:59:59Z"),
        field="observed_at",
        rule="too_early",
        caller="outreach",
    ),
    Row(
        "observed_at an 9999",
        "POST",
        "/v1/signals",
        signal(observed_at="9999-12-31T23:59:59-23:59"),
        field="observed_at",
        rule="not_future",
        caller="outreach",
    ),
    Row(
        "observed_at en secondes",
        "POST",
        "/v1/signals",
        signal(observed_at=1700000000),
        field="observed_at",
        rule="datetime_type",
        caller="outreach",
    ),
    Row(
        "observed_at chiffres",
        "POST",
        "/v1/signals",
        signal(observed_at="1700000000"),
        field="observed_at",
        rule="datetime_parsing",
        caller="outreach",
    ),
    Row("observed_at 10^20", "POST", "/v1/signals", signal(observed_at=10**20), field="observed_at", caller="outreach"),
    Row(
        "contact an 1",
        "POST",
        f"/v1/situations/{NO_SITUATION}/contacts",
        b'{"result": "met", "at": "0001-01-01T00:00:00+01:00"}',
        field="at",
        rule="too_early",
    ),
    Row(
        "contact demain",
        "POST",
        f"/v1/situations/{NO_SITUATION}/contacts",
        b'{"result": "met", "at": "2999-01-01T00:00:00Z"}',
        field="at",
        rule="not_future",
    ),
    Row(
        "opened_from an 1",
        "GET",
        "/v1/situations?opened_from=0001-01-01T00:00:00%2B01:00",
        field="opened_from",
        rule="too_early",
    ),
    Row(
        "opened_to an 9999",
        "GET",
        "/v1/situations?opened_to=9999-12-31T23:59:59-23:59",
        field="opened_to",
        rule="not_future",
    ),
    Row("opened_to démesuré", "GET", "/v1/situations?opened_to=" + "9" * 5000, field="opened_to"),
    Row(
        "expiration d'un jeton passée",
        "POST",
        "/v1/tokens",
        b'{"role": "analyst", "expires_at": "0001-01-01T00:00:00+01:00"}',
        field="expires_at",
        rule="not_past",
    ),
    Row(
        "expiration d'un jeton an 9999",
        "POST",
        "/v1/tokens",
        b'{"role": "analyst", "expires_at": "9999-12-31T23:59:59-05:00"}',
        field="expires_at",
        rule="too_late",
    ),
    Row(
        "expiration d'un jeton sans décalage",
        "POST",
        "/v1/tokens",
        b'{"role": "analyst", "expires_at": "2030-01-01T00:00:00"}',
        field="expires_at",
        rule="timezone_aware",
    ),
    # JSON: nesting, NUL, encodings, numbers.
    Row(
        "imbrication profonde avec un NUL",
        "POST",
        "/v1/signals",
        b"[" * 5000 + b'"\\u0000"' + b"]" * 5000,
        field="(corps)",
        rule="max_depth",
        caller="outreach",
    ),  # 500 avant
    Row(
        "imbrication profonde",
        "POST",
        "/v1/signals",
        b"[" * 30000 + b"]" * 30000,
        field="(corps)",
        rule="max_depth",
        caller="outreach",
    ),
    Row(
        "objets imbriqués",
        "POST",
        "/v1/signals",
        b'{"a":' * 10000 + b"1" + b"}" * 10000,
        field="(corps)",
        rule="max_depth",
        caller="outreach",
    ),
    Row(
        "33 niveaux",
        "POST",
        "/v1/signals",
        b'{"description": ' + b"[" * 33 + b"]" * 33 + b"}",
        field="(corps)",
        rule="max_depth",
        caller="outreach",
    ),
    Row("NUL dans une clé", "POST", "/v1/signals", b'{"a\\u0000b": 1}', field="ab", rule="no_nul", caller="outreach"),
    Row(
        "demi-substitut dans un mot de passe",
        "POST",
        "/v1/users",
        b'{"username": "abc", "password": "\\ud800 assez long pour passer", "role": "analyst"}',
        field="password",
        rule="string_unicode",
    ),  # 500 avant
    Row(
        "demi-substitut dans une clé",
        "POST",
        "/v1/signals",
        b'{"\\udc00": 1}',
        rule="string_unicode",
        caller="outreach",
    ),
    Row("UTF-16 avec BOM", "POST", "/v1/signals", signal().decode().encode("utf-16"), status=415, caller="outreach"),
    Row(
        "UTF-16-LE avec un NUL",
        "POST",
        "/v1/signals",
        signal(description="a\u0000").decode().encode("utf-16-le"),
        status=415,
        caller="outreach",
    ),  # 500 avant
    Row("UTF-16-BE", "POST", "/v1/signals", signal().decode().encode("utf-16-be"), status=415, caller="outreach"),
    Row("UTF-32", "POST", "/v1/signals", signal().decode().encode("utf-32"), status=415, caller="outreach"),
    Row(
        "Latin-1",
        "POST",
        "/v1/signals",
        signal(description="X").replace(b"X", b"caf\xe9"),
        status=415,
        caller="outreach",
    ),
    Row(
        "UTF-8 de substituts",
        "POST",
        "/v1/signals",
        signal(description="X").replace(b"X", b"\xed\xa0\x80"),
        status=415,
        caller="outreach",
    ),
    Row(
        "charset=utf-16 annoncé",
        "POST",
        "/v1/signals",
        signal(),
        headers={"content-type": "application/json; charset=utf-16"},
        status=415,
        caller="outreach",
    ),
    Row(
        "charset=latin-1 annoncé",
        "PUT",
        "/v1/weather-plan",
        b'{"kind": "grand_froid", "level": 1}',
        headers={"content-type": "application/json; charset=ISO-8859-1"},
        status=415,
    ),
    Row(
        "text/plain",
        "POST",
        "/v1/signals",
        signal(),
        headers={"content-type": "text/plain"},
        status=415,
        caller="outreach",
    ),
    Row(
        "formulaire sur l'API",
        "POST",
        "/v1/signals",
        b"source=maraude",
        headers=dict(FORM),
        status=415,
        caller="outreach",
    ),
    Row(
        "multipart sur l'API",
        "POST",
        "/v1/tokens",
        b"--x\r\n\r\n--x--\r\n",
        headers={"content-type": "multipart/form-data; boundary=x"},
        status=415,
    ),
    Row(
        "application/xml",
        "PUT",
        "/v1/weather-plan",
        b"<plan/>",
        headers={"content-type": "application/xml"},
        status=415,
    ),
    Row(
        "entier de 5000 chiffres",
        "POST",
        "/v1/signals",
        b'{"location": {"arrondissement": 1' + b"0" * 5000 + b'}, "source": "maraude", "people": {"adults": 1}}',
        status=400,
        caller="outreach",
    ),
    Row(
        "1e400",
        "POST",
        "/v1/signals",
        b'{"location": {"lat": 1e400, "lon": 2.3}, "source": "maraude", "people": {"adults": 1}}',
        field="location.lat",
        caller="outreach",
    ),
    Row(
        "NaN",
        "POST",
        "/v1/signals",
        b'{"location": {"lat": NaN, "lon": 2.3}, "source": "maraude", "people": {"adults": 1}}',
        field="location.lat",
        caller="outreach",
    ),
    Row(
        "-Infinity",
        "POST",
        "/v1/signals",
        b'{"location": {"lat": -Infinity, "lon": 2.3}, "source": "maraude", "people": {"adults": 1}}',
        field="location.lat",
        caller="outreach",
    ),
    Row("entier en flottant", "PUT", "/v1/weather-plan", b'{"kind": "grand_froid", "level": 1.5}', field="level"),
    Row("niveau 1e400", "PUT", "/v1/weather-plan", b'{"kind": "grand_froid", "level": 1e400}', field="level"),
    Row(
        "nombre d'adultes négatif",
        "POST",
        "/v1/signals",
        signal(people={"adults": -1}),
        field="people.adults",
        caller="outreach",
    ),
    Row(
        "booléen pour un nombre",
        "POST",
        "/v1/signals",
        signal(people={"adults": True}),
        field="people.adults",
        caller="outreach",
    ),
    Row("texte démesuré", "POST", "/v1/signals", signal(description="é" * 40_000), status=413, caller="outreach"),
    Row(
        "description trop longue",
        "POST",
        "/v1/signals",
        signal(description="x" * 4001),
        field="description",
        caller="outreach",
    ),
    Row(
        "liste de 100 000 drapeaux",
        "POST",
        "/v1/signals",
        signal(flags=["camp"] * 10_000),
        status=413,
        caller="outreach",
    ),
    Row("JSON tronqué", "POST", "/v1/signals", b'{"source": "mar', status=400, caller="outreach"),
    Row("BOM UTF-8 puis rien", "POST", "/v1/signals", b"\xef\xbb\xbf", status=400, caller="outreach"),
    Row("corps vide", "POST", "/v1/signals", b"", field="(corps)", caller="outreach"),
    Row("liste au lieu d'objet", "POST", "/v1/signals", b"[]", field="(corps)", caller="outreach"),
    Row(
        "clé en double invalide",
        "POST",
        "/v1/signals",
        b'{"source": "maraude", "source": "voisin", "location": {"arrondissement": 13}, "people": {"adults": 1}}',
        field="source",
        caller="outreach",
    ),
    # Pagination cursors, forged.
    *(
        Row(f"curseur {name} (situations)", "GET", f"/v1/situations?cursor={value}", field="cursor")
        for name, value in forged_cursors()
    ),
    *(
        Row(f"curseur {name} (file)", "GET", f"/v1/queues/mus?cursor={value}", field="cursor")
        for name, value in forged_cursors()
    ),
    Row("curseur démesuré", "GET", "/v1/queues/mus?cursor=" + "A" * 10_000, field="cursor"),
    Row("curseur du journal non numérique", "GET", "/v1/audit?cursor=abc", field="cursor"),
    Row("limite démesurée", "GET", "/v1/situations?limit=" + "9" * 5000, field="limit"),
    Row("limite flottante", "GET", "/v1/situations?limit=1e3", field="limit"),
    Row("limite nulle", "GET", "/v1/queues/mus?limit=0", field="limit"),
    # Paths, queries and headers.
    Row("NUL dans le chemin", "GET", "/v1/signals/ab%00cd", field="(chemin)", rule="no_nul"),
    Row("NUL dans un paramètre", "GET", "/v1/situations?sector=%00", field="sector", rule="no_nul"),
    Row("NUL dans un nom de paramètre", "GET", "/v1/situations?a%00b=1", field="ab", rule="no_nul"),
    Row("remontée de chemin", "GET", "/v1/signals/../../etc/passwd", status=404),
    Row("remontée de chemin encodée", "GET", "/v1/signals/..%2F..%2Fetc%2Fpasswd", status=404),
    Row("id démesuré", "GET", "/v1/situations/" + "a" * 10_000, status=404),
    Row("id en demi-substitut", "GET", "/v1/signals/%ED%A0%80", status=404),
    Row("file inconnue", "GET", "/v1/queues/%ED%A0%80", status=404),
    Row("semestre de l'an 0", "GET", "/v1/stats/semesters/0000-S1", field="semester"),
    Row("semestre à 5 chiffres", "GET", "/v1/stats/semesters/99999-S1", field="semester"),
    Row("méthode inconnue", "PATCH", "/v1/weather-plan", b"{}", status=405),
    Row("route inconnue", "GET", "/v1/rien", status=404),
    Row(
        "Idempotency-Key non ASCII",
        "POST",
        "/v1/signals",
        signal(),
        headers={**JSON, "Idempotency-Key": "clé".encode("latin-1")},
        field="Idempotency-Key",
        caller="outreach",
    ),
    Row(
        "Idempotency-Key démesurée",
        "POST",
        "/v1/signals",
        signal(),
        headers={**JSON, "Idempotency-Key": "k" * 256},
        field="Idempotency-Key",
        caller="outreach",
    ),
    Row(
        "Authorization sans Bearer",
        "GET",
        "/v1/weather-plan",
        headers={"Authorization": "Basic YTpi"},
        status=401,
        caller=None,
    ),
    Row(
        "jeton de 10 000 caractères",
        "GET",
        "/v1/weather-plan",
        headers={"Authorization": "Bearer " + "x" * 10_000},
        status=401,
        caller=None,
    ),
    Row(
        "cookie de session forgé",
        "GET",
        "/v1/weather-plan",
        headers={"Cookie": "urgence_session=urs_%00%ff"},
        status=401,
        caller=None,
    ),
    Row(
        "cookie forgé pour une écriture",
        "POST",
        "/v1/signals",
        signal(),
        headers={**JSON, "Cookie": "urgence_session=" + "a" * 4000},
        status=401,
        caller=None,
    ),
    # Sign-in and sign-out forms: French pages.
    Row(
        "connexion avec 11 champs",
        "POST",
        "/connexion",
        "&".join(f"f{i}=1" for i in range(11)).encode(),
        headers=dict(FORM),
        status=400,
        caller=None,
        page=True,
    ),  # 500 avant
    Row(
        "déconnexion avec 11 champs",
        "POST",
        "/deconnexion",
        "&".join(f"f{i}=1" for i in range(11)).encode(),
        headers=dict(FORM),
        status=400,
        caller=None,
        page=True,
    ),  # 500 avant
    Row(
        "connexion avec un NUL brut",
        "POST",
        "/connexion",
        b"csrf_token=x&username=a\x00b&password=x",
        headers={**FORM, "Cookie": "urgence_csrf=x"},
        status=422,
        caller=None,
        page=True,
    ),  # 500 avant
    Row(
        "connexion avec un NUL encodé",
        "POST",
        "/connexion",
        b"csrf_token=x&username=a%00b&password=x",
        headers={**FORM, "Cookie": "urgence_csrf=x"},
        status=422,
        caller=None,
        page=True,
    ),
    Row(
        "connexion en Latin-1",
        "POST",
        "/connexion",
        b"csrf_token=x&username=caf\xe9&password=x",
        headers={**FORM, "Cookie": "urgence_csrf=x"},
        status=401,
        caller=None,
        page=True,
    ),
    Row(
        "connexion sans jeton CSRF",
        "POST",
        "/connexion",
        b"username=a&password=b",
        headers=dict(FORM),
        status=403,
        caller=None,
        page=True,
    ),
    Row("connexion en JSON", "POST", "/connexion", b'{"username": "a"}', status=403, caller=None, page=True),
    Row(
        "connexion en multipart",
        "POST",
        "/connexion",
        b"--x\r\n\r\n--x--\r\n",
        headers={"content-type": "multipart/form-data; boundary=x"},
        status=403,
        caller=None,
        page=True,
    ),
    Row(
        "déconnexion avec un NUL",
        "POST",
        "/deconnexion",
        b"csrf_token=%00",
        headers=dict(FORM),
        status=422,
        caller=None,
        page=True,
    ),
    Row(
        "page de connexion avec un NUL",
        "GET",
        "/connexion?next=%00",
        headers={"Accept": "text/html"},
        caller=None,
        page=True,
    ),
    Row(
        "déconnexion avec un jeton CSRF faux",
        "POST",
        "/deconnexion",
        b"csrf_token=faux",
        headers={**FORM, "Cookie": "urgence_session=urs_inconnu"},
        status=303,
        caller=None,
        page=False,
    ),
]


def idfn(row: Row) -> str:
    return row.name


@pytest.mark.parametrize("row", ROWS, ids=idfn)
def test_a_hostile_request_gets_its_4xx(client: TestClient, token: TokenFactory, row: Row) -> None:
    headers: dict[str, str | bytes] = dict(row.headers)
    if row.caller is not None:
        headers.update(token(row.caller, leads=["mus"] if row.caller == "coordinator" else None))
    # httpx takes bytes values too: hostile headers go as these very bytes.
    sent = cast(dict[str, str], headers)
    answer = client.request(row.method, row.path, headers=sent, content=row.body, follow_redirects=False)
    assert answer.status_code == row.status, answer.text[:500]
    if row.status == 303:
        return
    content_type = answer.headers["content-type"]
    if row.page:
        assert content_type.startswith("text/html"), content_type
        assert '<html lang="fr">' in answer.text
        return
    assert content_type.startswith("application/problem+json"), content_type
    problem = answer.json()
    assert problem["status"] == row.status and problem["title"] and problem["detail"]
    assert not any(english in problem["detail"] for english in ("Not Found", "error", "Error", "Method")), problem
    errors = problem.get("errors", [])
    if row.field is not None:
        assert row.field in {error["field"] for error in errors}, problem
    if row.rule is not None:
        assert row.rule in {error["rule"] for error in errors}, problem
    assert all(
        error["detail"] and "règle" not in error["detail"]
        for error in errors
        if error["rule"] in ("too_early", "not_future", "not_past", "too_late", "no_nul", "max_depth", "string_unicode")
    ), problem


def test_refused_instants_leave_nothing_behind(client: TestClient, token: TokenFactory) -> None:
    headers = {**token("outreach"), **JSON}
    for instant in ("0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00-01:00", "1999-12-31T23:59:59Z"):
        assert client.post("/v1/signals", content=signal(observed_at=instant), headers=headers).status_code == 422
    assert count(Signal) == 0
    # The bounds themselves are accepted: 2000-01-01 and a few minutes ahead of the server's clock.
    assert (
        client.post("/v1/signals", content=signal(observed_at="2000-01-01T00:00:00Z"), headers=headers).status_code
        == 202
    )
