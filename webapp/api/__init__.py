"""The JSON API used by phones: device login now, /api/sync with the offline issue."""
from flask import Blueprint

from ..extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api")
# Bearer-token requests carry no cookie, so CSRF does not apply to them; requests that
# authenticate with the session cookie are checked in auth.py instead.
csrf.exempt(bp)

from . import views  # noqa: E402,F401
