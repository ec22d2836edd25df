"""The village register: villages → groups → households → people, search, and edits."""
from flask import Blueprint

bp = Blueprint("register", __name__)

from . import errors, views  # noqa: E402,F401
