"""The station sign-in desk on check-up day: sign-ins, undos and absence reasons (record
types merged like every field write), the attendance they project, and the desk pages."""
from flask import Blueprint

bp = Blueprint("desk", __name__, url_prefix="/desk")


def init_app(app) -> None:
    from ..merging import register_sync_types
    from . import models  # noqa: F401  (tables)
    from .sync_rules import DeskRules

    app.register_blueprint(bp)
    register_sync_types(app, DeskRules)

from . import views  # noqa: E402,F401  (the desk pages: routes on bp before init_app registers it)
