"""The one error every delivery channel raises, so callers retry or record a failure
without knowing which transport they used."""
from __future__ import annotations


class DeliveryError(Exception):
    """A notice could not be handed to the channel.

    ``reason`` is short, safe to store and to log: it never holds a phone number, an
    address or the message text. ``retryable`` says whether sending the same message
    again later may succeed (gateway down, timeout) or cannot (number or address refused).
    """

    def __init__(self, reason: str, *, retryable: bool):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable

    def __repr__(self) -> str:
        return f"DeliveryError({self.reason!r}, retryable={self.retryable})"
