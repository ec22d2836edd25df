"""Register import: an admin or supervisor uploads the town's spreadsheet, sees every row's
problems, skips or fixes rows, and imports the rest as one audited merge."""
from flask import Blueprint

bp = Blueprint("imports", __name__, url_prefix="/imports")

from . import views  # noqa: E402,F401
