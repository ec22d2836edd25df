"""What each channel says: slips for a list, the SMS text, the e-mail to a village worker.

The transports (slips.py PDF, sms.py gateway, mail.py SMTP) know nothing of the register;
this module turns a list or an invitation into their inputs. No ID numbers anywhere; the
QR code carries only the invitation's opaque token.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from ..checkups.labels import DEFAULT_BRING, service_names
from ..checkups.models import CheckupDay, Invitation
from ..extensions import db
from ..models import Person
from .models import NoticeList
from .service import deliver_by


def sms_gateway():
    from .sms import SmsGateway

    return SmsGateway.from_config(current_app.config)


def mailer():
    from .mail import Mailer

    return Mailer.from_config(current_app.config)


def slip_for(inv: Invitation):
    from .slips import Slip

    day, person = inv.day, inv.person
    return Slip(name=person.name, village=inv.village.name, group=inv.group.name, day=day.date,
                start=day.start_time, end=day.end_time, station=day.station, services=service_names(day.services),
                bring=day.bring or str(DEFAULT_BRING), token=inv.token, code=inv.code,
                certificate=inv.kind == "certificate")


def list_invitations(notice_list: NoticeList) -> list[Invitation]:
    return list(db.session.scalars(
        sa.select(Invitation).join(Person, Person.id == Invitation.person_id)
        .where(Invitation.day_id == notice_list.day_id, Invitation.village_id == notice_list.village_id,
               Invitation.active.is_(True))
        .order_by(Invitation.group_id, Person.name_pinyin)))


def slips_pdf(day: CheckupDay, invitations: list[Invitation]) -> bytes:
    from .slips import render_slips_pdf

    return render_slips_pdf([slip_for(inv) for inv in invitations], title=_("Check-up notice"))


def sms_text(inv: Invitation) -> str:
    from ..config import DEFAULT_SMS_TEMPLATE
    from .sms import render_sms, sms_values

    day = inv.day
    locale = current_app.config.get("BABEL_DEFAULT_LOCALE", "zh_CN")
    values = sms_values(name=inv.person.name, day=day.date, start=day.start_time, end=day.end_time,
                        station=day.station, services=service_names(day.services), locale=locale)
    return render_sms(current_app.config.get("SMS_TEMPLATE") or DEFAULT_SMS_TEMPLATE, **values)


def list_email(notice_list: NoticeList, worker) -> tuple[str, str, list[tuple[str, str, bytes]]]:
    day = db.session.get(CheckupDay, notice_list.day_id)
    invitations = list_invitations(notice_list)
    village = notice_list.village.name
    subject = _("Notice list: %(village)s, check-up day %(date)s", village=village, date=day.date.isoformat())
    lines = [
        _("Hello %(name)s,", name=worker.display_name or worker.username),
        "",
        _("Please hand these %(count)d notice slips to the people themselves by %(date)s.",
          count=len(invitations), date=deliver_by(day.date).isoformat()),
        _("Check-up day: %(date)s %(start)s–%(end)s at %(station)s.", date=day.date.isoformat(),
          start=day.start_time.strftime("%H:%M"), end=day.end_time.strftime("%H:%M"), station=day.station),
        "",
    ]
    for inv in invitations:
        note = _(" (away: certificate requested)") if inv.kind == "certificate" else ""
        lines.append(f"- {inv.group.name} {inv.person.name}{note}")
    lines += ["", _("The slips are attached as a PDF; the list is also in the app.")]
    attachments = []
    if invitations:
        attachments.append((_("notice-slips-%(village)s.pdf", village=village), "application/pdf",
                            slips_pdf(day, invitations)))
    return str(subject), "\n".join(str(line) for line in lines), attachments
