"""SMS notices reach a real HTTP gateway started by the test, and every kind of failure
comes back as a DeliveryError that says whether trying again can help."""
from __future__ import annotations

import json
import logging
import threading
import time as clock
from contextlib import contextmanager
from datetime import date, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from webapp.config import DEFAULT_SMS_TEMPLATE
from webapp.notices.errors import DeliveryError
from webapp.notices.sms import SmsGateway, render_sms, sms_parts, sms_values

PHONE = "13812345678"
TEXT = "【城关镇卫生院】王秀英您好，请于12月1日 08:00-11:30到城关镇卫生院参加血压检查。"


@contextmanager
def gateway(status: int = 200, body: dict | str = "", delay: float = 0.0, location: str = ""):
    """A throwaway SMS gateway on a free port; yields (url, requests seen)."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                         "body": json.loads(self.rfile.read(length).decode("utf-8")) if length else None})
            if delay:
                clock.sleep(delay)
            raw = (json.dumps(body, ensure_ascii=False) if isinstance(body, dict) else body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            except OSError:
                pass  # the client gave up (timeout test)

        do_GET = do_POST  # a client that followed a redirect would arrive as GET

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/sms/send", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_notice_is_posted_to_the_gateway_with_the_key_and_returns_its_message_id(caplog):
    caplog.set_level(logging.DEBUG, logger="webapp.notices")
    with gateway(200, {"id": "msg-4711", "status": "queued"}) as (url, seen):
        message_id = SmsGateway(url, "secret-key", sender="城关镇卫生院").send(PHONE, TEXT)

    assert message_id == "msg-4711"
    assert len(seen) == 1
    assert seen[0]["path"] == "/sms/send"
    assert seen[0]["headers"]["Authorization"] == "Bearer secret-key"
    assert seen[0]["headers"]["Content-Type"].startswith("application/json")
    assert seen[0]["body"] == {"to": PHONE, "text": TEXT, "sender": "城关镇卫生院"}
    assert "msg-4711" in caplog.text
    assert PHONE not in caplog.text and "王秀英" not in caplog.text


def test_a_gateway_that_answers_without_an_id_still_counts_as_sent():
    with gateway(202, "accepted") as (url, _):
        assert SmsGateway(url, "k").send(PHONE, TEXT) == ""


def test_a_gateway_error_is_retryable():
    with gateway(500, {"error": "upstream carrier down"}) as (url, seen):
        with pytest.raises(DeliveryError) as err:
            SmsGateway(url, "k").send(PHONE, TEXT)
    assert err.value.retryable is True
    assert "500" in err.value.reason
    assert len(seen) == 1  # retrying is the caller's decision, not a hidden loop here


def test_a_refused_number_is_not_retried_and_the_reason_keeps_no_phone_number(caplog):
    caplog.set_level(logging.DEBUG, logger="webapp.notices")
    body = {"error": f"invalid recipient {PHONE}: number not in service " + "x" * 400}
    with gateway(400, body) as (url, _):
        with pytest.raises(DeliveryError) as err:
            SmsGateway(url, "k").send(PHONE, TEXT)

    assert err.value.retryable is False
    assert err.value.reason.startswith("HTTP 400: invalid recipient")
    assert "number not in service" in err.value.reason
    assert PHONE not in err.value.reason and "5678" not in err.value.reason
    assert len(err.value.reason) <= 160
    assert PHONE not in caplog.text


def test_a_redirecting_gateway_is_not_followed_so_the_key_stays_put():
    with gateway(200, {"id": "elsewhere"}) as (elsewhere, seen_elsewhere):
        with gateway(302, "", location=elsewhere) as (url, seen):
            with pytest.raises(DeliveryError) as err:
                SmsGateway(url, "secret-key").send(PHONE, TEXT)
    assert len(seen) == 1 and seen_elsewhere == []
    assert err.value.retryable is False and "SMS_GATEWAY_URL" in err.value.reason


def test_being_rate_limited_is_retryable():
    with gateway(429, {"message": "slow down"}) as (url, _):
        with pytest.raises(DeliveryError) as err:
            SmsGateway(url, "k").send(PHONE, TEXT)
    assert err.value.retryable is True and "slow down" in err.value.reason


def test_a_gateway_slower_than_the_timeout_is_retryable():
    with gateway(200, {"id": "late"}, delay=1.5) as (url, _):
        started = clock.monotonic()
        with pytest.raises(DeliveryError) as err:
            SmsGateway(url, "k", timeout=0.3).send(PHONE, TEXT)
    assert err.value.retryable is True
    assert "timed out" in err.value.reason
    assert clock.monotonic() - started < 1.4


def test_a_gateway_that_is_not_running_is_retryable():
    with gateway() as (url, _):
        pass  # the server is shut down again: nothing listens on that port now
    with pytest.raises(DeliveryError) as err:
        SmsGateway(url, "k", timeout=2).send(PHONE, TEXT)
    assert err.value.retryable is True


def test_sms_is_off_unless_a_gateway_is_configured():
    assert SmsGateway.from_config({"SMS_GATEWAY_URL": "", "SMS_GATEWAY_KEY": ""}) is None
    gw = SmsGateway.from_config({"SMS_GATEWAY_URL": "https://sms.example.org/send", "SMS_GATEWAY_KEY": "k",
                                 "SMS_GATEWAY_SENDER": "卫生院", "SMS_GATEWAY_TIMEOUT": 4})
    assert (gw.url, gw.key, gw.sender, gw.timeout) == ("https://sms.example.org/send", "k", "卫生院", 4.0)
    with pytest.raises(ValueError, match="SMS_GATEWAY_KEY"):
        SmsGateway.from_config({"SMS_GATEWAY_URL": "https://sms.example.org/send"})
    with pytest.raises(ValueError, match="http"):
        SmsGateway("file:///etc/passwd", "k")


def test_the_app_has_sms_and_mail_off_by_default(app):
    from webapp.notices.mail import Mailer

    assert SmsGateway.from_config(app.config) is None
    assert Mailer.from_config(app.config) is None
    assert app.config["SMS_TEMPLATE"] == DEFAULT_SMS_TEMPLATE


def test_the_default_template_makes_one_chinese_sms():
    values = sms_values(name="王秀英", day=date(2026, 12, 1), start=time(8), end=time(11, 30),
                        station="城关镇卫生院", services=("血压检查", "乳腺检查"))
    text = render_sms(DEFAULT_SMS_TEMPLATE, **values)
    assert text == ("【城关镇卫生院】王秀英您好，请于12月1日 08:00-11:30到城关镇卫生院参加血压检查、乳腺检查。"
                    "凭通知单或身份证签到。")
    assert len(text) <= 70 and sms_parts(text) == 1


def test_a_long_sms_is_sent_whole_as_several_parts_not_cut():
    services = ("血压检查", "乳腺检查", "宫颈癌筛查", "血糖检查", "心电图", "腹部彩超")
    values = sms_values(name="欧阳娜娜", day=date(2026, 12, 1), start=time(8), end=time(11, 30),
                        station="城关镇中心卫生院东关分院", services=services)
    text = render_sms(DEFAULT_SMS_TEMPLATE, **values)
    assert text.endswith("凭通知单或身份证签到。") and "腹部彩超" in text
    assert len(text) > 70 and sms_parts(text) == 2


def test_template_mistakes_are_named_not_sent():
    with pytest.raises(ValueError, match="{phone}"):
        render_sms("{name} {phone}", name="王")
    with pytest.raises(ValueError, match="brace"):
        render_sms("{name.__class__}", name="王")
    assert render_sms("{{literal}} {name}", name="王") == "{literal} 王"
