"""Check-up days: scheduling, invitations from the register, rosters per village."""
from flask import Blueprint

bp = Blueprint("checkups", __name__, url_prefix="/checkups")

from . import views  # noqa: E402,F401
