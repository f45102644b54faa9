"""An authoritative DNS server on 127.0.0.1 for tests and benchmarks.

Built on dnspython's message API (``dns.message.from_wire`` / ``make_response``) and an
asyncio loop in a daemon thread, on a random UDP port and the same TCP port. Each answer can be
delayed (``delay``) to imitate an uncached recursive resolver; the delay is scheduled on the
loop, so concurrent queries wait in parallel rather than in line.

Zones are a plain mapping of owner name to record type to rdata in zone-file text::

    DnsServer({
        "acme.test": {"MX": ["10 mx1.acme.test.", "20 mx2.acme.test."]},
        "mx1.acme.test": {"A": ["127.0.0.1"]},
        "a-only.test": {"A": ["93.184.216.34"]},
        "nomail.test": {"MX": ["0 ."]},
    }, drop={"slow.test"}, servfail={"broken.test"}, delay=0.03)

Names absent from the mapping answer NXDOMAIN; present names without the asked type answer
NOERROR with no records (the "NoAnswer" case). Negative answers carry an SOA in the authority
section, as a real server's do, so caching resolvers can cache them (RFC 2308).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import cast

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from tests.support.loop_server import LoopThreadServer

Zones = Mapping[str, Mapping[str, Sequence[str]]]

TTL = 300
NEGATIVE_TTL = 300


class DnsServer(LoopThreadServer):
    """Start with ``start()`` (or a ``with`` block); ``port`` and ``nameserver`` are then set.

    ``queries`` counts every query received, ``query_log`` counts them per
    ``(name, type)`` so tests can assert how many look-ups a code path made;
    ``max_in_flight`` is the most queries received and not yet answered at one time.
    """

    thread_name = "test-dns-server"

    def __init__(
        self,
        zones: Zones,
        *,
        drop: Iterable[str] = (),
        servfail: Iterable[str] = (),
        delay: float = 0.0,
        host: str = "127.0.0.1",
    ) -> None:
        self.host = host
        self.delay = delay
        self.port = 0
        self._records: dict[tuple[dns.name.Name, int], dns.rrset.RRset] = {}
        self._names: set[dns.name.Name] = set()
        self.set_zones(zones)
        self._drop = {dns.name.from_text(n) for n in drop}
        self._servfail = {dns.name.from_text(n) for n in servfail}
        self.query_log: Counter[tuple[str, str]] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        super().__init__()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.AbstractServer | None = None

    # --- zone data ----------------------------------------------------------------------

    def set_zones(self, zones: Zones) -> None:
        """Replace the served records (safe while running: one dict swap)."""
        records: dict[tuple[dns.name.Name, int], dns.rrset.RRset] = {}
        names: set[dns.name.Name] = set()
        for owner, by_type in zones.items():
            name = dns.name.from_text(owner)
            names.add(name)
            for rdtype_text, values in by_type.items():
                rdtype = dns.rdatatype.from_text(rdtype_text)
                records[(name, rdtype)] = dns.rrset.from_text_list(
                    name, TTL, dns.rdataclass.IN, rdtype, list(values)
                )
        self._records, self._names = records, names

    # --- statistics ---------------------------------------------------------------------

    @property
    def queries(self) -> int:
        with self._lock:
            return sum(self.query_log.values())

    def count(self, name: str, rdtype: str | None = None) -> int:
        """Queries received for ``name`` (of type ``rdtype``, or of any type)."""
        key = dns.name.from_text(name).to_text(omit_final_dot=True).lower()
        with self._lock:
            return sum(
                n
                for (qname, qtype), n in self.query_log.items()
                if qname == key and (rdtype is None or qtype == rdtype.upper())
            )

    def reset_counts(self) -> None:
        with self._lock:
            self.query_log.clear()
            self.max_in_flight = 0

    def _received(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _answered(self) -> None:
        with self._lock:
            self.in_flight -= 1

    # --- answering ----------------------------------------------------------------------

    def answer(self, wire: bytes) -> bytes | None:
        """The response to one query in wire format, or None to stay silent."""
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return None  # garbage on the port: a real server ignores it too
        if not query.question:
            return None
        question = query.question[0]
        qname = question.name
        with self._lock:
            self.query_log[
                (
                    qname.to_text(omit_final_dot=True).lower(),
                    dns.rdatatype.to_text(question.rdtype),
                )
            ] += 1
        if qname in self._drop:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if qname in self._servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire()
        rrset = self._records.get((qname, question.rdtype))
        if rrset is not None:
            response.answer.append(rrset)
        else:
            if qname not in self._names:
                response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(_soa_for(qname))
        return response.to_wire()

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def nameserver(self) -> str:
        """``host:port``, the form ``ENRICH_DNS_NAMESERVERS`` and ``MxResolver`` take."""
        return f"{self.host}:{self.port}"

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        # UDP first on port 0 to get a free port, then TCP on the same number: resolvers fall
        # back to TCP on the nameserver's one port.
        for _ in range(20):
            transport, _protocol = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(self.host, self.port)
            )
            port = transport.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, self.host, port)
            except OSError:
                transport.close()
                continue
            self._udp = transport
            self.port = port
            return
        raise OSError("no free UDP+TCP port pair")

    async def _close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # RFC 1035 §4.2.2: each message is preceded by its two-octet length.
        try:
            while True:
                length = int.from_bytes(await reader.readexactly(2), "big")
                wire = await reader.readexactly(length)
                reply = self.answer(wire)
                if reply is None:
                    continue
                self._received()
                if self.delay:
                    await asyncio.sleep(self.delay)
                self._answered()
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's UDP transport does not subclass DatagramTransport; cast only.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.server.answer(data)
        if reply is None or self.transport is None:
            return
        self.server._received()
        if self.server.delay:
            # call_later, not sleep: every pending answer waits on the same loop at once.
            asyncio.get_running_loop().call_later(self.server.delay, self._send, reply, addr)
        else:
            self._send(reply, addr)

    def _send(self, reply: bytes, addr: tuple[str, int]) -> None:
        self.server._answered()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)


def mail_zone(
    domain: str, *mx_hosts: str, address: str = "127.0.0.1"
) -> dict[str, dict[str, list[str]]]:
    """Zone records for ``domain`` with the given MX hosts (preference 10, 20, ...), each
    resolving to ``address`` so that the prober reaches the loopback SMTP server."""
    hosts = mx_hosts or (f"mx.{domain}",)
    zone: dict[str, dict[str, list[str]]] = {
        domain: {"MX": [f"{10 * (i + 1)} {host}." for i, host in enumerate(hosts)]}
    }
    for host in hosts:
        zone[host] = {"A": [address]}
    return zone


def _soa_for(qname: dns.name.Name) -> dns.rrset.RRset:
    # The SOA owner must be an ancestor of the name for a resolver to use its minimum as the
    # negative TTL; the top-level label serves every test name.
    zone = qname.split(2)[1] if len(qname) > 1 else dns.name.root
    suffix = "" if zone == dns.name.root else zone.to_text()
    return dns.rrset.from_text(
        zone,
        NEGATIVE_TTL,
        dns.rdataclass.IN,
        dns.rdatatype.SOA,
        f"ns.{suffix} hostmaster.{suffix} 1 3600 600 86400 {NEGATIVE_TTL}",
    )
