"""E-mailed notices reach a real SMTP server started by the test (aiosmtpd) intact: the
Chinese subject and text, and the slip PDF with its Chinese file name, byte for byte."""
from __future__ import annotations

import email
import logging
import re
import socket
from contextlib import contextmanager
from email import policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from webapp.notices.errors import DeliveryError
from webapp.notices.mail import Mailer

SUBJECT = "【城关镇卫生院】12月1日查体通知"
BODY = "王秀英您好：\n\n请于2026年12月1日 星期二 08:00-11:30 到城关镇卫生院参加血压检查、乳腺检查。\n凭通知单或身份证签到。\n"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
PDF_NAME = "查体通知单-东关村.pdf"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """Keeps what arrives; answers RCPT with ``rcpt_answer`` when one is set."""

    def __init__(self, rcpt_answer: str | None = None):
        self.rcpt_answer = rcpt_answer
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_answer:
            return self.rcpt_answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


def check_login(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"station", b"pa55")
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself


@contextmanager
def smtp_server(inbox: Inbox, **kwargs):
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def test_a_notice_arrives_with_its_chinese_subject_text_and_slip_pdf(caplog):
    caplog.set_level(logging.DEBUG, logger="webapp.notices")
    inbox = Inbox()
    with smtp_server(inbox) as port:
        mailer = Mailer("127.0.0.1", port, "城关镇卫生院 <notice@station.example.org>")
        mailer.send("wang@example.org", SUBJECT, BODY, attachments=[(PDF_NAME, "application/pdf", PDF)])

    assert len(inbox.messages) == 1
    mail_from, rcpt_tos, raw = inbox.messages[0]
    assert (mail_from, rcpt_tos) == ("notice@station.example.org", ["wang@example.org"])
    assert raw.isascii()  # 7-bit clean: survives relays without 8BITMIME or SMTPUTF8
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == SUBJECT
    assert msg["To"] == "wang@example.org"
    assert msg["From"].addresses[0].display_name == "城关镇卫生院"
    assert msg.get_body(("plain",)).get_content() == BODY
    attachments = list(msg.iter_attachments())
    assert len(attachments) == 1
    assert attachments[0].get_content_type() == "application/pdf"
    assert attachments[0].get_filename() == PDF_NAME
    # RFC 2231 (with continuations for a long name), which mail clients decode.
    assert re.search(r"filename\*(0\*)?=utf-8''%E6%9F%A5", raw.decode())
    assert attachments[0].get_content() == PDF
    assert "wang@example.org" not in caplog.text and "王秀英" not in caplog.text


def test_mail_logs_in_when_the_server_wants_a_login():
    inbox = Inbox()
    with smtp_server(inbox, authenticator=check_login, auth_require_tls=False) as port:
        Mailer("127.0.0.1", port, "notice@station.example.org", username="station", password="pa55") \
            .send("wang@example.org", SUBJECT, BODY)
        with pytest.raises(DeliveryError) as err:
            Mailer("127.0.0.1", port, "notice@station.example.org", username="station", password="wrong") \
                .send("wang@example.org", SUBJECT, BODY)
    assert len(inbox.messages) == 1
    assert err.value.retryable is False and "535" in err.value.reason


def test_a_recipient_the_server_refuses_is_not_retried():
    inbox = Inbox(rcpt_answer="550 5.1.1 <wang@example.org>: mailbox unavailable")
    with smtp_server(inbox) as port:
        with pytest.raises(DeliveryError) as err:
            Mailer("127.0.0.1", port, "notice@station.example.org").send("wang@example.org", SUBJECT, BODY)
    assert err.value.retryable is False
    assert "550" in err.value.reason
    assert "wang@" not in err.value.reason
    assert inbox.messages == []


def test_a_recipient_refused_for_now_is_retryable():
    inbox = Inbox(rcpt_answer="450 4.2.0 greylisted, try again later")
    with smtp_server(inbox) as port:
        with pytest.raises(DeliveryError) as err:
            Mailer("127.0.0.1", port, "notice@station.example.org").send("wang@example.org", SUBJECT, BODY)
    assert err.value.retryable is True


def test_no_mail_server_listening_is_retryable():
    with pytest.raises(DeliveryError) as err:
        Mailer("127.0.0.1", free_port(), "notice@station.example.org", timeout=3).send(
            "wang@example.org", SUBJECT, BODY)
    assert err.value.retryable is True
    assert "unreachable" in err.value.reason


def test_a_mail_server_without_starttls_is_a_settings_error_not_a_retry():
    with smtp_server(Inbox()) as port:
        with pytest.raises(DeliveryError) as err:
            Mailer("127.0.0.1", port, "notice@station.example.org", starttls=True).send(
                "wang@example.org", SUBJECT, BODY)
    assert err.value.retryable is False


def test_an_address_that_is_not_one_is_refused_before_connecting():
    with pytest.raises(DeliveryError) as err:
        Mailer("127.0.0.1", free_port(), "notice@station.example.org").send("13812345678", SUBJECT, BODY)
    assert err.value.retryable is False


def test_mail_settings_come_from_the_config():
    assert Mailer.from_config({"MAIL_SERVER": ""}) is None
    mailer = Mailer.from_config({"MAIL_SERVER": "smtp.example.org", "MAIL_PORT": 0, "MAIL_FROM": "a@example.org",
                                 "MAIL_USERNAME": "u", "MAIL_PASSWORD": "p", "MAIL_STARTTLS": True})
    assert (mailer.host, mailer.port, mailer.username, mailer.starttls) == ("smtp.example.org", 587, "u", True)
    assert Mailer.from_config({"MAIL_SERVER": "smtp.example.org", "MAIL_FROM": "a@example.org",
                               "MAIL_SSL": "1"}).port == 465
    with pytest.raises(ValueError, match="MAIL_FROM"):
        Mailer.from_config({"MAIL_SERVER": "smtp.example.org"})
