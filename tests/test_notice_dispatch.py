"""Notice lists reach people and workers: SMS through a real local HTTP gateway, the list by
e-mail to a real SMTP server (aiosmtpd), the printable slips as a PDF whose QR codes lead back to
the right invitations — each message sent once, failures retried a bounded number of times."""
from __future__ import annotations

import email
from datetime import date, datetime, timedelta, timezone
from email import policy

import sqlalchemy as sa

from tests.checkup_helpers import schedule, town_with_people
from tests.factories import area
from tests.helpers import login
from tests.test_notice_mail import Inbox, smtp_server
from tests.test_notice_slips import read_pdf
from tests.test_notice_sms import gateway
from webapp.checkups.models import Invitation
from webapp.extensions import db
from webapp.models import AuditEntry
from webapp.notices import dispatch, service
from webapp.notices.models import NoticeMessage
from webapp.notices.slips import token_from_qr

DAY = date(2026, 12, 1)
DUE = datetime(2026, 11, 27, 23, 0, tzinfo=timezone.utc)


def _messages(channel):
    return db.session.scalars(sa.select(NoticeMessage).where(NoticeMessage.channel == channel)).all()


def test_sms_to_each_person_and_the_list_by_e_mail_go_out_once(make_app):
    inbox = Inbox()
    with gateway(200, {"id": "m-1"}) as (url, seen), smtp_server(inbox) as port:
        app = make_app(SMS_GATEWAY_URL=url, SMS_GATEWAY_KEY="k", MAIL_SERVER="127.0.0.1", MAIL_PORT=port,
                       MAIL_FROM="notice@station.example.org")
        with app.app_context():
            town = town_with_people()
            schedule(town, DAY)
            service.send_due_lists(DUE)
            with_phone = db.session.scalar(sa.select(sa.func.count()).select_from(Invitation).join(
                Invitation.person).where(sa.text("person.phone IS NOT NULL")))
            assert dispatch.dispatch_due(DUE) == with_phone + 1  # one e-mail: only w1 has an address
            assert dispatch.dispatch_due(DUE + timedelta(hours=1)) == 0
            assert len(seen) == with_phone == 3
            assert all(m.status == "sent" and m.attempts == 1 for m in _messages("sms") + _messages("email"))
            v1_name = area("T01-V01").name
            v1_tokens = set(db.session.scalars(sa.select(Invitation.token).where(
                Invitation.village_id == area("T01-V01").id, Invitation.active.is_(True))))
    texts = [request["body"]["text"] for request in seen]
    assert all("12月1日 08:00-12:00" in text and "镇卫生院" in text for text in texts)
    [(_from, to, raw)] = inbox.messages
    assert to == ["w1@example.org"]
    message = email.message_from_bytes(raw, policy=policy.default)
    assert message["Subject"] == f"通知名单：{v1_name}，查体日 2026-12-01"
    body = message.get_body(("plain",)).get_content()
    assert "请在 2026-11-28 前把这 5 张通知单送到本人手中" in body
    [attachment] = list(message.iter_attachments())
    pages, _texts = read_pdf(attachment.get_content())
    assert sorted(token_from_qr(code) for page in pages for code in page) == sorted(v1_tokens)


def test_a_failing_gateway_is_retried_then_recorded_as_failed(make_app):
    with gateway(503, "busy") as (url, seen):
        app = make_app(SMS_GATEWAY_URL=url, SMS_GATEWAY_KEY="k", SEND_MAX_ATTEMPTS=3)
        with app.app_context():
            town = town_with_people()
            schedule(town, DAY)
            service.send_due_lists(DUE)
            now = DUE
            for _ in range(6):
                dispatch.dispatch_due(now)
                now += timedelta(minutes=30)
            messages = _messages("sms")
            assert {m.status for m in messages} == {"failed"}
            assert all(m.attempts == 3 and m.error for m in messages)
            assert "13900000001" not in " ".join(m.error for m in messages)
    assert len(seen) == 3 * len(messages)


def test_the_printed_slips_hold_one_qr_code_per_invited_person_leading_to_their_invitation(app, client):
    with app.app_context():
        town = town_with_people()
        day = schedule(town, DAY)
        made = service.send_due_lists(DUE)
        v1 = area("T01-V01")
        notice_list = next(nl for nl in made if nl.village_id == v1.id)
        expected = {inv.id: inv.person.name for inv in day.invitations if inv.village_id == v1.id}
        list_id = notice_list.id
    login(client, "w1")
    response = client.get(f"/notices/{list_id}/slips.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    pages, texts = read_pdf(response.data)
    codes = [code for page in pages for code in page]
    with app.app_context():
        found = {}
        for code in codes:
            inv = db.session.scalar(sa.select(Invitation).where(Invitation.token == token_from_qr(code)))
            found[inv.id] = inv.person.name
        assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "export",
                                                            AuditEntry.entity_id == list_id)) is not None
    assert len(codes) == len(expected) and found == expected
    assert all(name in "".join(texts) for name in expected.values())
