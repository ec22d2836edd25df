"""Notice lists three days ahead: the worker's list and slips, deliveries, the scheduler."""
from flask import Blueprint

bp = Blueprint("notices", __name__, url_prefix="/notices")


def init_app(app) -> None:
    from ..merging import register_sync_types
    from ..visits.today import register_today_provider
    from .cli import register_cli
    from .sync_rules import NoticeRules
    from .today import notices_section

    register_sync_types(app, NoticeRules)
    register_today_provider(app, notices_section)
    register_cli(app)


from . import views  # noqa: E402,F401
