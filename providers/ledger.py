"""The call ledger: one :class:`~providers.models.ProviderCall` row per attempt, off the call's path.

Every provider call writes a row, so how it is written decides much of what a call costs. Under
load a single-row INSERT (eight indexes, two foreign keys, a commit) took 1-5 ms of each call's
wall time on a busy database, more than everything else the client does (see
``bench/provider_client.py``). So, with Redis configured (``settings.REDIS_URL``) and
``settings.PROVIDER_LEDGER_BUFFER`` on (the default):

* :func:`record` appends the row to the Redis stream ``ledger:v1`` (an ``XADD``, sent with
  the call's other final writes in one round trip, see :mod:`providers.tail`);
* rows move to the database in batches: one multi-row ``INSERT ... ON CONFLICT (call_id) DO
  NOTHING`` in a transaction, then ``XDEL`` of the entries once it has committed. A process
  that calls providers drains the stream itself, at most once per :data:`DRAIN_INTERVAL`: in
  a daemon thread of its own (``settings.PROVIDER_LEDGER_DRAIN_THREAD``, the default), so no
  call waits for a batch INSERT; with that setting off, in the calling thread after a call
  (only in autocommit, never inside someone's transaction). The
  ``providers.drain_ledger`` beat task (every minute) drains what processes that stopped
  left behind. A process that exits drains once more (:func:`drain_at_exit`): at exit, or in
  a Celery prefork child, which ends with ``os._exit``, on ``worker_process_shutdown``.
  One drainer runs at a time (a Redis lock). Drains run whenever Redis is configured, so
  turning the buffer off still lets the rows already buffered reach the table.

What this keeps and what it gives up:

* **A killed worker loses no row**: the row is in Redis before the call returns, and any
  process drains it. A drainer killed between its commit and its ``XDEL`` makes the next one
  insert the same rows again, which ``call_id`` (unique) turns into no-ops.
* **Rows reach the table a little later**, at most about :data:`DRAIN_INTERVAL` while calls
  are being made. Readers that need every row so far call :func:`flush` (provider health and
  ``manage.py providers list`` do). Budgets must not be enforced from ledger sums: they are
  reserved before each paid call and settled after, elsewhere.
* **Until drained, the rows are only as durable as Redis**: with Redis' append-only file
  (``appendfsync everysec``, its default when AOF is on) a Redis crash loses at most the last
  second, as a PostgreSQL crash could with asynchronous commits. Run Redis with AOF when the
  ledger matters; without persistence a Redis restart loses the rows not yet drained. Use
  ``maxmemory-policy noeviction`` (an evicted stream is lost rows), and know that the stream
  lives in the database of ``REDIS_URL``, with the cache: a ``FLUSHDB`` erases it too. While
  PostgreSQL is down the stream grows (about 0.4 KB per call); :func:`pending` tells how far.
* A row whose provider or job item is not in the table waits in the stream for
  :data:`ORPHAN_GRACE` (the transaction creating them may not have committed yet). After that
  a row without its provider is logged at ERROR and dropped, and one without its job item is
  stored without it, as the foreign key's ``SET NULL`` would have done. A row the table
  refuses for any other reason is logged and dropped alone; none blocks the rows behind it.

Without Redis (the embedded mode), or with the buffer turned off, :func:`record` INSERTs the row
at once; on PostgreSQL in autocommit that commit does not wait for the WAL flush
(``synchronous_commit`` off for that statement only).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import redis
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections, router, transaction
from django.utils import timezone

from providers import ids
from providers.models import ProviderCall

try:
    from psycopg.errors import LockNotAvailable as _LockNotAvailable
except ImportError:  # no PostgreSQL driver: the embedded mode
    _LockNotAvailable = None
from providers.ratelimit import redis_client

if TYPE_CHECKING:
    from providers.tail import CallTail

logger = logging.getLogger(__name__)

STREAM = "ledger:v1"
DRAIN_LOCK = "ledger:v1:drain"
#: Most often one process drains the stream inline, in seconds.
DRAIN_INTERVAL = 1.0
#: Rows per INSERT (and per XRANGE).
BATCH = 500
#: Batches an inline drain may move before handing the rest to the next one.
INLINE_BATCHES = 4
#: How long a row whose provider or job item is not in the table waits in the stream for the
#: transaction that creates it to commit, before it is dropped (or stored without job item).
ORPHAN_GRACE = timedelta(minutes=15)
#: The longest a drainer thread waits before trying again after failures.
DRAIN_BACKOFF_MAX = 60.0
#: Longest an inline drain waits for a row lock (another transaction's uncommitted rows).
INLINE_LOCK_WAIT_MS = 2000
#: A drainer that died keeps others out for at most this long.
LOCK_TTL_MS = 60_000

COLUMNS = (
    "call_id",
    "provider_id",
    "operation",
    "input_fingerprint",
    "status",
    "error_kind",
    "error_code",
    "http_status",
    "latency_ms",
    "cost",
    "credits_left",
    "cache_hit",
    "attempt",
    "job_item_id",
    "created_at",
)
_DECIMALS = ("cost", "credits_left")
_ENCODER = json.JSONEncoder(separators=(",", ":"))  # made once, not per row

_RELEASE_LUA = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""

_inline = threading.Lock()
_next_inline_drain = 0.0
_exit_hook = threading.Lock()
_exit_hook_registered = False


# --- Writing -------------------------------------------------------------------------------------


def record(*, tail: CallTail | None = None, **values: Any) -> str:
    """Write one ledger row and return its ``call_id`` (hex): the row's key before it has an id.

    ``values`` are :data:`COLUMNS` by attribute name except ``call_id`` and ``created_at``,
    which are set here. Values must already fit their columns. With ``tail`` the buffered
    append waits for the call's last round trip (:mod:`providers.tail`). Call
    :func:`drain_if_due` when the call is over.
    """
    row = {"call_id": ids.uuid4_hex(), **values, "created_at": timezone.now()}
    client = _buffer_client()
    if client is None:
        _insert_one(row)
        return row["call_id"]
    encoded = _encode(row)
    if tail is not None:
        tail.command("XADD", STREAM, "*", "r", encoded, on_error=lambda exc: _unbuffered(row, exc))
        return row["call_id"]
    try:
        client.xadd(STREAM, {"r": encoded})
    except redis.RedisError as exc:
        _unbuffered(row, exc)
    return row["call_id"]


def _unbuffered(row: Mapping[str, Any], exc: Exception) -> None:
    # Never lose the row for want of Redis: write it the slow way instead.
    logger.warning("ledger buffer unavailable, writing directly", extra={"error": str(exc)})
    _insert_one(row)


def buffered() -> bool:
    """Whether :func:`record` buffers rows in Redis (see the module docstring)."""
    return _buffer_client() is not None


def _buffer_client() -> redis.Redis | None:
    """Where :func:`record` appends rows: Redis, unless the buffer is turned off."""
    if not getattr(settings, "PROVIDER_LEDGER_BUFFER", True):
        return None
    return _stream_client()


def _stream_client() -> redis.Redis | None:
    """Where the stream is: drains run whenever there is Redis, so rows buffered before the
    buffer was turned off still reach the table."""
    url = getattr(settings, "REDIS_URL", "")
    return redis_client(url) if url else None


def _encode(row: Mapping[str, Any]) -> str:
    data = dict(row)
    data["created_at"] = row["created_at"].isoformat()
    for name in _DECIMALS:
        if data[name] is not None:
            data[name] = str(data[name])
    return _ENCODER.encode(data)


def _decode(raw: bytes) -> dict[str, Any]:
    """A stream entry's row; raises ``ValueError`` (and kin) for one that cannot be a row.

    A column the entry lacks (written by an older release, before the column existed) gets
    the field's default; ``call_id`` and ``created_at`` are required.
    """
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("not a row")
    row = {name: data[name] if name in data else _FIELDS[name].get_default() for name in COLUMNS}
    row["call_id"] = uuid.UUID(hex=str(data["call_id"])).hex
    row["created_at"] = datetime.fromisoformat(data["created_at"])
    for name in _DECIMALS:
        if row[name] is not None:
            row[name] = Decimal(row[name])
    return row


# --- Draining ------------------------------------------------------------------------------------


def drain(*, max_batches: int = 20) -> int | None:
    """Move buffered rows into the table: how many were read, or ``None`` if another process is
    draining now. Reads at most ``max_batches`` x :data:`BATCH` rows; call again for more.

    Inside a transaction the entries leave Redis only when it commits, so a rollback keeps them
    for the next drain; until then another drainer that reads them waits for that
    transaction to end (on the unique ``call_id``) before skipping them: keep such
    transactions short.
    """
    client = _stream_client()
    if client is None:
        return 0
    done = _drain(client, max_batches, "-")
    return None if done is None else done[0]


def flush(timeout: float = 10.0) -> bool:
    """Drain every row recorded before this call; ``False`` if that took longer than ``timeout``.

    For readers that need all rows so far (health, tests). Waits while another process drains.
    """
    client = _stream_client()
    if client is None:
        return True
    last = client.xrevrange(STREAM, "+", "-", count=1)
    if not last:
        return True
    target = last[0][0]
    deadline = time.monotonic() + timeout
    # Inside a transaction drained entries stay in the stream until it commits: read past them.
    position: bytes = b"-"
    while client.xrange(STREAM, position, target, count=1):
        if time.monotonic() >= deadline:
            return False
        done = _drain(client, 20, position)
        if done is None:
            time.sleep(0.01)  # another process is draining
        elif done[1] is not None:
            position = b"(" + done[1]
    return True


def pending() -> int:
    """Rows buffered in Redis and not yet in the table (0 without Redis)."""
    client = _stream_client()
    return int(client.xlen(STREAM)) if client is not None else 0


def drain_if_due() -> None:
    """After a call: have the buffer drained, at most once per :data:`DRAIN_INTERVAL` per process.

    By default this only tells the process's drainer thread that rows are waiting
    (:class:`_Drainer`, started on first use). With ``PROVIDER_LEDGER_DRAIN_THREAD`` off the
    calling thread drains, in autocommit; the client calls this when a call is over (its slot
    given back), so the occasional call that drains holds no provider capacity while it does.
    """
    if _stream_client() is None:
        return
    if getattr(settings, "PROVIDER_LEDGER_DRAIN_THREAD", True):
        _drainer().due = True
    else:
        _maybe_drain_inline()


class _Drainer:
    """A daemon thread that drains the buffer for its process while calls mark rows as due.

    It wakes every :data:`DRAIN_INTERVAL`, drains when :attr:`due` was set since (a plain
    attribute: marking costs a call nothing), and marks itself due again when rows were left
    (more than an inline drain's batches, another process holding the lock). After a failure
    it waits twice as long each time, up to :data:`DRAIN_BACKOFF_MAX`. Its database
    connection is closed as a request's would be (``CONN_MAX_AGE``, health checks), checked
    on every wake-up, so an idle process does not keep it. Nothing stops the thread but
    :meth:`stop`.
    """

    def __init__(self) -> None:
        self.due = False
        self._failures = 0
        self._resume_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ledger-drainer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """End the thread after its current drain (tests, and a process that exits)."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            while not self._stop.wait(DRAIN_INTERVAL):
                try:
                    self._tick()
                except Exception:  # a bug here must not end draining for the process
                    logger.exception("ledger drainer failed")
        finally:
            connections.close_all()  # this thread's connections only

    def _tick(self) -> None:
        close_old_connections()
        if not self.due or time.monotonic() < self._resume_at:
            return
        self.due = False  # calls made while it drains mark it due again
        try:
            left = self._drain_once()
        except Exception:
            self._failures += 1
            backoff = min(DRAIN_BACKOFF_MAX, DRAIN_INTERVAL * 2**self._failures)
            self._resume_at = time.monotonic() + backoff
            self.due = True
            logger.warning(
                "ledger drain failed; rows stay buffered",
                extra={"failures": self._failures, "retry_in_s": round(backoff, 1)},
                exc_info=True,
            )
            return
        finally:
            close_old_connections()
        self._failures = 0
        if left:
            self.due = True

    def _drain_once(self) -> bool:
        """One inline-sized drain; whether it left rows behind."""
        connection = connections[router.db_for_write(ProviderCall)]
        with _lock_wait_limit(connection):
            read = drain(max_batches=INLINE_BATCHES)
        return read is None or read >= INLINE_BATCHES * BATCH


_drainer_lock = threading.Lock()
_the_drainer: _Drainer | None = None


def _drainer() -> _Drainer:
    """This process's drainer, started on first use."""
    global _the_drainer
    drainer = _the_drainer
    if drainer is not None:
        return drainer
    with _drainer_lock:
        if _the_drainer is None:
            _register_exit_drain()
            _the_drainer = _Drainer()
        return _the_drainer


def _forget_drainer() -> None:
    # A forked child has the parent's _Drainer object but not its thread: it starts its own,
    # under a new lock (the parent's may have been held by another thread at the fork).
    global _the_drainer, _drainer_lock
    _the_drainer = None
    _drainer_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_drainer)


def _maybe_drain_inline() -> None:
    global _next_inline_drain
    _register_exit_drain()
    now = time.monotonic()
    if now < _next_inline_drain or not _inline.acquire(blocking=False):
        return
    try:
        if now < _next_inline_drain:
            return
        _next_inline_drain = now + DRAIN_INTERVAL
        connection = connections[router.db_for_write(ProviderCall)]
        if connection.in_atomic_block:
            return  # never tie other processes' rows to this caller's transaction
        try:
            with _lock_wait_limit(connection):
                drain(max_batches=INLINE_BATCHES)
        except (DatabaseError, redis.RedisError):
            # The rows stay buffered; the call itself succeeded. (Anything else, such as a
            # task's soft time limit, is the caller's to see.)
            logger.warning("ledger drain failed; rows stay buffered", exc_info=True)
    finally:
        _inline.release()


@contextlib.contextmanager
def _lock_wait_limit(connection: Any) -> Iterator[None]:
    """PostgreSQL: wait at most :data:`INLINE_LOCK_WAIT_MS` for a lock while inside.

    An inline drain runs in a worker's provider call. Rows a transaction elsewhere drained but
    has not committed make the INSERT wait for that transaction; the call must not.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SET lock_timeout = {INLINE_LOCK_WAIT_MS}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")


def _register_exit_drain() -> None:
    global _exit_hook_registered
    if _exit_hook_registered:
        return
    with _exit_hook:
        if not _exit_hook_registered:
            atexit.register(drain_at_exit)
            _exit_hook_registered = True


def drain_at_exit() -> None:
    """Before a process ends: stop its drainer, then drain what is left (best effort).

    Registered with ``atexit`` on first use; Celery's prefork children end with ``os._exit``,
    which skips that, so ``providers.tasks`` calls it from ``worker_process_shutdown``.
    """
    if _the_drainer is not None:
        # Not killed in the middle of a drain, holding other processes' drain lock.
        _the_drainer.stop(timeout=5.0)
    try:
        # flush, not drain: another process draining now may have read past our last rows.
        flush(timeout=5.0)
    except (DatabaseError, redis.RedisError):  # best effort; the beat task drains the rest
        logger.warning("ledger drain at exit failed; rows stay buffered", exc_info=True)


def _drain(
    client: redis.Redis, max_batches: int, start: bytes | str
) -> tuple[int, bytes | None] | None:
    """Under the drain lock: ``(entries read, last entry id)``, or ``None`` if it is taken."""
    token = uuid.uuid4().hex
    if not client.set(DRAIN_LOCK, token, nx=True, px=LOCK_TTL_MS):
        return None
    try:
        return _drain_locked(client, max_batches, start)
    finally:
        _release_lock(client, token)


def _drain_locked(
    client: redis.Redis, max_batches: int, start: bytes | str
) -> tuple[int, bytes | None]:
    alias = router.db_for_write(ProviderCall)
    connection = connections[alias]
    newest = client.xrevrange(STREAM, "+", "-", count=1)
    if not newest:
        return 0, None
    end = newest[0][0]  # entries kept for later go behind it: this drain does not meet them
    read, last = 0, None
    for _ in range(max_batches):
        entries = client.xrange(STREAM, start, end, count=BATCH)
        if not entries:
            break
        kept = _store(alias, [(entry_id, fields.get(b"r")) for entry_id, fields in entries])
        read, last = read + len(entries), entries[-1][0]
        # Entries deleted only at commit are still there: read past them.
        start = b"(" + last
        if kept:
            # To the back of the stream, so they never hold up the rows behind them.
            with client.pipeline(transaction=False) as pipe:
                for entry_id, fields in entries:
                    if entry_id in kept:
                        pipe.xadd(STREAM, fields)
                        pipe.xdel(STREAM, entry_id)
                pipe.execute()
        done = [entry_id for entry_id, _ in entries if entry_id not in kept]
        if done and connection.in_atomic_block:
            transaction.on_commit(lambda done=done: client.xdel(STREAM, *done), using=alias)
        elif done:
            client.xdel(STREAM, *done)
        if len(entries) < BATCH:
            break
    return read, last


def _release_lock(client: redis.Redis, token: str) -> None:
    try:
        client.eval(_RELEASE_LUA, 1, DRAIN_LOCK, token)
    except redis.RedisError:
        logger.warning("ledger drain lock not released; it expires by itself", exc_info=True)


def _store(alias: str, entries: Sequence[tuple[bytes, bytes | None]]) -> set[bytes]:
    """INSERT the rows of stream ``entries``, skipping ones already there; the ids of entries
    to keep in the stream for a later drain.

    On PostgreSQL the entries' JSON goes to the server as it is, one array for the whole batch
    (``json_populate_recordset``): nothing is decoded or bound row by row in Python unless some
    row did not go in. Elsewhere, or if the batch is refused, rows are decoded here; a bad row
    then costs only itself.

    Foreign keys are checked here, not left to the database, which defers them to the commit:
    inside a caller's transaction a row whose provider or job item is missing would fail that
    caller's commit rather than this drain. A missing provider or job item may also be one
    created in a transaction not yet committed, so such rows stay in the stream for
    :data:`ORPHAN_GRACE`; after that a row without its provider is dropped with an error and
    one without its job item is stored without it, as the foreign key's ``SET NULL`` would.
    """
    if not entries:
        return set()
    connection = connections[alias]
    if connection.vendor == "postgresql":
        try:
            batch = "[" + ",".join(raw.decode() for _, raw in entries if raw) + "]"
            with transaction.atomic(using=alias), connection.cursor() as cursor:
                cursor.execute(_json_statement(alias), [batch])
                stored = {uuid.UUID(str(row[0])).hex for row in cursor.fetchall()}
        except (DatabaseError, UnicodeDecodeError) as exc:
            _unless_waiting_too_long(exc)
            # Some entry is not what it should be: sort them out one by one, below.
        else:
            if len(stored) == len(entries):
                return set()
            # Already stored (a repeated drain), or held back by a foreign key: sort them out.
            rows = [
                (entry_id, row)
                for entry_id, row in _decode_all(entries)
                if row["call_id"] not in stored
            ]
            ready, kept = _adopt(rows)
            _insert_rows(alias, ready)
            return kept
    ready, kept = _adopt(_decode_all(entries))
    _insert_rows(alias, ready)
    return kept


def _insert_rows(alias: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT ``rows`` (already known to fit), one by one if the batch is refused."""
    if not rows:
        return
    try:
        with transaction.atomic(using=alias):
            _insert_many(alias, rows)
        return
    except DatabaseError as exc:
        _unless_waiting_too_long(exc)
    for row in rows:
        _store_alone(alias, row)


def _store_alone(alias: str, row: Mapping[str, Any]) -> None:
    try:
        with transaction.atomic(using=alias):
            _insert_many(alias, [row])
    except DatabaseError as exc:
        _unless_waiting_too_long(exc)
        logger.error(
            "ledger row cannot be stored, dropped",
            extra={
                "call_id": row["call_id"],
                "provider_id": row["provider_id"],
                "operation": row["operation"],
                # Not the message: the database's may quote the row, inputs' hash included.
                "error": type(exc).__name__,
                "constraint": getattr(
                    getattr(exc.__cause__, "diag", None), "constraint_name", None
                ),
            },
        )


def _unless_waiting_too_long(exc: BaseException) -> None:
    """Re-raise a lock wait that timed out: the batch is fine, the drain gives up for now."""
    if _LockNotAvailable is not None and isinstance(exc.__cause__, _LockNotAvailable):
        raise exc


def _decode_all(
    entries: Sequence[tuple[bytes, bytes | None]],
) -> list[tuple[bytes, dict[str, Any]]]:
    rows = []
    for entry_id, raw in entries:
        try:
            rows.append((entry_id, _decode(raw or b"")))
        except (KeyError, TypeError, ValueError, ArithmeticError):
            logger.error("ledger entry unreadable, dropped", extra={"entry": entry_id.decode()})
    return rows


def _existing(model: Any, ids: Iterable[Any]) -> set[Any]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return set()
    return set(model._base_manager.filter(pk__in=wanted).values_list("pk", flat=True))


def _adopt(
    rows: Sequence[tuple[bytes, Mapping[str, Any]]],
) -> tuple[list[dict[str, Any]], set[bytes]]:
    """Split rows into those to insert now and the entry ids to keep (see :func:`_store`)."""
    providers = _existing(_PROVIDER.related_model, (row["provider_id"] for _, row in rows))
    items = _existing(_JOB_ITEM.related_model, (row["job_item_id"] for _, row in rows))
    young = timezone.now() - ORPHAN_GRACE
    ready: list[dict[str, Any]] = []
    kept: set[bytes] = set()
    for entry_id, row in rows:
        provider_ok = row["provider_id"] in providers
        item_ok = row["job_item_id"] is None or row["job_item_id"] in items
        if provider_ok and item_ok:
            ready.append(dict(row))
        elif row["created_at"] > young:
            kept.add(entry_id)  # perhaps not committed yet: look again later
        elif provider_ok:
            ready.append({**row, "job_item_id": None})
        else:
            logger.error(
                "ledger row for a provider that no longer exists, dropped",
                extra={
                    "call_id": row["call_id"],
                    "provider_id": row["provider_id"],
                    "operation": row["operation"],
                },
            )
    return ready, kept


# --- SQL -----------------------------------------------------------------------------------------

_sql_cache: dict[tuple[str, str], str] = {}
_FIELDS = {field.attname: field for field in ProviderCall._meta.concrete_fields}
_CALL_ID = ProviderCall._meta.get_field("call_id")
_PROVIDER = ProviderCall._meta.get_field("provider")
_JOB_ITEM = ProviderCall._meta.get_field("job_item")


def _statement(alias: str, rows: int) -> str:
    """``INSERT`` for the ledger table, its names from the model's metadata (quoted)."""
    connection = connections[alias]
    head = _sql_cache.get((alias, "head"))
    if head is None:
        meta = ProviderCall._meta
        quote = connection.ops.quote_name
        columns = ", ".join(quote(meta.get_field(name).column) for name in COLUMNS)
        head = _sql_cache[(alias, "head")] = (
            f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES "  # noqa: S608
        )
    row = "(" + ", ".join(["%s"] * len(COLUMNS)) + ")"
    # A row can reach the table twice (a drain repeated; a direct write after an append whose
    # reply was lost): its call_id keeps one.
    conflict = connection.ops.quote_name(_CALL_ID.column)
    return head + ", ".join([row] * rows) + f" ON CONFLICT ({conflict}) DO NOTHING"


def _json_statement(alias: str) -> str:
    """PostgreSQL: INSERT the rows of a JSON array whose keys are the ledger's columns,
    returning the ``call_id`` of each row stored. Rows whose provider or job item is missing
    are left out (see :func:`_store`).
    """
    sql = _sql_cache.get((alias, "json"))
    if sql is None:
        meta = ProviderCall._meta
        quote = connections[alias].ops.quote_name
        table = quote(meta.db_table)
        columns = [meta.get_field(name).column for name in COLUMNS]
        selected = ", ".join(f"r.{quote(name)}" for name in columns)
        sql = _sql_cache[(alias, "json")] = (
            f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) "  # noqa: S608
            f"SELECT {selected} "
            f"FROM json_populate_recordset(NULL::{table}, %s::json) WITH ORDINALITY AS r "
            f"JOIN {quote(_PROVIDER.related_model._meta.db_table)} AS p "
            f"ON p.{quote(_PROVIDER.target_field.column)} = r.{quote(_PROVIDER.column)} "
            f"LEFT JOIN {quote(_JOB_ITEM.related_model._meta.db_table)} AS j "
            f"ON j.{quote(_JOB_ITEM.target_field.column)} = r.{quote(_JOB_ITEM.column)} "
            f"WHERE r.{quote(_JOB_ITEM.column)} IS NULL "
            f"OR j.{quote(_JOB_ITEM.target_field.column)} IS NOT NULL "
            # In the stream's order, so ids follow the calls as with direct INSERTs.
            "ORDER BY r.ordinality "
            f"ON CONFLICT ({quote(_CALL_ID.column)}) DO NOTHING "
            f"RETURNING {quote(_CALL_ID.column)}"
        )
    return sql


def _params(connection: Any, row: Mapping[str, Any]) -> list[Any]:
    values = dict(row)
    values["call_id"] = _CALL_ID.get_db_prep_value(uuid.UUID(hex=str(row["call_id"])), connection)
    values["created_at"] = connection.ops.adapt_datetimefield_value(row["created_at"])
    for name in _DECIMALS:
        if values[name] is not None:
            values[name] = connection.ops.adapt_decimalfield_value(values[name])
    return [values[name] for name in COLUMNS]


def _insert_many(alias: str, rows: Sequence[Mapping[str, Any]]) -> None:
    connection = connections[alias]
    per_statement = len(rows)
    max_params = connection.features.max_query_params
    if max_params:
        per_statement = max(1, min(per_statement, max_params // len(COLUMNS)))
    with connection.cursor() as cursor:
        for chunk in _chunks(rows, per_statement):
            params = [value for row in chunk for value in _params(connection, row)]
            cursor.execute(_statement(alias, len(chunk)), params)


def _insert_one(row: Mapping[str, Any]) -> None:
    """The unbuffered path: one INSERT, not waiting for the WAL flush when on its own."""
    alias = router.db_for_write(ProviderCall)
    connection = connections[alias]
    sql = _statement(alias, 1)
    if _asynchronous_commit_possible(connection):
        # On its own (autocommit), the row's commit need not wait for the WAL to reach the
        # disk. Only a PostgreSQL crash can lose such a commit, and then only the last few
        # hundred milliseconds of rows. SET LOCAL ends with the statement's implicit
        # transaction, so the session keeps its setting.
        sql = "SET LOCAL synchronous_commit TO OFF; " + sql
    with connection.cursor() as cursor:
        cursor.execute(sql, _params(connection, row))


def _asynchronous_commit_possible(connection: Any) -> bool:
    """PostgreSQL in autocommit, with client-side binding (which sends two statements)."""
    return (
        connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and connection.get_autocommit()
        and not connection.settings_dict.get("OPTIONS", {}).get("server_side_binding")
    )


def _chunks(rows: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]
