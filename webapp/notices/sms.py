"""SMS notices through a configurable HTTP gateway.

The adapter speaks one generic shape — ``POST {"to", "text", "sender"}`` as JSON with
``Authorization: Bearer KEY`` — that most SMS providers or a small relay in front of them
accept. It uses only the standard library (urllib): one request per message needs no
session pooling, and no extra dependency has to be kept up to date on the server.

What must hold: the phone number and the message text never reach a log line or an error
reason (they are personal data); only the gateway's message id and HTTP status do.
"""
from __future__ import annotations

import json
import logging
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import date

from .errors import DeliveryError

log = logging.getLogger(__name__)

SMS_SINGLE_LIMIT = 70  # characters of one SMS when any character is Chinese (UCS-2)
REASON_LIMIT = 160
# HTTP statuses in the 4xx range that still say "try again later".
RETRYABLE_CLIENT_STATUSES = frozenset({408, 425, 429})
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|[{}]")
_LONG_NUMBER = re.compile(r"\+?\d[\d\s-]{5,}\d")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as an error: following it would re-send the bearer key (and
    the message) to wherever the gateway points, and turn the POST into a GET."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


class SmsGateway:
    def __init__(self, url: str, key: str, *, timeout: float = 10.0, sender: str = ""):
        if not url.lower().startswith(("http://", "https://")):
            raise ValueError("SMS_GATEWAY_URL must be an http:// or https:// address")
        self.url = url
        self.key = key
        self.timeout = timeout
        self.sender = sender

    @classmethod
    def from_config(cls, config: Mapping) -> SmsGateway | None:
        """The configured gateway, or None when SMS is off (no SMS_GATEWAY_URL)."""
        url = (config.get("SMS_GATEWAY_URL") or "").strip()
        if not url:
            return None
        key = (config.get("SMS_GATEWAY_KEY") or "").strip()
        if not key:
            raise ValueError("SMS_GATEWAY_KEY must be set when SMS_GATEWAY_URL is")
        return cls(url, key, timeout=float(config.get("SMS_GATEWAY_TIMEOUT") or 10.0),
                   sender=config.get("SMS_GATEWAY_SENDER") or "")

    def send(self, phone: str, text: str) -> str:
        """Hand one message to the gateway; returns the gateway's message id ("" if it gives
        none). Raises DeliveryError: retryable for 5xx, 408/429, timeouts and connection
        errors; not retryable for other 4xx (number or text refused) and bad input."""
        if not phone.strip():
            raise DeliveryError("no phone number", retryable=False)
        if not text.strip():
            raise DeliveryError("empty message", retryable=False)
        body = json.dumps({"to": phone.strip(), "text": text, "sender": self.sender},
                          ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "Authorization": f"Bearer {self.key}",
            "User-Agent": "Doorstep-notices",
        })
        try:
            with _opener.open(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read(64 * 1024)
        except urllib.error.HTTPError as exc:
            status = exc.code
            raw = _read_quietly(exc)
            reason = _safe_reason(raw, phone, text) or exc.reason or "refused"
            retryable = status >= 500 or status in RETRYABLE_CLIENT_STATUSES
            if 300 <= status < 400:
                reason = "gateway redirected; set SMS_GATEWAY_URL to the final address"
            log.warning("SMS gateway answered HTTP %s (retryable=%s)", status, retryable)
            raise DeliveryError(f"HTTP {status}: {reason}"[:REASON_LIMIT], retryable=retryable) from None
        except (TimeoutError, socket.timeout):
            log.warning("SMS gateway timed out after %ss", self.timeout)
            raise DeliveryError("gateway timed out", retryable=True) from None
        except urllib.error.URLError as exc:
            timed_out = isinstance(exc.reason, (TimeoutError, socket.timeout))
            log.warning("SMS gateway unreachable (%s)", type(exc.reason).__name__)
            raise DeliveryError("gateway timed out" if timed_out else "gateway unreachable",
                                retryable=True) from None
        except OSError as exc:  # connection reset mid-response, TLS errors
            log.warning("SMS gateway connection failed (%s)", type(exc).__name__)
            raise DeliveryError("gateway connection failed", retryable=True) from None
        message_id = _message_id(raw)
        log.info("SMS accepted by gateway: HTTP %s, message id %s", status, message_id or "-")
        return message_id


def render_sms(template: str, **values: object) -> str:
    """Fill ``{name}``-style placeholders (``{{`` and ``}}`` for literal braces). Only plain
    names are allowed — no attribute or index lookups — because the template comes from
    configuration. An unknown placeholder is a ValueError naming it; nothing is cut: check
    ``sms_parts`` to see whether the text still fits one message."""
    def fill(match: re.Match) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        if name is None:
            raise ValueError("SMS template has an unmatched brace; write {{ or }} for a literal one")
        if name not in values:
            raise ValueError(f"SMS template uses an unknown placeholder {{{name}}}")
        return str(values[name])

    return _PLACEHOLDER.sub(fill, template)


def sms_values(*, name: str, day: date, start, end, station: str, services, locale: str = "zh_CN") -> dict:
    """The placeholders of the default template, in the short forms an SMS needs:
    date as 12月1日 (or "1 Dec"), times as 08:00, services joined with 、."""
    if locale.startswith("zh"):
        day_text, sep = f"{day.month}月{day.day}日", "、"
    else:
        day_text, sep = f"{day.day} {day:%b}", ", "
    return {"name": name, "date": day_text, "start": f"{start:%H:%M}", "end": f"{end:%H:%M}",
            "station": station, "services": sep.join(services)}


def sms_parts(text: str) -> int:
    """How many SMS the text is billed as: 70 characters in one message when it holds any
    non-GSM (e.g. Chinese) character, 67 per part when concatenated; 160/153 otherwise."""
    if all(ord(ch) < 128 for ch in text):
        single, part = 160, 153
    else:
        single, part = SMS_SINGLE_LIMIT, 67
    if len(text) <= single:
        return 1
    return -(-len(text) // part)


def _read_quietly(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read(64 * 1024)
    except OSError:
        return b""


def _safe_reason(raw: bytes, phone: str, text: str) -> str:
    """The gateway's own words for a refusal, short, with the number and text taken out
    (gateways like to echo them back)."""
    body = raw.decode("utf-8", "replace").strip()
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("error", "message", "reason", "detail", "msg"):
            if isinstance(data.get(key), str) and data[key].strip():
                body = data[key].strip()
                break
            if isinstance(data.get(key), dict) and isinstance(data[key].get("message"), str):
                body = data[key]["message"].strip()
                break
    for secret in (phone.strip(), text.strip()):
        if secret:
            body = body.replace(secret, "…")
    body = _LONG_NUMBER.sub("…", body)
    body = " ".join(body.split())
    return body[:REASON_LIMIT]


def _message_id(raw: bytes) -> str:
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError:
        return ""
    if isinstance(data, dict):
        for key in ("id", "message_id", "messageId", "msgid", "sid"):
            if data.get(key) not in (None, ""):
                return str(data[key])[:100]
    return ""
