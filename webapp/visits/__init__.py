"""Door-to-door visits: form definitions as data, the visit record type, the worker's
"today" screen, visit histories and the supervisor's visit reports."""
from flask import Blueprint

bp = Blueprint("visits", __name__)


def init_app(app) -> None:
    """Register the blueprint, the ``visit`` record type and the built-in "today" sections."""
    from ..merging import register_sync_types
    from . import models, views  # noqa: F401  (tables and routes)
    from .cli import register_cli
    from .sync_rules import VisitRules
    from .today import builtin_providers, register_today_provider

    app.register_blueprint(bp)
    register_sync_types(app, VisitRules)
    for provider in builtin_providers():
        register_today_provider(app, provider)
    register_cli(app)
