"""Print the Python requirements declared in pyproject.toml, one per line, for pip -r.

    python scripts/requirements.py            # runtime dependencies
    python scripts/requirements.py test       # plus the `test` extra

The project itself is not installed: the app runs from the repository (wsgi.py, pytest's
pythonpath), so no build backend is needed to set up a machine.
"""
import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
requirements = list(project["dependencies"])
for extra in sys.argv[1:]:
    requirements += project["optional-dependencies"][extra]
print("\n".join(requirements))
