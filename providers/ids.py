"""Random identifiers for the provider client's hot path, without a system call each.

A paid call names three things: its concurrency lease, its single-flight lock and its ledger
row. Those names must be unique across processes and hosts; they need not be secret (only our
own processes see them, and guessing one gains nothing). ``uuid.uuid4()`` reads the kernel's
random source on every call, a system call that also gives up the interpreter lock, so each
id costs a wait for the lock whenever other threads are busy. Here a process-wide generator,
seeded from the kernel's random source at import and again in every forked child (so workers
forked from one parent never share a sequence), gives 128 random bits from memory.
"""

from __future__ import annotations

import os
import random

_random = random.Random(os.urandom(32))


def _reseed() -> None:
    _random.seed(os.urandom(32))


os.register_at_fork(after_in_child=_reseed)


def token() -> str:
    """32 random hex digits, like ``uuid.uuid4().hex`` (without the version bits)."""
    return f"{_random.getrandbits(128):032x}"


# The version (4) and variant (RFC 4122) bits, as uuid.UUID(version=4) sets them.
_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_SET = (0x4000 << 64) | (0x8000 << 48)


def uuid4_hex() -> str:
    """What ``uuid.uuid4().hex`` gives (a ledger row's ``call_id``), from the process's
    generator and without making a UUID object."""
    return f"{(_random.getrandbits(128) & _CLEAR) | _SET:032x}"
