"""The fiches réflexes as published versions through the API: seed, drafts checked like files, impact,
publish (live for the next decision), rollback, rights and audit, the seed on upgrade, concurrent publishes."""

from __future__ import annotations

import copy
import shutil
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlmodel import col, select

from services.core.clock import utc_now
from services.core.db import session_scope
from services.core.fiches.versions import seed_publications
from services.core.models import AuditEntry, FicheDraft, FichePublication, Signal
from services.core.procedures import fiches_in_force, seed_book
from tests.integration.conftest import TokenFactory, family_13

pytestmark = pytest.mark.usefixtures("worker")
REPO = Path(__file__).resolve().parents[2]


def in_force(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    answer = client.get("/v1/fiches", headers=headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def document(view: dict[str, Any], code: str) -> dict[str, Any]:
    return copy.deepcopy(next(item["document"] for item in view["items"] if item["code"] == code))


def family_fiche_led_by_the_mus(view: dict[str, Any]) -> dict[str, Any]:
    """FR01 (families) led by the MUS, with call_15, acknowledged within 30 min: lead, directives, deadlines."""
    fr01 = document(view, "FR01")
    fr01["version"] = "2026-12-02.1"
    fr01["lead"] = "mus"
    fr01["directives"] = ["call_115", "call_15"]
    fr01["deadlines"]["ack"] = "PT30M"
    return fr01


def test_the_seed_is_the_files_and_only_admins_and_the_mus_read_it(client: TestClient, token: TokenFactory) -> None:
    view = in_force(client, token("admin"))
    book = seed_book()
    assert view["book"] == book.fingerprint and view["publication_id"] == 1
    assert {item["code"]: item["version"] for item in view["items"]} == {f.code: f.version for f in book}
    assert in_force(client, token("coordinator", leads=["mus"]))["book"] == book.fingerprint
    for refused in (token("coordinator", leads=["eps:paris-13"]), token("outreach"), token("analyst")):
        assert client.get("/v1/fiches", headers=refused).status_code == 403
        assert client.post("/v1/fiches/drafts", json={}, headers=refused).status_code == 403
    history = client.get("/v1/fiches/FR01/versions", headers=token("admin")).json()
    assert [(v["kind"], v["in_force"]) for v in history["items"]] == [("seed", True)]
    assert client.get("/v1/fiches/FR99/versions", headers=token("admin")).status_code == 404


def test_a_failing_draft_is_refused_naming_each_field_and_reaches_nothing(
    client: TestClient, token: TokenFactory, wait_routed: Callable[[str], Signal]
) -> None:
    admin = token("admin")
    before = in_force(client, admin)
    broken = document(before, "FR01")
    broken["deadlines"]["ack"] = "PT5X"
    broken["partners"] = ["siao-115", "inconnu"]
    broken["lead"] = "personne"
    answer = client.post("/v1/fiches/drafts", json=broken, headers=admin)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    fields = {error["field"] for error in problem["errors"]}
    assert {"deadlines.ack", "partners.1", "lead"} <= fields
    assert "partenaire inconnu" in problem["detail"]
    # A fiche FR00 may not outlast: the rule spans two documents, and names the other one.
    fr00 = document(before, "FR00")
    fr00["deadlines"] = {"ack": "PT10M", "contact": "PT1H", "resolve": "P1D"}
    spanning = client.post("/v1/fiches/drafts", json=fr00, headers=admin).json()
    assert any(error["field"].startswith("FR01.yaml.deadlines") for error in spanning["errors"]), spanning
    assert client.post("/v1/fiches/drafts", json=[1], headers=admin).status_code == 422
    assert client.post("/v1/fiches/drafts", json={"code": "XX"}, headers=admin).status_code == 422
    with session_scope() as session:
        assert session.exec(select(FicheDraft)).all() == []
    assert in_force(client, admin)["book"] == before["book"]
    signal = wait_routed(client.post("/v1/signals", json=family_13(), headers=token("outreach")).json()["id"])
    assert signal.decision is not None and signal.decision["fiche_book"] == before["book"]


def test_impact_then_publish_is_live_for_the_next_decision_and_earlier_decisions_keep_theirs(
    client: TestClient, token: TokenFactory, wait_routed: Callable[[str], Signal]
) -> None:
    admin, mus, outreach = token("admin"), token("coordinator", leads=["mus"]), token("outreach")
    before = in_force(client, admin)
    earlier = wait_routed(client.post("/v1/signals", json=family_13(), headers=outreach).json()["id"])
    alone = family_13(people={"adults": 1}, location={"lat": 48.86, "lon": 2.35})
    wait_routed(client.post("/v1/signals", json=alone, headers=outreach).json()["id"])
    assert earlier.decision is not None and earlier.decision["lead"] == "eps:paris-13"

    draft = client.post("/v1/fiches/drafts", json=family_fiche_led_by_the_mus(before), headers=mus)
    assert draft.status_code == 201, draft.text
    draft_id = draft.json()["id"]
    assert draft.json()["base_version"] == next(i["version"] for i in before["items"] if i["code"] == "FR01")
    impact = client.get(f"/v1/fiches/drafts/{draft_id}/impact?days=90", headers=mus).json()
    assert impact["signals"] == 2
    assert impact["changed"] == {"primary_fiche": 0, "lead": 1, "directives": 1, "deadlines": 1}
    [example] = impact["examples"]
    assert example["signal_id"] == earlier.id
    assert example["before"]["lead"] == "eps:paris-13" and example["after"]["lead"] == "mus"
    assert example["after"]["deadlines"]["ack"] == 1800
    assert client.get(f"/v1/fiches/drafts/{draft_id}/impact", headers=admin).json()["examples"] == []
    assert client.get(f"/v1/fiches/drafts/{draft_id}/impact?days=0", headers=admin).status_code == 422
    assert client.get("/v1/fiches/drafts/inconnu/impact", headers=admin).status_code == 404
    assert in_force(client, admin)["book"] == before["book"], "a draft is not in force"

    published = client.post(f"/v1/fiches/drafts/{draft_id}/publish", json={"reason": "essai"}, headers=mus)
    assert published.status_code == 200, published.text
    book = published.json()["book"]
    assert published.json()["changed"] == ["FR01"] and book != before["book"]
    again = client.post(f"/v1/fiches/drafts/{draft_id}/publish", headers=mus)
    assert again.status_code == 409

    # The API's directives and the worker's decision, at once, with the new book; the earlier one unchanged.
    accepted = client.post("/v1/signals", json=family_13(), headers=outreach).json()
    assert "call_15" in accepted["directives"]
    later = wait_routed(accepted["id"])
    assert later.decision is not None and later.decision["fiche_book"] == book
    with session_scope() as session:
        stored = session.get(Signal, earlier.id)
        assert stored is not None and stored.decision is not None
        assert stored.decision["fiche_book"] == before["book"]
        assert stored.decision["lead"] == "eps:paris-13"

    actions = _audited()
    assert actions == ["fiches.draft", "fiches.publish"]


def _audited() -> list[str]:
    with session_scope() as session:
        return list(
            session.exec(
                select(AuditEntry.action)
                .where(col(AuditEntry.action).startswith("fiches."))
                .order_by(col(AuditEntry.id))
            )
        )


def test_rollback_publishes_an_earlier_version_again(client: TestClient, token: TokenFactory) -> None:
    admin = token("admin")
    before = in_force(client, admin)
    seed_version = next(item["version"] for item in before["items"] if item["code"] == "FR01")
    draft_id = client.post("/v1/fiches/drafts", json=family_fiche_led_by_the_mus(before), headers=admin).json()["id"]
    assert client.post(f"/v1/fiches/drafts/{draft_id}/publish", headers=admin).status_code == 200
    assert client.post("/v1/fiches/FR01/rollback", json={"to": "inconnue"}, headers=admin).status_code == 422
    assert client.post("/v1/fiches/FR99/rollback", json={"to": seed_version}, headers=admin).status_code == 404
    back = client.post("/v1/fiches/FR01/rollback", json={"to": seed_version, "reason": "erreur"}, headers=admin)
    assert back.status_code == 200, back.text
    assert back.json()["kind"] == "rollback" and back.json()["versions"]["FR01"] == seed_version
    assert back.json()["book"] == before["book"], "the same content is the same book"
    assert in_force(client, admin)["book"] == before["book"]
    same = client.post("/v1/fiches/FR01/rollback", json={"to": seed_version}, headers=admin)
    assert same.status_code == 409
    history = client.get("/v1/fiches/FR01/versions", headers=admin).json()["items"]
    assert [(v["kind"], v["in_force"]) for v in history] == [("rollback", True), ("publish", False), ("seed", False)]
    assert history[0]["reason"] == "erreur" and history[1]["document"]["lead"] == "mus"
    assert _audited() == ["fiches.draft", "fiches.publish", "fiches.rollback"]


def test_two_drafts_of_one_fiche_published_at_once_one_wins_the_other_gets_409(
    client: TestClient, token: TokenFactory
) -> None:
    admin = token("admin")
    before = in_force(client, admin)
    first = family_fiche_led_by_the_mus(before)
    second = family_fiche_led_by_the_mus(before)
    second["deadlines"]["ack"] = "PT45M"
    ids = [client.post("/v1/fiches/drafts", json=d, headers=admin).json()["id"] for d in (first, second)]
    start = threading.Barrier(2)
    statuses: list[int] = []

    def publish(draft_id: str) -> None:
        start.wait()
        statuses.append(client.post(f"/v1/fiches/drafts/{draft_id}/publish", headers=admin).status_code)

    threads = [threading.Thread(target=publish, args=(draft_id,)) for draft_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [200, 409]
    with session_scope() as session:
        assert len(session.exec(select(FichePublication)).all()) == 2  # the seed and the winner


def test_a_newer_seed_adds_versions_and_never_overwrites_a_published_edit(
    client: TestClient, token: TokenFactory, tmp_path: Path
) -> None:
    admin = token("admin")
    before = in_force(client, admin)
    draft_id = client.post("/v1/fiches/drafts", json=family_fiche_led_by_the_mus(before), headers=admin).json()["id"]
    edited = client.post(f"/v1/fiches/drafts/{draft_id}/publish", headers=admin).json()["versions"]["FR01"]
    files = tmp_path / "fiches"
    shutil.copytree(REPO / "fiches_reflexes", files)
    for code in ("FR01", "FR02"):  # both changed in the files of a new release
        path = files / f"{code}.yaml"
        data = yaml.safe_load(path.read_text("utf-8"))
        data["summary"] = f"{data.get('summary') or ''} (révisée)"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    with session_scope() as session:
        publication = seed_publications(session, files, now=utc_now() + timedelta(seconds=1))
        session.commit()
        assert publication is not None and publication.changed == ["FR02"]
        assert publication.versions["FR01"] == edited, "the published edit stays"
        assert "révisée" in publication.documents["FR02.yaml"]["summary"]
        assert seed_publications(session, files, now=utc_now()) is None, "the same seed again adds nothing"
        assert fiches_in_force(session).fingerprint == publication.fingerprint
