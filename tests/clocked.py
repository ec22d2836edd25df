"""Run the Flask CLI under a clock the test controls (time-machine), in this process.

    python -m tests.clocked CLOCK_FILE -- flask --app wsgi scheduler

CLOCK_FILE holds an ISO 8601 instant. The clock starts there and ticks on; whenever the file
changes, the clock jumps to the new instant. Only wall-clock time moves: monotonic time and
sleeps stay real, so timeouts and the scheduler's waits behave as in production.
"""
from __future__ import annotations

import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import time_machine


def write_clock(path: Path, instant: datetime) -> None:
    """Set the clock of every process following ``path`` (atomically: no half-written reads)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(instant.isoformat())
    tmp.replace(path)


def main() -> None:
    clock = Path(sys.argv[1])
    command = sys.argv[sys.argv.index("--") + 1:]
    current = clock.read_text().strip()
    traveller = time_machine.travel(datetime.fromisoformat(current), tick=True)
    coordinates = traveller.start()

    def follow() -> None:
        nonlocal current
        while True:
            time.sleep(0.05)
            try:
                text = clock.read_text().strip()
            except OSError:
                continue
            if text and text != current:
                current = text
                coordinates.move_to(datetime.fromisoformat(text))

    threading.Thread(target=follow, name="clock", daemon=True).start()
    if command[:1] != ["flask"]:
        raise SystemExit("usage: python -m tests.clocked CLOCK_FILE -- flask ARGS…")
    sys.argv = command
    from flask.cli import main as flask_main

    flask_main()


if __name__ == "__main__":
    main()
