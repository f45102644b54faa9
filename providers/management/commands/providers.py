"""`manage.py providers list | export FILE | import FILE | test NAME`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from providers import services
from providers.health import provider_health
from providers.models import Provider


class Command(BaseCommand):
    help = "List, export, import and test provider configurations (secrets never in clear)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = sub.add_parser("list", help="slug, kind, enabled, limits and health")
        listing.add_argument("--json", action="store_true", help="machine-readable output")
        export = sub.add_parser("export", help="write every provider's configuration as JSON")
        export.add_argument("file", help="output file, or - for standard output")
        imp = sub.add_parser("import", help="create or update providers from an export file")
        imp.add_argument("file")
        test = sub.add_parser("test", help="one real call with a canned input")
        test.add_argument("name", help="provider slug")
        test.add_argument("--operation", help="operation to test (default: the first supported)")

    def handle(self, *args, action: str, **options):
        getattr(self, f"_{action}")(**options)

    def _list(self, *, json: bool = False, **_):  # noqa: A002 - the flag's name
        rows = []
        for provider in Provider.objects.order_by("priority", "slug"):
            health = provider_health(provider)
            rows.append(
                {
                    "slug": provider.slug,
                    "kind": provider.kind,
                    "adapter": provider.adapter,
                    "enabled": provider.enabled,
                    "rate_limit_per_minute": provider.rate_limit_per_minute,
                    "concurrency": provider.concurrency,
                    "daily_quota": provider.daily_quota,
                    "credentials": bool(provider.has_credentials),
                    "health": health.as_dict(),
                }
            )
        if json:
            self.stdout.write(_json(rows))
            return
        header = (
            f"{'slug':<16} {'kind':<8} {'on':<3} {'rpm':>6} {'conc':>4} {'quota':>7} "
            f"{'calls':>6} {'ok%':>5} {'p50ms':>6} {'p95ms':>6} {'breaker':<9} spend today"
        )
        self.stdout.write(header)
        for r in rows:
            h = r["health"]
            self.stdout.write(
                f"{r['slug']:<16} {r['kind']:<8} {'yes' if r['enabled'] else 'no':<3} "
                f"{_num(r['rate_limit_per_minute']):>6} {r['concurrency']:>4} "
                f"{_num(r['daily_quota']):>7} {h['calls']:>6} "
                f"{_pct(h['success_rate']):>5} {_num(h['p50_latency_ms']):>6} "
                f"{_num(h['p95_latency_ms']):>6} {h['breaker_state']:<9} {h['spend_today']}"
            )

    def _export(self, *, file: str, **_):
        text = _json(services.provider_export_all())
        if file == "-":
            self.stdout.write(text)
        else:
            Path(file).write_text(text + "\n")
            self.stderr.write(f"exported {Provider.objects.count()} provider(s) to {file}")

    def _import(self, *, file: str, **_):
        try:
            raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        try:
            outcome = services.provider_import(services.provider_import_parse(raw))
        except services.ProviderImportError as exc:
            raise CommandError(f"{file}: nothing was imported:\n{exc}") from None
        self.stdout.write(f"imported: {outcome.created} created, {outcome.updated} updated")
        for note in outcome.notes:
            self.stdout.write(note)

    def _test(self, *, name: str, operation: str | None, **_):
        provider = Provider.objects.filter(slug=name).first()
        if provider is None:
            raise CommandError(f"no provider {name!r} (see `manage.py providers list`)")
        try:
            outcome = services.provider_test_connection(provider, operation)
        except ValueError as exc:
            raise CommandError(f"{provider.slug}: {exc}") from None
        where = f"{provider.slug} ({provider.adapter}) {outcome.operation}"
        if not outcome.ok:
            # One line: the error's message is the provider's own words, masked and clipped.
            reason = " ".join(outcome.error.split())
            raise CommandError(f"{where} failed: {outcome.status}: {reason}")
        line = f"{where}: {outcome.status} in {outcome.latency_ms:.0f} ms"
        if outcome.synthetic:
            line += " [synthetic: made-up sandbox data, not a real person or company]"
        self.stdout.write(line)
        for field, value in outcome.fields.items():
            shown = " ".join(str(value["value"]).split())
            self.stdout.write(f"  {field:<20} {shown:<40} ({value['confidence']})")


def _json(value) -> str:
    return json.dumps(value, indent=2, default=str)


def _num(value) -> str:
    return "-" if value is None else f"{value:.0f}" if isinstance(value, float) else str(value)


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.0f}"
