"""SMTP servers on 127.0.0.1 (aiosmtpd) that behave like the mail hosts a verifier meets.

Each behaviour is a small aiosmtpd handler deciding the reply to ``RCPT TO``:

* :class:`AcceptAll` - a catch-all domain: every address is accepted;
* :class:`KnownMailboxes` - accepts its mailboxes, ``550 5.1.1`` for the others, optionally
  ``552 5.2.2`` (full) and ``550 5.2.1`` (disabled) mailboxes;
* :class:`Greylist` - ``451 4.7.1`` the first time it sees a (sender, recipient), then asks
  the handler it wraps;
* :class:`DropAfterRcpt` - answers ``after`` RCPTs through the wrapped handler, then hangs up
  on the next one without a reply;
* :class:`Microsoft365Like` - ``250 2.1.5 Recipient OK`` to any address, or, with
  directory-based edge blocking on, ``550 5.4.1 ... Access denied`` to unknown ones;
* :class:`BlockSender` - refuses ``MAIL FROM`` with ``550 5.7.1`` (our IP is on a block list);
* :class:`HeloOnly` - an old server that refuses EHLO, so the client must fall back to HELO;
* :class:`Slow` - waits before each RCPT reply, so that concurrent sessions overlap.

:class:`SmtpServer` records every command it receives (``commands``), so a test can assert
that DATA never was, and counts connections (``connections``, ``max_concurrent``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.loop_server import LoopThreadServer

# A handler returns this instead of a reply to make the server hang up without answering.
DROP = "__drop__"


class AcceptAll:
    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"


class KnownMailboxes:
    def __init__(
        self,
        mailboxes: Iterable[str],
        *,
        full: Iterable[str] = (),
        disabled: Iterable[str] = (),
    ) -> None:
        self.mailboxes = {m.lower() for m in mailboxes}
        self.full = {m.lower() for m in full}
        self.disabled = {m.lower() for m in disabled}

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        address = address.lower()
        if address in self.full:
            return "552 5.2.2 Mailbox full"
        if address in self.disabled:
            return "550 5.2.1 Mailbox disabled"
        if address in self.mailboxes:
            envelope.rcpt_tos.append(address)
            return "250 2.1.5 OK"
        return "550 5.1.1 No such user here"


class Greylist:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seen: set[tuple[str, str]] = set()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        triplet = ((envelope.mail_from or "").lower(), address.lower())
        if triplet not in self.seen:
            self.seen.add(triplet)
            return "451 4.7.1 Greylisted, please try again later"
        return await self.inner.handle_RCPT(server, session, envelope, address, options)


class DropAfterRcpt:
    def __init__(self, inner: Any | None = None, *, after: int = 0) -> None:
        self.inner = inner or AcceptAll()
        self.after = after
        self._answered: dict[int, int] = {}

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        answered = self._answered.get(id(session), 0)
        if answered >= self.after:
            return DROP
        self._answered[id(session)] = answered + 1
        return await self.inner.handle_RCPT(server, session, envelope, address, options)


class Microsoft365Like:
    """Exchange Online: accepts any RCPT unless directory-based edge blocking is on."""

    def __init__(self, mailboxes: Iterable[str] | None = None) -> None:
        self.mailboxes = None if mailboxes is None else {m.lower() for m in mailboxes}

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.mailboxes is not None and address.lower() not in self.mailboxes:
            return (
                "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) "
                "[XX0PR00MB0000.eurprd00.prod.outlook.com]"
            )
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Recipient OK"


class BlockSender:
    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        return "550 5.7.1 Service unavailable; client host blocked using a block list"


class HeloOnly:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list
    ) -> list[str]:
        return ["502 5.5.1 Command not implemented"]

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        return await self.inner.handle_RCPT(server, session, envelope, address, options)


class Slow:
    def __init__(self, inner: Any, delay: float = 0.05) -> None:
        self.inner = inner
        self.delay = delay

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        await asyncio.sleep(self.delay)
        return await self.inner.handle_RCPT(server, session, envelope, address, options)


class _RecordingSMTP(SMTP):
    """aiosmtpd's server, recording each command before it is handled."""

    def __init__(
        self,
        handler: Any,
        record: Callable[[str, str | None], None],
        owner: SmtpServer,
        **kwargs: Any,
    ):
        super().__init__(handler, **kwargs)
        self._owner = owner
        self._counted = False
        for verb, method in list(self._smtp_methods.items()):
            self._smtp_methods[verb] = self._recorded(verb, method, record)

    @staticmethod
    def _recorded(
        verb: str,
        method: Callable[[str | None], Awaitable[None]],
        record: Callable[[str, str | None], None],
    ) -> Callable[[str | None], Awaitable[None]]:
        async def wrapper(arg: str | None) -> None:
            record(verb, arg)
            await method(arg)

        return wrapper

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._counted:
            self._counted = True
            self._owner._opened()
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            self._counted = False
            self._owner._closed()
        super().connection_lost(error)

    async def push(self, status: Any) -> None:
        if status == DROP:
            if self.transport is not None:
                self.transport.close()
            return
        await super().push(status)


class SmtpServer(LoopThreadServer):
    """An aiosmtpd server on a random port of 127.0.0.1, in its own thread and loop."""

    thread_name = "test-smtp-server"

    def __init__(self, handler: Any, *, host: str = "127.0.0.1", hostname: str = "mx.test"):
        self.handler = handler
        self.host = host
        self.hostname = hostname
        self.port = 0
        self.commands: list[tuple[str, str | None]] = []
        self.connections = 0
        self.open_sessions = 0
        self.max_concurrent = 0
        self._lock = threading.Lock()
        super().__init__()
        self._server: asyncio.AbstractServer | None = None

    def verbs(self) -> list[str]:
        """The commands received, in order, without their arguments."""
        with self._lock:
            return [verb for verb, _ in self.commands]

    def rcpts(self) -> list[str]:
        """The RCPT TO addresses received, in order, without the angle brackets."""
        with self._lock:
            return [
                (arg or "").partition(":")[2].strip().strip("<>").lower()
                for verb, arg in self.commands
                if verb == "RCPT"
            ]

    def _record(self, verb: str, arg: str | None) -> None:
        with self._lock:
            self.commands.append((verb, arg))

    def _opened(self) -> None:
        with self._lock:
            self.connections += 1
            self.open_sessions += 1
            self.max_concurrent = max(self.max_concurrent, self.open_sessions)

    def _closed(self) -> None:
        with self._lock:
            self.open_sessions -= 1

    def _factory(self) -> _RecordingSMTP:
        return _RecordingSMTP(self.handler, self._record, self, hostname=self.hostname)

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._factory, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
