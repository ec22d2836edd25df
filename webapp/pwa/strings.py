"""Words the browser scripts show, in the user's language.

layout.html renders them as a JSON block (<script type="application/json" id="i18n">):
JSON is never executed, so the CSP (script-src 'self') allows it. Placeholders are {name}.
"""
from __future__ import annotations

from flask_babel import gettext as _

from ..desk.labels import ABSENCE_REASON_LABELS
from ..notices.labels import HOW_LABELS
from ..register.labels import RELATION_LABELS, SEX_LABELS, STATUS_LABELS


def visit_form_titles() -> dict:
    from flask_babel import get_locale

    from ..visits.definitions import builtin_forms, text_in

    locale = str(get_locale())
    return {form_id: text_in(d["title"], locale) for form_id, d in builtin_forms().items()}


def js_strings() -> dict:
    return {
        "saved_waiting": _("Saved, waiting to sync"),
        "saved": _("Saved"),
        "no_offline": _("This browser cannot keep your work on the phone, so it works only with a signal. "
                        "To work offline, open this page in the phone's own browser (tap ⋮ or ··· and choose "
                        "\"Open in browser\"), then add it to the home screen."),
        "not_saved_offline": _("Not saved: there is no signal and this browser cannot keep the form on the "
                               "phone. Your answers are still on this page; send them again when you have a signal."),
        "storage_low": _("The phone is almost out of space for this app (about {free} MB left). Sync now, "
                         "then free some space, so nothing waiting on the phone is lost."),
        "not_persisted": _("This browser may clear data kept on the phone when space runs low. Changes are waiting "
                           "to sync: sync as soon as you have a signal, and add the app to the home screen."),
        "waiting": _("{count} waiting to sync"),
        "rejected": _("{count} need fixing"),
        "all_synced": _("Everything is synced"),
        "last_sync": _("Last synced {time}"),
        "never_synced": _("Never synced on this phone"),
        "failed": _("Sync failed: {reason}"),
        "reason_network": _("no connection, will retry by itself"),
        "reason_login": _("Please log in again"),
        "reason_http": _("the server answered {detail}, will retry by itself"),
        "ready_offline": _("Ready to use offline"),
        "unsynced": _("Not synced yet"),
        "logout_confirm": _("{count} changes on this phone have not reached the server yet. "
                            "They stay on this phone and are sent after you log in again. Log out anyway?"),
        "fix_intro": _("The server did not accept this change. Correct the fields marked below and save again."),
        "outbox_empty": _("Nothing is waiting: every change on this phone has reached the server."),
        "state_pending": _("Waiting to sync"),
        "state_rejected": _("Not accepted: needs fixing"),
        "type_person": _("Person"),
        "type_household": _("Household"),
        "type_notice_delivery": _("Notice slip delivered"),
        "rejected_one": _("Not accepted: needs fixing"),
        "made_at": _("Made {time}"),
        "attempts": _("{count} attempts"),
        "fix": _("Fix and send again"),
        "sync_now": _("Sync now"),
        "no_name": _("(no name)"),
        "household_no": _("No. {number}"),
        "back_to_group": _("Back to the group"),
        "pending_note": _("Values marked below are saved on this phone and not yet on the server."),
        "was": _("was {value}"),
        "yes": _("Yes"),
        "no": _("No"),
        "type_visit": _("Visit"),
        "choose_one": _("Choose at least one."),
        "today_waiting": _("{pending} waiting to sync, {rejected} need fixing"),
        "nobody_found": _("Nobody found."),
        "index_ready": _("{count} people on this phone for searching."),
        "index_missing": _("Open this page once with a connection to search offline."),
        "desk_ready": _("{count} people of this day kept on this device: the desk works without signal."),
        "desk_missing": _("The list of people is not on this device yet. Open this page once with a connection."),
        "desk_signed_at": _("Signed in at {time}"),
        "desk_signed_at_desk": _("Signed in at {time} at {desk}"),
        "desk_already": _("Already signed in: {when}."),
        "desk_signed_in": _("{name} is signed in."),
        "desk_undone": _("The sign-in of {name} was undone."),
        "desk_undo": _("Undo sign-in"),
        "desk_undo_confirm": _("Undo the sign-in of {name}?"),
        "desk_sign_in": _("Sign in"),
        "desk_absent": _("Absent…"),
        "desk_absence_saved": _("Absence of {name} saved."),
        "desk_walk_in": _("Walk-in"),
        "desk_not_invited": _("Not invited: sign in as a walk-in"),
        "desk_walk_in_reason": _("Why a walk-in?"),
        "desk_reason_needed": _("Enter why this person comes without an invitation."),
        "desk_certificate_asked": _("Away: certificate requested"),
        "desk_certificate_on": _("certificate received {date} {place}"),
        "desk_age": _("{age} years"),
        "desk_code": _("code {code}"),
        "desk_refused": _("The server did not accept a record of this desk: {reason}"),
        "desk_scan_point": _("Point the camera at the QR code on the slip."),
        "desk_slip_unknown": _("This QR code is not a slip for this day."),
        "desk_camera_failed": _("The camera could not be started. Type the slip's code instead."),
        "desk_reasons": {code: str(text) for code, text in ABSENCE_REASON_LABELS.items()},
        "type_signin": _("Sign-in"),
        "type_signin_undo": _("Sign-in undone"),
        "type_absence": _("Absence"),
        "forms": visit_form_titles(),
        "values": {
            "sex": {code: str(text) for code, text in SEX_LABELS.items()},
            "status": {code: str(text) for code, text in STATUS_LABELS.items()},
            "relation": {code: str(text) for code, text in RELATION_LABELS.items()},
            "how": {code: str(text) for code, text in HOW_LABELS.items()},
        },
        "fields": {
            "name": _("Name"),
            "sex": _("Sex"),
            "birth_date": _("Date of birth"),
            "id_number": _("ID number"),
            "phone": _("Mobile phone"),
            "relation": _("Relation to head of household"),
            "status": _("Status"),
            "away_place": _("Away at"),
            "away_contact": _("Contact while away"),
            "enrolled": _("Enrolled in check-ups"),
            "address": _("Address"),
            "number": _("Household number"),
            "group_id": _("Group"),
            "household_id": _("Household"),
            "invitation_id": _("Invitation"),
            "how": _("Delivered how"),
            "delivered_on": _("Delivered on"),
            "form_version": _("Form version"),
            "form_id": _("Form"),
            "person_id": _("Which member"),
        },
    }
