"""Same-day attendance, make-up follow-up, history and exports (issue 5): read views over the
desk's ``Attendance`` projection and the check-up days' invitations, plus a town's targets."""
from flask import Blueprint

bp = Blueprint("attendance", __name__, url_prefix="/attendance")


def init_app(app) -> None:
    from ..visits.today import register_today_provider
    from . import models  # noqa: F401  (tables, the make-up deadline's default)
    from .today import makeup_section

    app.register_blueprint(bp)
    register_today_provider(app, makeup_section)


from . import views  # noqa: E402,F401
