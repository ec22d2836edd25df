"""Supervisors see where two phones changed the same field differently, and may pick the other value."""
from flask import Blueprint

bp = Blueprint("conflicts", __name__, url_prefix="/conflicts")

from . import views  # noqa: E402,F401
