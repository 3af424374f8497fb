"""POST /v1/signals: acceptance, validation as problem details, size limits, Idempotency-Key."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, func, select

from services.core.db import session_scope
from services.core.models import IdempotencyKey, OutboxMessage, Signal
from tests.integration.conftest import TokenFactory, family_13


def count(model: Any) -> int:
    with session_scope() as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_accepted_signal_is_stored_with_its_outbox_row_and_directives(client: TestClient, token: TokenFactory) -> None:
    answer = client.post("/v1/signals", json=family_13(flags=["child_in_danger"]), headers=token("outreach"))
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["status"] == "received"
    assert set(body["directives"]) == {"call_115", "call_119"}
    assert body["links"]["self"] == f"/v1/signals/{body['id']}"
    with session_scope() as session:
        signal = session.get(Signal, body["id"])
        assert signal is not None and signal.description == "Famille avec trois enfants"
        outbox = session.exec(select(OutboxMessage)).all()
    assert [m.payload for m in outbox] == [{"signal_id": body["id"]}]


def test_observed_at_defaults_to_reception_and_keeps_the_given_offset(client: TestClient, token: TokenFactory) -> None:
    headers = token("outreach")
    first = client.post("/v1/signals", json=family_13(), headers=headers).json()
    second = client.post("/v1/signals", json=family_13(observed_at="2026-01-14T22:40:00+01:00"), headers=headers).json()
    with session_scope() as session:
        default = session.get(Signal, first["id"])
        given = session.get(Signal, second["id"])
        assert default is not None and given is not None
        assert default.observed_at == default.received_at
        assert given.observed_at.isoformat() == "2026-01-14T21:40:00+00:00"


def problem_fields(answer: Any) -> set[str]:
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    return {error["field"] for error in body.get("errors", [])}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"source": "voisin"}, "source"),
        ({"flags": ["hungry"]}, "flags.0"),
        ({"people": {"adults": -1}}, "people.adults"),
        ({"people": {"adults": 501}}, "people.adults"),
        ({"people": {"adults": 10**30}}, "people.adults"),
        ({"people": {"adults": "2"}}, "people.adults"),
        ({"people": {"adults": True}}, "people.adults"),
        ({"people": {"adults": 1.5}}, "people.adults"),
        ({"people": {"adults": 1, "adult_genders": ["female", "male"]}}, "people"),
        ({"people": {"adults": 0}}, "people"),
        ({"location": {"lat": 48.8}}, "location"),
        ({"location": {"lat": "48.8", "lon": 2.3}}, "location.lat"),
        ({"location": {"lat": 48.8, "lon": True}}, "location.lon"),
        ({"location": {"lat": 48.8, "lon": 2.3, "arrondissement": 3}}, "location"),
        ({"location": {"postcode": "7501"}}, "location.postcode"),
        ({"location": {"arrondissement": 21}}, "location.arrondissement"),
        ({"location": {"address": "rue de Rivoli"}}, "location"),
        ({"place": "x" * 501}, "place"),
        ({"description": "x" * 4001}, "description"),
        ({"observed_at": "2026-01-14T22:40:00"}, "observed_at"),
        ({"observed_at": "hier soir"}, "observed_at"),
        ({"observed_at": "2999-01-01T00:00:00+00:00"}, "observed_at"),
        ({"colour": "red"}, "colour"),
        ({"people": {"adults": 1, "pets": 2}}, "people.pets"),
    ],
)
def test_invalid_field_is_named_with_its_rule(
    client: TestClient, token: TokenFactory, change: dict[str, Any], field: str
) -> None:
    answer = client.post("/v1/signals", json=family_13(**change), headers=token("outreach"))
    assert answer.status_code == 422, answer.text
    assert field in problem_fields(answer)
    assert count(Signal) == 0


@pytest.mark.parametrize(
    ("fragment", "field"),
    [
        ('"location": {"lat": 1e400, "lon": 2.3}', "location.lat"),
        ('"location": {"lat": NaN, "lon": 2.3}', "location.lat"),
        ('"location": {"arrondissement": 13}, "people": {"adults": 1e309}', "people.adults"),
        ('"location": {"arrondissement": 13}, "people": {"adults": 123456789012345678901234567890}', "people.adults"),
    ],
)
def test_huge_and_special_numbers_are_refused(
    client: TestClient, token: TokenFactory, fragment: str, field: str
) -> None:
    raw = ('{"source": "maraude", "people": {"adults": 1}, ' + fragment + "}").encode()
    headers = {**token("outreach"), "content-type": "application/json"}
    answer = client.post("/v1/signals", content=raw, headers=headers)
    assert answer.status_code == 422, answer.text
    assert field in problem_fields(answer)


def test_missing_people_is_allowed_for_a_camp(client: TestClient, token: TokenFactory) -> None:
    body = family_13(people={"adults": 0}, flags=["camp"])
    assert client.post("/v1/signals", json=body, headers=token("outreach")).status_code == 202


@pytest.mark.parametrize(
    "raw",
    [b"{", b"not json", b"[]", b"null", b'"text"', b'{"location": }', b"\xff\xfe"],
)
def test_malformed_bodies_get_a_4xx_problem(client: TestClient, token: TokenFactory, raw: bytes) -> None:
    headers = {**token("outreach"), "content-type": "application/json"}
    answer = client.post("/v1/signals", content=raw, headers=headers)
    assert 400 <= answer.status_code < 500, answer.text
    problem_fields(answer)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"description": "a\u0000b"}, "description"),
        ({"place": "\u0000"}, "place"),
        ({"location": {"address": "3 rue\u0000", "arrondissement": 13}}, "location.address"),
        ({"flags": ["cold_exposure", "x\u0000"]}, "flags.1"),
    ],
)
def test_a_nul_character_is_refused_naming_its_field(
    client: TestClient, token: TokenFactory, change: dict[str, Any], field: str
) -> None:
    # PostgreSQL cannot store NUL in text: refused at the edge, never a 500 from the database.
    answer = client.post("/v1/signals", json=family_13(**change), headers=token("outreach"))
    assert answer.status_code == 422, answer.text
    assert problem_fields(answer) == {field}
    assert answer.json()["errors"][0]["rule"] == "no_nul"
    assert count(Signal) == 0


def test_a_lone_surrogate_is_refused_in_french(client: TestClient, token: TokenFactory) -> None:
    raw = json.dumps(family_13(description="a")).replace('"a"', '"a\\ud800"').encode()
    answer = client.post("/v1/signals", content=raw, headers={**token("outreach"), "content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["errors"]
    assert error["field"] == "description" and error["detail"] == "doit être un texte Unicode valide"


def test_a_nul_character_in_a_path_query_or_form_is_refused(client: TestClient, token: TokenFactory) -> None:
    headers = token("coordinator", leads=["eps:paris-13"])
    for url, field in (
        ("/v1/signals/ab%00cd", "(chemin)"),
        ("/v1/queues/eps:paris-13?cursor=%00", "cursor"),
    ):
        answer = client.get(url, headers=headers)
        assert answer.status_code == 422, (url, answer.text)
        assert problem_fields(answer) == {field}
    # A form is posted by a browser to a page: the answer is a French page naming the field.
    answer = client.post("/connexion", data={"username": "a\x00", "password": "x"})
    assert answer.status_code == 422 and answer.headers["content-type"].startswith("text/html")
    assert "username : le caractère NUL" in answer.text


def test_body_over_64_kib_is_refused_with_413(client: TestClient, token: TokenFactory) -> None:
    body = json.dumps(family_13(description="x" * 70_000)).encode()
    answer = client.post("/v1/signals", content=body, headers={**token("outreach"), "content-type": "application/json"})
    assert answer.status_code == 413
    assert answer.json()["status"] == 413


def test_chunked_body_over_the_limit_is_refused_too(client: TestClient, token: TokenFactory) -> None:
    def chunks() -> Any:
        for _ in range(100):
            yield b" " * 1024

    headers = {**token("outreach"), "content-type": "application/json"}
    answer = client.post("/v1/signals", content=chunks(), headers=headers)
    assert answer.status_code == 413


def test_no_token_is_401_and_unknown_token_is_401(client: TestClient) -> None:
    assert client.post("/v1/signals", json=family_13()).status_code == 401
    answer = client.post("/v1/signals", json=family_13(), headers={"Authorization": "Bearer urg_nope"})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"


def test_analyst_may_not_submit(client: TestClient, token: TokenFactory) -> None:
    assert client.post("/v1/signals", json=family_13(), headers=token("analyst")).status_code == 403


class TestIdempotencyKey:
    def test_same_key_same_body_gives_the_first_answer_and_creates_nothing(
        self, client: TestClient, token: TokenFactory
    ) -> None:
        headers = {**token("outreach"), "Idempotency-Key": "tournee-42/signal-1"}
        first = client.post("/v1/signals", json=family_13(), headers=headers)
        again = client.post("/v1/signals", json=family_13(), headers=headers)
        assert first.status_code == again.status_code == 202
        assert again.json() == first.json()
        assert count(Signal) == 1 and count(OutboxMessage) == 1

    def test_same_key_other_body_is_422(self, client: TestClient, token: TokenFactory) -> None:
        headers = {**token("outreach"), "Idempotency-Key": "k1"}
        assert client.post("/v1/signals", json=family_13(), headers=headers).status_code == 202
        answer = client.post("/v1/signals", json=family_13(place="ailleurs"), headers=headers)
        assert answer.status_code == 422
        assert "Idempotency-Key" in problem_fields(answer)
        assert count(Signal) == 1

    def test_keys_are_scoped_to_their_token(self, client: TestClient, token: TokenFactory) -> None:
        for headers in (token("outreach"), token("outreach")):
            client.post("/v1/signals", json=family_13(), headers={**headers, "Idempotency-Key": "same"})
        assert count(Signal) == 2

    @pytest.mark.parametrize("key", [b"", b"x" * 256, "clé-accentuée".encode(), b"tab\there"])
    def test_malformed_key_is_422(self, client: TestClient, token: TokenFactory, key: bytes) -> None:
        headers: dict[str, str | bytes] = {**token("outreach"), "Idempotency-Key": key}
        # httpx takes bytes values too: the malformed key goes as these very bytes.
        answer = client.post("/v1/signals", json=family_13(), headers=cast(dict[str, str], headers))
        assert answer.status_code == 422
        assert count(Signal) == 0

    def test_fifty_concurrent_retries_make_one_signal(self, client: TestClient, token: TokenFactory) -> None:
        headers = {**token("outreach"), "Idempotency-Key": "rafale"}
        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(lambda _: client.post("/v1/signals", json=family_13(), headers=headers), range(50)))
        statuses = {a.status_code for a in answers}
        assert statuses <= {202, 409}, statuses
        ids = {a.json()["id"] for a in answers if a.status_code == 202}
        assert len(ids) == 1
        assert count(Signal) == 1 and count(IdempotencyKey) == 1
        with session_scope() as session:
            assert session.exec(select(func.count()).where(col(OutboxMessage.id).is_not(None))).one() == 1
