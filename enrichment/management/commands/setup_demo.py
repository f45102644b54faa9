"""Prepare a development instance: demo admin, the sandbox provider, a demo project."""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from budgets.models import Project
from enrichment.models import WaterfallStep
from providers.models import Provider, ProviderKind

SANDBOX_FIELDS = ("email", "title", "phone", "company_size", "linkedin_url")


class Command(BaseCommand):
    help = (
        "Create (or refresh) the demo admin, the synthetic `sandbox` provider and a demo "
        "project, then print where to log in. Safe to run repeatedly."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default="127.0.0.1")

    @transaction.atomic
    def handle(self, *args, username: str, port: int, host: str, **options):
        password = self._demo_password()
        User = get_user_model()
        user, _ = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.com"}
        )
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()

        sandbox, _ = Provider.objects.update_or_create(
            slug="sandbox",
            defaults={
                "name": "Sandbox (synthetic data)",
                "kind": ProviderKind.BUILTIN,
                "adapter": "sandbox",
                "enabled": True,
                "priority": 1000,
                "price_per_call": Decimal("0"),
                "rate_limit_per_minute": None,
            },
        )
        for position, field in enumerate(SANDBOX_FIELDS, start=1):
            WaterfallStep.objects.get_or_create(
                project=None,
                field=field,
                provider=sandbox,
                defaults={"position": 100 + position, "min_confidence": 80},
            )
        Project.objects.get_or_create(
            slug="demo",
            defaults={
                "name": "Demo",
                "created_by": user,
                "description": "Try the product on docs/sample_leads.csv.",
            },
        )
        base = f"http://{host}:{port}"
        self.stdout.write(self.style.SUCCESS("Demo instance ready."))
        self.stdout.write(f"  Review UI : {base}/")
        self.stdout.write(f"  Admin     : {base}/admin/")
        self.stdout.write(f"  API docs  : {base}/api/docs/")
        self.stdout.write(f"  Username  : {username}")
        self.stdout.write(f"  Password  : {password}")
        self.stdout.write("  Sample    : python manage.py enrich docs/sample_leads.csv -o out.csv")

    def _demo_password(self) -> str:
        """One random password per instance, kept in var/ so it survives restarts."""
        path = settings.VAR_DIR / "demo-admin-password"
        if path.exists():
            return path.read_text().strip()
        password = secrets.token_urlsafe(12)
        path.write_text(password + "\n")
        path.chmod(0o600)
        return password
