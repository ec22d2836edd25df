"""The installable, offline-capable shell: manifest, service worker, offline and outbox pages."""
import mimetypes

from flask import Blueprint

# Python's mimetypes table does not know the manifest's extension on every platform.
mimetypes.add_type("application/manifest+json", ".webmanifest")

bp = Blueprint("pwa", __name__)

from . import views  # noqa: E402,F401
