"""Translated labels for delivery methods and message states."""
from flask_babel import lazy_gettext as _l

HOW_LABELS = {"person": _l("Handed to the person"), "family": _l("Handed to a family member"),
              "phone": _l("Told by phone")}
CHANNEL_LABELS = {"slip": _l("Slip"), "sms": _l("SMS"), "email": _l("E-mail"), "app": _l("On the phone")}
MESSAGE_STATUS_LABELS = {
    "queued": _l("Waiting"), "sending": _l("Sending"), "sent": _l("Sent"), "retry": _l("Failed, will retry"),
    "failed": _l("Failed"), "delivered": _l("Delivered"), "void": _l("Void"),
}
