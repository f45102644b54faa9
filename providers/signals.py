"""Signals the providers app sends, for features that build on provider answers.

``phone_revealed``: the numbers of a :class:`~providers.models.PhoneReveal` arrived. Sent once per
reveal, after the transaction that stored them commits, with ``sender=PhoneReveal`` and the
keyword arguments ``reveal`` (the PhoneReveal) and ``fields`` (canonical ``mobile_phone`` /
``phone`` → ``{"value", "confidence", "type", "status"}``; empty when the provider found no
number). A receiver that raises is logged (by exception type only: its text may quote the
numbers) and does not undo the delivery; the receivers after it miss the event, so receivers
should hand slow or fallible work to a Celery task instead of raising.
"""

from __future__ import annotations

from django.dispatch import Signal

phone_revealed = Signal()
