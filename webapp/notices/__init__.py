"""Notice lists three days ahead: the worker's list and slips, deliveries, the scheduler."""
from flask import Blueprint

bp = Blueprint("notices", __name__, url_prefix="/notices")


def init_app(app) -> None:
    from ..merging import register_sync_types
    from .cli import register_cli
    from .sync_rules import NoticeRules

    register_sync_types(app, NoticeRules)
    register_cli(app)


from . import views  # noqa: E402,F401
