"""E-mail notices through SMTP (the standard library's smtplib and email packages).

What must hold:
- subject, body and attachment file names survive in Chinese: RFC 2047 encoded words in
  headers, a base64 UTF-8 body, RFC 2231 ``filename*`` for attachments, so the message is
  plain 7-bit and needs no SMTPUTF8 server. It is built with the default policy (LF
  line ends, so the decoded text is exactly what was given); smtplib sends it with CRLF;
- error reasons and log lines carry SMTP codes, never an address or the message text;
- a refusal that will not change (5xx, a recipient refused for good) is not retried; a
  temporary one (4xx, timeout, connection lost) is.
"""
from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from .errors import DeliveryError

log = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}


def _flag(value) -> bool:
    return value is True or str(value or "").strip().lower() in _TRUE


class Mailer:
    def __init__(self, host: str, port: int, sender: str, *, username: str = "", password: str = "",
                 starttls: bool = False, timeout: float = 15.0, ssl_tls: bool = False):
        """``starttls`` upgrades a plain connection (port 587); ``ssl_tls`` opens TLS from the
        start (port 465, the usual setting of Chinese mail providers). Both verify the
        server's certificate."""
        if starttls and ssl_tls:
            raise ValueError("choose MAIL_STARTTLS or MAIL_SSL, not both")
        if not sender:
            raise ValueError("MAIL_FROM must be set when MAIL_SERVER is")
        self.host = host
        self.port = int(port)
        self.sender = sender
        self.username = username
        self.password = password
        self.starttls = starttls
        self.ssl_tls = ssl_tls
        self.timeout = timeout

    @classmethod
    def from_config(cls, config: Mapping) -> Mailer | None:
        """The configured mailer, or None when e-mail is off (no MAIL_SERVER)."""
        host = (config.get("MAIL_SERVER") or "").strip()
        if not host:
            return None
        ssl_tls, starttls = _flag(config.get("MAIL_SSL")), _flag(config.get("MAIL_STARTTLS"))
        return cls(
            host,
            int(config.get("MAIL_PORT") or (465 if ssl_tls else 587 if starttls else 25)),
            (config.get("MAIL_FROM") or "").strip(),
            username=config.get("MAIL_USERNAME") or "",
            password=config.get("MAIL_PASSWORD") or "",
            starttls=starttls,
            ssl_tls=ssl_tls,
            timeout=float(config.get("MAIL_TIMEOUT") or 15.0),
        )

    def build_message(self, to: str, subject: str, text: str, *,
                      attachments: Sequence[tuple[str, str, bytes]] = ()) -> EmailMessage:
        msg = EmailMessage(policy=policy.default)
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        # base64 rather than 8bit: survives relays that do not announce 8BITMIME.
        msg.set_content(text, charset="utf-8", cte="base64")
        for filename, mime_type, data in attachments:
            maintype, _, subtype = mime_type.partition("/")
            if not subtype:
                raise ValueError(f"attachment type must look like 'application/pdf', not {mime_type!r}")
            # An explicit (charset, language, value) triple makes the name RFC 2231 encoded,
            # which mail clients decode back to the Chinese name.
            name = filename if filename.isascii() else ("utf-8", "", filename)
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
        return msg

    def send(self, to: str, subject: str, text: str, *,
             attachments: Sequence[tuple[str, str, bytes]] = ()) -> None:
        """Send one message; raises DeliveryError (see the module docstring for retryable)."""
        if "@" not in to or any(ch in to for ch in "\r\n"):
            raise DeliveryError("not an e-mail address", retryable=False)
        msg = self.build_message(to, subject, text, attachments=attachments)
        try:
            with self._connect() as smtp:
                if self.username:
                    smtp.login(self.username, self.password)
                refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _refused(exc.recipients.values()) from None
        except smtplib.SMTPServerDisconnected:
            log.warning("SMTP server %s closed the connection", self.host)
            raise DeliveryError("mail server closed the connection", retryable=True) from None
        except smtplib.SMTPNotSupportedError:
            log.warning("SMTP server %s lacks a feature the settings need (STARTTLS or SMTPUTF8)", self.host)
            raise DeliveryError("mail server does not support the configured settings", retryable=False) from None
        except smtplib.SMTPResponseException as exc:
            raise _from_code(exc.smtp_code, type(exc).__name__) from None
        except smtplib.SMTPException as exc:
            log.warning("SMTP error %s from %s", type(exc).__name__, self.host)
            raise DeliveryError(f"mail error: {type(exc).__name__}", retryable=True) from None
        except (TimeoutError, OSError) as exc:  # refused, unreachable, timed out, TLS failures
            log.warning("SMTP server %s:%s unreachable (%s)", self.host, self.port, type(exc).__name__)
            raise DeliveryError("mail server unreachable", retryable=True) from None
        if refused:  # only possible with several recipients; we send to one
            raise _refused(refused.values())
        log.info("mail accepted by %s: %s", self.host, msg["Message-ID"])

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.ssl_tls:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.starttls:
                smtp.starttls(context=context)
        except BaseException:
            smtp.close()
            raise
        return smtp


def _from_code(code: int, what: str) -> DeliveryError:
    retryable = not 500 <= int(code) < 600
    log.warning("SMTP %s: code %s (retryable=%s)", what, code, retryable)
    return DeliveryError(f"mail server answered {code}", retryable=retryable)


def _refused(answers) -> DeliveryError:
    """A recipient refused with 4xx (mailbox busy, greylisting) may be retried; with 5xx it is
    refused for good. The address itself stays out of the reason."""
    codes = [code for code, _msg in answers] or [550]
    retryable = all(400 <= code < 500 for code in codes)
    log.warning("SMTP recipient refused: code %s (retryable=%s)", codes[0], retryable)
    return DeliveryError(f"recipient refused ({codes[0]})", retryable=retryable)
