"""Benchmark: the provider client under load against three rate-limited loopback providers.

5,000 ``find_email`` calls, every one with distinct inputs (so every one is a real, paid call
and the cache only adds its lookup and write), are driven through the real
``providers.client.ProviderClient``: Redis backend for the token bucket, concurrency leases,
circuit breaker, single-flight lock and response cache; one ledger row per attempt, buffered in
Redis and drained in batches (``providers.ledger``, the default with Redis) into a throwaway
PostgreSQL database (created, migrated and dropped by this script; ``--sqlite`` uses a SQLite
file in a temporary directory instead). Settings are ``config.settings`` with
``DEBUG=False``; only the adapter is the benchmark's own (one GET, JSON answer).

The three providers run in their own process (asyncio, so the stand-ins for remote services
take little of this machine's CPU). Each holds every answer back 20 ms and **enforces its
limit** at 50/s, 100/s and 200/s as a token bucket that tolerates a request arriving at most
50 ms ahead of an even spacing (GCRA with tau = 50 ms: bucket sizes 3.5, 6 and 11), answering
429 with ``Retry-After: 1`` beyond it. The Provider rows say 3000, 6000 and 12000 per minute,
concurrency 8 each. Calls are split in proportion to the limits so all three are busy for
about the same time.

The client side is two worker processes (two Celery workers, say), each with 4 threads per
provider: 8 callers per provider, its concurrency. ``--threads 6`` makes 12 callers compete
for the 8 slots, which adds the slot hand-offs (waiting on the freed list, a second admission
round trip) to the figures.

Printed:

* achieved rate per provider, measured at the server (200 answers over the span from first to
  last request), as a fraction of its limit (target >= 0.9), and the most requests the server
  accepted in any one-second window;
* the 429 answers the servers sent (target 0);
* client overhead per call (target < 2 ms): wall time inside ``ProviderClient.call`` minus the
  time inside ``transport.send`` (HTTP, including the 20 ms server delay) minus the deliberate
  waits (sleeping until a rate-limit token is due, blocking for a concurrency slot, backoff),
  divided by calls. The remainder is everything the client does itself: fingerprint, the
  cache read that also takes the lead and the admission (one script), the write that gives
  back the slot, appends the ledger row and stores the answer, any draining of the ledger
  buffer a call does itself (none with the default drainer thread), plus any time its threads
  spent waiting for a CPU. Because that last part depends on the machine's load, the
  client's own CPU time per call (thread CPU time outside ``transport.send``) is printed too,
  with the wall-time shares of recording ledger rows and of draining them in calls; and, not
  part of the overhead but competing for the same CPUs, the time the drainer threads spent
  draining and the transport's own CPU per call;
* for scale, measured in the same run: one Redis round trip from an idle thread, one small
  script's round trip after a 20 ms pause through redis-py's ``Script``, through
  :mod:`providers.wire` (which the client uses) and as bare bytes on a socket, and the client
  alone against an in-process provider, back to back and with pauses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from providers.adapters.base import (  # noqa: E402 - needs ROOT on sys.path
    Adapter,
    Operation,
    OperationSpec,
    ProviderResult,
    RequestSpec,
    Transport,
    build_fields,
)
from providers.adapters.values import ensure_mapping  # noqa: E402 - needs ROOT on sys.path

COMMAND = ".venv/bin/python bench/provider_client.py"
CALLS = 5_000
LIMITS_PER_SECOND = (50, 100, 200)
CONCURRENCY = 8
SERVER_DELAY = 0.020
#: GCRA tolerance: how far ahead of an even spacing a request may arrive.
JITTER_TOLERANCE_S = 0.050
PROCESSES = 2
THREADS_PER_PROVIDER = 4
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


class BenchAdapter(Adapter):
    """``GET /find?domain=...`` -> ``{"email": ..., "score": ...}``."""

    slug = "bench"
    label = "Bench"
    docs_url = "http://127.0.0.1/"
    default_base_url = "http://127.0.0.1:9"
    operations = {
        Operation.FIND_EMAIL: OperationSpec(
            required=("domain",),
            optional=("first_name",),
            outputs=("email",),
            cost=Decimal("0.0100"),
        )
    }

    def perform(
        self, op: Operation, inputs: dict[str, Any], transport: Transport
    ) -> ProviderResult:
        response = transport.send(
            RequestSpec(
                "GET",
                self.url("/find"),
                params={"domain": inputs["domain"]},
                headers={"X-Api-Key": self.require_credential()},
            )
        )
        self.raise_for_status(response)
        body = ensure_mapping(response.json(), http_status=response.status)
        return ProviderResult(
            found=True,
            fields=build_fields({"email": (body["email"], body["score"])}),
            raw=body,
            cost=self.cost_for(op),
            http_status=response.status,
        )


# --- Loopback providers (their own process) ---------------------------------------------------------


class LimitedProvider:
    """A loopback provider: token-bucket limit, 20 ms per answer, counts what it accepts.

    Written on asyncio with minimal HTTP/1.1 parsing (keep-alive, GET only) so the stand-in for
    a remote provider uses as little of the machine's CPU as possible: in production the
    provider's CPU is not ours.
    """

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = 1.0 + rate * JITTER_TOLERANCE_S
        self.tokens = self.capacity
        self.last = time.monotonic()
        self.accepted: list[float] = []
        self.refused = 0
        self.port = 0

    def admit(self) -> bool:
        # One event loop thread: no lock needed.
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.accepted.append(now)
            return True
        self.refused += 1
        return False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.transport.get_extra_info("socket").setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
        )
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")  # a GET has no body
                allowed = self.admit()
                await asyncio.sleep(SERVER_DELAY)
                writer.write(_OK if allowed else _TOO_MANY)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def stats(self) -> dict[str, Any]:
        times = sorted(self.accepted)
        best, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        return {
            "accepted": len(times),
            "refused": self.refused,
            "rate": (len(times) - 1) / span if span else 0.0,
            "max_in_1s": best,
        }


def _response(status: str, body: bytes, *headers: str) -> bytes:
    head = [f"HTTP/1.1 {status}", "Content-Type: application/json"]
    head += [f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


_OK = _response("200 OK", json.dumps({"email": "ada@acme.example", "score": 90}).encode())
_TOO_MANY = _response(
    "429 Too Many Requests", json.dumps({"error": "rate limit exceeded"}).encode(), "Retry-After: 1"
)


def serve(limits: tuple[int, ...], ports: Any, stop: Any, stats: Any) -> None:
    providers = [LimitedProvider(rate) for rate in limits]

    async def main() -> None:
        servers = []
        for provider in providers:
            server = await asyncio.start_server(provider.handle, "127.0.0.1", 0, backlog=256)
            provider.port = server.sockets[0].getsockname()[1]
            servers.append(server)
        ports.put([p.port for p in providers])
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)
        stats.put([p.stats() for p in providers])
        for server in servers:
            server.close()

    asyncio.run(main())


# --- Client workers ----------------------------------------------------------------------------


def worker(
    index: int, plan: list[tuple[str, int, int]], per_provider: int, start: Any, results: Any
) -> None:
    """Run this process's share of ``plan`` = [(slug, first call number, calls)]."""
    import django

    django.setup()
    from django.db import connection

    from providers import cache, client, ratelimit
    from providers.client import ProviderClient
    from providers.models import Provider

    local = threading.local()

    def timed_sleep(seconds: float) -> None:
        started = time.perf_counter()
        time.sleep(seconds)
        local.waited += time.perf_counter() - started

    for module in (ratelimit, cache, client):
        module._sleep = timed_sleep

    # Waiting for a concurrency slot blocks in BLPOP on the limiter's Redis connection.
    redis_conn = ratelimit.redis_client(os.environ["REDIS_URL"])
    blpop = redis_conn.blpop

    def timed_blpop(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return blpop(*args, **kwargs)
        finally:
            local.waited += time.perf_counter() - started

    redis_conn.blpop = timed_blpop  # type: ignore[method-assign]

    write_ledger = ProviderClient._write_ledger

    def timed_ledger(self: ProviderClient, *args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        write_ledger(self, *args, **kwargs)
        local.ledger += time.perf_counter() - started

    ProviderClient._write_ledger = timed_ledger  # type: ignore[method-assign]

    from providers import ledger

    drain_if_due = ledger.drain_if_due

    def timed_drain() -> None:
        started = time.perf_counter()
        drain_if_due()
        local.drained += time.perf_counter() - started

    ledger.drain_if_due = timed_drain

    # Draining itself, wherever it runs: in the drainer thread by default (not in any call).
    drain = ledger.drain
    background = {"seconds": 0.0}

    def timed_background_drain(**kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return drain(**kwargs)
        finally:
            if threading.current_thread().name == "ledger-drainer":
                background["seconds"] += time.perf_counter() - started

    ledger.drain = timed_background_drain

    class TimedTransport:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def send(self, spec: Any) -> Any:
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return self.inner.send(spec)
            finally:
                local.sent += time.perf_counter() - started
                local.sent_cpu += time.thread_time() - cpu

    totals: list[dict[str, float]] = []
    lock = threading.Lock()
    errors: list[str] = []

    def run(slug: str, numbers: list[int]) -> None:
        local.waited = local.sent = local.ledger = local.drained = local.sent_cpu = 0.0
        provider = Provider.objects.get(slug=slug)
        transport = TimedTransport(client._thread_transport(float(provider.timeout_seconds)))
        caller = ProviderClient(provider, transport=transport, adapter_class=BenchAdapter)
        inside = inside_cpu = 0.0
        start.wait()
        for number in numbers:
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                caller.call("find_email", {"domain": f"d{number}.example", "first_name": "Ada"})
            except Exception as exc:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
            inside += time.perf_counter() - started
            inside_cpu += time.thread_time() - cpu
        connection.close()
        with lock:
            totals.append(
                {
                    "calls": len(numbers),
                    "inside": inside,
                    "inside_cpu": inside_cpu,
                    "sent": local.sent,
                    "sent_cpu": local.sent_cpu,
                    "waited": local.waited,
                    "ledger": local.ledger,
                    "drained": local.drained,
                }
            )

    threads = []
    for slug, first, count in plan:
        numbers = list(range(first, first + count))
        for t in range(per_provider):
            share = numbers[t::per_provider]
            threads.append(threading.Thread(target=run, args=(slug, share)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(
        {
            "process": index,
            "threads": totals,
            "errors": errors,
            "drainer_seconds": background["seconds"],
        }
    )


class RoundTripProbe:
    """PINGs Redis every 5 ms from a thread of the (otherwise idle) main process during the run.

    A reference for the overhead figure: what one round trip costs on this machine under
    this load, whoever makes it.
    """

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.latencies: list[float] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._done.wait(0.005):
            started = time.perf_counter()
            self.client.ping()
            self.latencies.append((time.perf_counter() - started) * 1000)

    def summary(self) -> str:
        values = sorted(self.latencies)
        if not values:
            return "(no sample)"
        mean = sum(values) / len(values)
        return f"p50 {values[len(values) // 2]:.2f} ms, mean {mean:.2f} ms"


# --- Set-up and report -------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=CALLS)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--sqlite", action="store_true", help="ledger in a SQLite file")
    parser.add_argument("--processes", type=int, default=PROCESSES, help="client worker processes")
    parser.add_argument(
        "--threads",
        type=int,
        default=THREADS_PER_PROVIDER,
        help="client threads per provider in each of the two processes",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply the three limits (e.g. 0.5 to see the client on a machine with CPU to spare)",
    )
    args = parser.parse_args()
    limits = tuple(max(1, round(rate * args.scale)) for rate in LIMITS_PER_SECOND)
    print("$ " + " ".join([COMMAND, *sys.argv[1:]]))

    run_id = uuid.uuid4().hex[:8]
    workdir = Path(tempfile.mkdtemp(prefix="bench-client-"))
    db_name = f"leadforge_bench_{run_id}"
    if args.sqlite:
        database_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    else:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{db_name}"')
        database_url = f"postgres://postgres@127.0.0.1:5432/{db_name}"

    from cryptography.fernet import Fernet

    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": args.redis_url,
            "DEBUG": "false",
            "SECRET_KEY": uuid.uuid4().hex * 2,
            "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "ENRICH_ALLOW_PRIVATE_NETWORKS": "true",
            "LOG_LEVEL": "ERROR",
        }
    )

    ctx = multiprocessing.get_context("spawn")
    ports_q, stop, server_stats = ctx.Queue(), ctx.Event(), ctx.Queue()
    server_process = ctx.Process(target=serve, args=(limits, ports_q, stop, server_stats))
    server_process.start()
    ports = ports_q.get(timeout=60)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from providers.models import Provider, ProviderCall

    try:
        call_command("migrate", verbosity=0)
        total_rate = sum(limits)
        shares = [round(args.calls * rate / total_rate) for rate in limits]
        shares[-1] = args.calls - sum(shares[:-1])
        slugs = []
        for rate, port in zip(limits, ports, strict=True):
            provider = Provider(
                slug=f"bench-{run_id}-{rate}",
                name=f"Bench {rate}/s",
                adapter="bench",
                base_url=f"http://127.0.0.1:{port}",
                rate_limit_per_minute=rate * 60,
                concurrency=CONCURRENCY,
                timeout_seconds=Decimal("10"),
                price_per_call=Decimal("0.01"),
            )
            provider.set_credentials({"api_key": f"bench-key-{run_id}"})
            provider.save()
            slugs.append(provider.slug)
        connection.close()

        # Each process gets half of every provider's calls.
        processes = args.processes
        plans: list[list[tuple[str, int, int]]] = [[] for _ in range(processes)]
        first = 0
        for slug, share in zip(slugs, shares, strict=True):
            for p in range(processes):
                part = share // processes + (1 if p < share % processes else 0)
                plans[p].append((slug, first, part))
                first += part

        threads_total = processes * args.threads * len(slugs)
        start, results = ctx.Barrier(threads_total + 1), ctx.Queue()
        workers = [
            ctx.Process(target=worker, args=(i, plans[i], args.threads, start, results))
            for i in range(processes)
        ]
        for process in workers:
            process.start()
        probe = RoundTripProbe(args.redis_url)
        start.wait(timeout=120)
        began = time.perf_counter()
        probe.start()
        reports = [results.get(timeout=600) for _ in workers]
        elapsed = time.perf_counter() - began
        probe.stop()
        for process in workers:
            process.join(60)
        stop.set()
        servers = server_stats.get(timeout=60)
        server_process.join(30)

        # Workers drain the ledger's Redis buffer as they go and at exit; this drains the rest.
        from providers import ledger

        ledger.flush()
        ledger_rows = ProviderCall.objects.filter(provider__slug__in=slugs).count()
        alone = client_alone(run_id)
        threads = [t for report in reports for t in report["threads"]]
        errors = [e for report in reports for e in report["errors"]]
        calls = sum(t["calls"] for t in threads)
        inside = sum(t["inside"] for t in threads)
        sent = sum(t["sent"] for t in threads)
        waited = sum(t["waited"] for t in threads)
        recording = sum(t["ledger"] for t in threads)
        draining = sum(t["drained"] for t in threads)
        cpu_overhead = sum(t["inside_cpu"] - t["sent_cpu"] for t in threads) / calls * 1000

        print(
            f"{calls} calls, {processes} worker processes x {args.threads} threads per "
            f"provider, {os.cpu_count()} CPUs, ledger on "
            f"{'SQLite' if args.sqlite else 'PostgreSQL'}, wall time {elapsed:.1f} s"
        )
        print(
            f"servers: {SERVER_DELAY * 1000:.0f} ms per answer, limit enforced as GCRA with "
            f"{JITTER_TOLERANCE_S * 1000:.0f} ms tolerance, 429 + Retry-After: 1 beyond it"
        )
        print()
        print(f"{'provider':<14}{'limit/s':>8}{'calls':>7}{'achieved/s':>12}{'fraction':>10}"
              f"{'max in 1s':>11}{'429s':>6}")  # fmt: skip
        for rate, share, stats in zip(limits, shares, servers, strict=True):
            print(
                f"{'bench-' + str(rate):<14}{rate:>8}{share:>7}{stats['rate']:>12.1f}"
                f"{stats['rate'] / rate:>10.3f}{stats['max_in_1s']:>11}{stats['refused']:>6}"
            )
        print()
        refused = sum(s["refused"] for s in servers)
        overhead = (inside - sent - waited) / calls * 1000
        print(f"429 answers sent by the servers: {refused}")
        print(f"client errors raised: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
        print(f"ledger rows written: {ledger_rows} (one per attempt)")
        print(
            f"client overhead per call: {overhead:.2f} ms "
            f"(inside client {inside / calls * 1000:.1f} ms - transport.send "
            f"{sent / calls * 1000:.1f} ms - deliberate waits {waited / calls * 1000:.1f} ms)"
        )
        print(
            f"  of which recording ledger rows (wall): {recording / calls * 1000:.2f} ms, "
            f"draining them into the database: {draining / calls * 1000:.2f} ms"
        )
        drainer = sum(report["drainer_seconds"] for report in reports)
        print(
            f"  not counted: draining in each process's drainer thread took "
            f"{drainer / calls * 1000:.2f} ms per call (wall, outside every call)"
        )
        print(
            f"client CPU per call, outside transport.send: {cpu_overhead:.2f} ms "
            "(thread CPU time, unaffected by waiting for a CPU)"
        )
        print(f"  without removing the waits: {(inside - sent) / calls * 1000:.1f} ms")
        transport_cpu = sum(t["sent_cpu"] for t in threads) / calls * 1000
        print(
            f"  for scale: the transport's CPU per call inside transport.send (HTTP, not "
            f"counted above): {transport_cpu:.2f} ms"
        )
        print(
            f"for scale: one Redis round trip (PING) from an idle thread during the run took "
            f"{probe.summary()}; a paid call makes two"
        )
        trip = script_round_trip(args.redis_url)
        print(
            f"one script round trip after a {PAUSE * 1000:.0f} ms pause, CPU: "
            f"{trip['redis-py']:.0f} us through redis-py's Script, "
            f"{trip['wire']:.0f} us through providers.wire (the client's two round trips), "
            f"{trip['bytes']:.0f} us as bare bytes on a socket"
        )
        print(
            f"the client alone, one caller, an in-process provider answering at once: "
            f"{alone['busy'][0]:.2f} ms wall, {alone['busy'][1]:.2f} ms CPU per call back to "
            f"back; {alone['paused'][0]:.2f} ms wall, {alone['paused'][1]:.2f} ms CPU with "
            f"{PAUSE * 1000:.0f} ms between calls"
        )
    finally:
        stop.set()
        if server_process.is_alive():
            server_process.terminate()
        _cleanup_redis(args.redis_url, run_id)
        connection.close()
        if not args.sqlite:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


#: The pause between calls of :func:`client_alone`'s second series, like a provider's latency.
PAUSE = 0.020


def client_alone(run_id: str, calls: int = 400) -> dict[str, tuple[float, float]]:
    """The client's own cost with no provider to wait for, after the load run, in this process.

    One caller, the same Redis, database and code path (limits set, so admission runs; every
    input new, so every call is a miss and a paid call), with a transport that answers at once.
    Back to back, then with :data:`PAUSE` between calls (not counted): on a virtual machine the
    same work takes longer after an idle pause (cold caches), which the load run's figures
    include since every call waits 20 ms for its provider. Returns (wall ms, CPU ms) per call.
    """
    from providers import ledger
    from providers.adapters.base import HttpResponse
    from providers.client import ProviderClient
    from providers.models import Provider, ProviderCall

    body = _OK.split(b"\r\n\r\n", 1)[1]

    class Instant:
        def send(self, spec: Any) -> HttpResponse:
            return HttpResponse(200, {"Content-Type": "application/json"}, body, 0.0)

    provider = Provider(
        slug=f"bench-{run_id}-alone",
        name="Bench alone",
        adapter="bench",
        base_url="http://127.0.0.1:9",
        rate_limit_per_minute=60_000_000,
        concurrency=CONCURRENCY,
        timeout_seconds=Decimal("10"),
        price_per_call=Decimal("0.01"),
    )
    provider.set_credentials({"api_key": f"bench-key-{run_id}"})
    provider.save()
    caller = ProviderClient(provider, transport=Instant(), adapter_class=BenchAdapter)
    for number in range(50):  # connections, scripts, statements
        caller.call("find_email", {"domain": f"warm{number}.example"})
    figures = {}
    for label, pause in (("busy", 0.0), ("paused", PAUSE)):
        wall = cpu = 0.0
        count = calls // 2 if pause else calls
        for number in range(count):
            if pause:
                time.sleep(pause)
            started, started_cpu = time.perf_counter(), time.thread_time()
            caller.call("find_email", {"domain": f"{label}{number}.example"})
            wall += time.perf_counter() - started
            cpu += time.thread_time() - started_cpu
        figures[label] = (wall / count * 1000, cpu / count * 1000)
    ledger.flush()
    ProviderCall.objects.filter(provider=provider).delete()
    provider.delete()
    return figures


def script_round_trip(url: str, rounds: int = 200) -> dict[str, float]:
    """CPU time (µs) of one small script's round trip after :data:`PAUSE`, three ways.

    Through redis-py's ``Script`` (pool checkout, socket poll, retry wrapper, argument
    encoding, reply callbacks), through :func:`providers.wire.run_script` (the client's way),
    and as bare bytes on a socket of its own: the round trip itself, which no client avoids.
    The three alternate, so they see the same machine.
    """
    import redis

    from providers import wire

    client = redis.Redis.from_url(url)
    script = client.register_script("return redis.call('SET', KEYS[1], ARGV[1], 'PX', 1000)")
    pool = client.connection_pool
    bare = pool.connection_class(**pool.connection_kwargs)
    bare.connect()  # handshake (SELECT) through redis-py, then bytes only
    sock = bare._sock

    def bytes_only(key: str) -> None:
        sock.sendall(wire.pack([wire.evalsha(script, [key], ["x"])]))
        sock.recv(64)  # "+OK\r\n": one read

    ways = {
        "redis-py": lambda key: script(keys=[key], args=["x"]),
        "wire": lambda key: wire.run_script(client, script, [key], ["x"]),
        "bytes": bytes_only,
    }
    totals = dict.fromkeys(ways, 0.0)
    for number in range(rounds + 10):
        for name, way in ways.items():
            time.sleep(PAUSE)
            started = time.thread_time()
            way(f"bench-trip:{number}")
            if number >= 10:  # the first rounds connect and load the script
                totals[name] += time.thread_time() - started
    bare.disconnect()
    client.close()
    return {name: total / rounds * 1e6 for name, total in totals.items()}


def _cleanup_redis(url: str, run_id: str) -> None:
    """Delete this run's limiter, breaker, lock and cache keys (and nothing else)."""
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"*bench-{run_id}-*", count=1000))
    for i in range(0, len(keys), 500):
        client.delete(*keys[i : i + 500])


if __name__ == "__main__":
    main()
