"""providers.ids: hot-path ids from a per-process generator (pure logic, no services)."""

from __future__ import annotations

import multiprocessing
import re
import uuid

from providers import ids


def test_a_token_is_32_hex_digits_and_tokens_differ():
    tokens = {ids.token() for _ in range(10_000)}

    assert len(tokens) == 10_000
    assert all(re.fullmatch(r"[0-9a-f]{32}", token) for token in tokens)


def test_a_call_id_is_the_hex_of_a_version_4_uuid():
    for _ in range(1_000):
        value = ids.uuid4_hex()
        parsed = uuid.UUID(hex=value)
        assert (parsed.version, parsed.variant, parsed.hex) == (4, uuid.RFC_4122, value)


def _next_token(queue) -> None:
    queue.put(ids.token())


def test_a_forked_child_does_not_repeat_its_parents_sequence():
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    children = [context.Process(target=_next_token, args=(queue,)) for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(30)
    from_children = {queue.get(timeout=5) for _ in children}

    # Without the reseed, both children (and the parent's next draw) would give one token.
    assert len(from_children) == 2
    assert ids.token() not in from_children
