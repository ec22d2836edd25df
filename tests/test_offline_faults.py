"""The network fails in the middle of a sync, on a 360×640 phone in Debian's Chromium.

Playwright stands between the phone and the server on ``/api/sync``: first the connection
drops before the request gets out, then the server receives the batch and commits it but
the answer never comes back. Each time the outbox (IndexedDB) still holds every record the
server has not acknowledged; when the network is whole again they are sent once more, the
server answers ``duplicate``, and each change is in the register once.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.helpers import browser_login
from tests.test_offline_stories import edit_phone, outbox_rows, ready, sync_log, waiting_count  # noqa: F401
from webapp.extensions import db
from webapp.models import Person, SyncRecord

pytestmark = pytest.mark.browser

FLUSH = """() => Promise.race([window.Doorstep.flushNow(),
                               new Promise((resolve) => setTimeout(() => resolve("timeout"), 10000))])"""


def pending_ids(page) -> list[str]:
    return sorted(r["id"] for r in outbox_rows(page) if r["state"] == "pending")


def test_a_sync_cut_off_midway_keeps_every_unacknowledged_record_and_delivers_each_once(
        live_server, village, page, sync_log):  # noqa: F811
    url = live_server.url
    browser_login(page, url, "cunganbu1")
    ready(page)
    context = page.context
    cut_before_the_server: list[str] = []
    answers_lost: list[int] = []

    def drop_before_sending(route):
        cut_before_the_server.append(route.request.url)
        route.abort("internetdisconnected")

    # The signal goes as the phone starts to send: three changes pile up in the outbox.
    context.route("**/api/sync", drop_before_sending)
    people = (village["head"], village["wife"], village["neighbour"])
    new_phones = ("13611110001", "13611110002", "13611110003")
    for person_id, number in zip(people, new_phones, strict=True):
        edit_phone(page, url, person_id, number)
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "3")
    page.evaluate(FLUSH)
    assert cut_before_the_server, "no sync was attempted"
    ids = pending_ids(page)
    assert len(ids) == 3
    assert sync_log == [] and _stored(live_server) == []

    # The batch reaches the server, which commits it, but the answer is lost on the way back.
    def lose_the_answer(route):
        answers_lost.append(route.fetch().status)
        route.abort("connectionreset")

    context.unroute("**/api/sync")
    context.route("**/api/sync", lose_the_answer)
    page.evaluate(FLUSH)
    assert 200 in answers_lost
    assert sorted(rid for rid, status in sync_log if status == "applied") == ids
    assert _stored(live_server) == ids
    assert pending_ids(page) == ids  # unacknowledged, so still on the phone
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "3")

    # The network is whole again: the same records go out, the server already has them.
    context.unroute("**/api/sync")
    page.evaluate(FLUSH)
    expect(waiting_count(page)).to_have_attribute("data-pending-count", "0", timeout=15_000)
    assert outbox_rows(page) == []
    for record_id in ids:
        statuses = sync_log.for_id(record_id)
        assert statuses[0] == "applied" and set(statuses[1:]) == {"duplicate"}, sync_log
    assert _stored(live_server) == ids
    with live_server.app_context():
        for person_id, number in zip(people, new_phones, strict=True):
            person = db.session.get(Person, person_id)
            assert (person.phone, person.version) == (number, 2)  # changed once, not twice


def _stored(live_server) -> list[str]:
    with live_server.app_context():
        try:
            return sorted(db.session.scalars(sa.select(SyncRecord.key)))
        finally:
            db.session.remove()
