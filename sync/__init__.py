"""The sync merge engine: plain Python, no Flask import (see DESIGN.md §4)."""
