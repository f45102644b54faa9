"""Provider admin: credentials are write-only; their values are never rendered back."""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.contrib import admin, messages

from providers.models import PhoneReveal, Provider, ProviderCall


class ProviderForm(forms.ModelForm):
    new_credentials = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=(
            'JSON object, e.g. {"api_key": "..."}. Leave empty to keep the stored credentials; '
            "stored values are encrypted and never shown."
        ),
        label="Set credentials",
    )
    clear_credentials = forms.BooleanField(required=False, label="Remove stored credentials")

    class Meta:
        model = Provider
        fields = [
            "slug",
            "name",
            "kind",
            "adapter",
            "base_url",
            "enabled",
            "priority",
            "rate_limit_per_minute",
            "concurrency",
            "daily_quota",
            "timeout_seconds",
            "cache_ttl_days",
            "price_per_call",
            "operation_prices",
            "config",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The stored row as it was, to tell where its credentials went before this change.
        self.before = (
            Provider.objects.filter(pk=self.instance.pk).first() if self.instance.pk else None
        )
        self.credentials_cleared = False

    def clean_new_credentials(self) -> dict | None:
        raw = self.cleaned_data.get("new_credentials", "").strip()
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            # The message must not echo the input: it may be a key typed in the wrong box.
            raise forms.ValidationError("Credentials must be a JSON object.") from None
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise forms.ValidationError("Credentials must map names to string values.")
        return value

    def clean(self):
        cleaned = super().clean()
        adapter = cleaned.get("adapter")
        if adapter:
            from providers.adapters import get_adapter_class

            try:
                get_adapter_class(adapter)
            except (KeyError, ValueError):
                self.add_error("adapter", f"No adapter named {adapter!r}.")
        if adapter == "generic":
            from providers.transforms import validate_generic_config

            for error in validate_generic_config(cleaned.get("config") or {}):
                self.add_error("config", error)
        return cleaned

    def save(self, commit: bool = True) -> Provider:
        provider = super().save(commit=False)
        from providers.services import credentials_leave_host

        if self.cleaned_data.get("clear_credentials"):
            provider.set_credentials({})
        elif self.cleaned_data.get("new_credentials"):
            provider.set_credentials(self.cleaned_data["new_credentials"])
        elif self.before is not None and credentials_leave_host(before=self.before, after=provider):
            # A key entered for one host is never sent to another: it is entered again.
            provider.set_credentials({})
            self.credentials_cleared = True
        if commit:
            provider.save()
        return provider


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = [
        "slug",
        "name",
        "kind",
        "adapter",
        "enabled",
        "priority",
        "rate_limit_per_minute",
        "concurrency",
        "daily_quota",
        "price_per_call",
        "stored_credentials",
        "health",
    ]
    actions = ["test_connection"]
    list_filter = ["enabled", "kind", "adapter"]
    search_fields = ["slug", "name", "base_url"]
    list_editable = ["enabled", "priority"]
    readonly_fields = ["stored_credentials", "health_detail", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["slug", "name", "kind", "adapter", "base_url", "enabled", "priority"]}),
        (
            "Limits",
            {
                "fields": [
                    "rate_limit_per_minute",
                    "concurrency",
                    "daily_quota",
                    "timeout_seconds",
                    "cache_ttl_days",
                ]
            },
        ),
        ("Pricing", {"fields": ["price_per_call", "operation_prices"]}),
        ("Credentials", {"fields": ["stored_credentials", "new_credentials", "clear_credentials"]}),
        ("Configuration", {"fields": ["config"], "classes": ["collapse"]}),
        ("Health (last 24 h, from the call ledger)", {"fields": ["health_detail"]}),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]

    def save_model(self, request: Any, obj: Provider, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if getattr(form, "credentials_cleared", False):
            from providers.services import credentials_cleared_note

            self.message_user(request, credentials_cleared_note(obj), messages.WARNING)

    @admin.display(description="Health (24 h)")
    def health(self, obj: Provider) -> str:
        from providers.health import provider_health

        h = provider_health(obj)
        rate = "-" if h.success_rate is None else f"{h.success_rate:.0%}"
        p95 = "-" if h.p95_latency_ms is None else f"{h.p95_latency_ms:.0f} ms"
        return f"{h.calls} calls, {rate} ok, p95 {p95}, breaker {h.breaker_state}, spent {h.spend_today}"

    @admin.display(description="Health")
    def health_detail(self, obj: Provider) -> str:
        if not obj.pk:
            return "—"
        from providers.health import provider_health

        h = provider_health(obj).as_dict()
        return ", ".join(
            f"{k.replace('_', ' ')}: {v if v is not None else '-'}"
            for k, v in h.items()
            if k not in {"slug", "since"}
        )

    # A real call costs money: the change permission, not only view, may make it.
    @admin.action(
        description="Test connection (one real call with a canned input)", permissions=["change"]
    )
    def test_connection(self, request, queryset):
        from providers.services import provider_test_connection

        for provider in queryset:
            try:
                outcome = provider_test_connection(provider)
            except ValueError as exc:
                self.message_user(request, f"{provider.slug}: {exc}", messages.ERROR)
                continue
            fields = ", ".join(sorted(outcome.fields)) or "no fields"
            self.message_user(
                request,
                f"{provider.slug} {outcome.operation}: {outcome.status} in "
                f"{outcome.latency_ms:.0f} ms ({fields})"
                f"{' [synthetic: made-up sandbox data]' if outcome.synthetic else ''}"
                f"{' — ' + outcome.error if outcome.error else ''}",
                messages.SUCCESS if outcome.ok else messages.ERROR,
            )

    @admin.display(description="Credentials")
    def stored_credentials(self, obj: Provider) -> str:
        if not obj.pk or not obj.has_credentials:
            return "none"
        return ", ".join(f"{name}: ••••••" for name in obj.credential_names())


_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


@admin.register(ProviderCall)
class ProviderCallAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "provider",
        "operation",
        "status",
        "error_code",
        "http_status",
        "latency_ms",
        "cost",
        "cache_hit",
        "attempt",
    ]
    list_filter = ["status", "operation", "cache_hit", "provider"]
    search_fields = ["error_code"]
    search_help_text = "An error code, or an input fingerprint (64 hex digits, exact)."
    date_hierarchy = "created_at"
    list_select_related = ["provider"]
    raw_id_fields = ["job_item"]
    actions = ["mark_abandoned"]

    @admin.action(
        description="Mark pending calls as abandoned (checked: the provider did not bill them)",
        permissions=["resolve"],
    )
    def mark_abandoned(self, request: Any, queryset: Any) -> None:
        from providers.ledger import abandon_attempts

        count = abandon_attempts(queryset.values_list("pk", flat=True))
        self.message_user(
            request, f"{count} pending call(s) marked abandoned; they may be sent again."
        )

    def has_resolve_permission(self, request: Any) -> bool:
        # The ledger is read-only; resolving a call a stopped worker left pending is the one
        # change allowed, to those who may change ledger rows.
        return request.user.has_perm("providers.change_providercall")

    def get_search_results(self, request: Any, queryset: Any, search_term: str) -> Any:
        term = search_term.strip().lower()
        if _FINGERPRINT.fullmatch(term):
            # Exact, so the fingerprint index serves it (a substring search cannot use it).
            return queryset.filter(input_fingerprint=term), False
        return super().get_search_results(request, queryset, search_term)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # the ledger is a record of what happened


@admin.register(PhoneReveal)
class PhoneRevealAdmin(admin.ModelAdmin):
    list_display = ["requested_at", "provider", "status", "person_id", "received_at", "cost"]
    list_filter = ["status", "provider"]
    search_fields = ["person_id", "request_id"]
    date_hierarchy = "requested_at"
    list_select_related = ["provider"]
    # The token's hash is left out: it is of no use to a reader.
    fields = [
        "provider",
        "status",
        "person_id",
        "request_id",
        "requested_at",
        "received_at",
        "cost",
        "phone_fields",
        "raw_payload",
    ]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # written by the provider's webhook only
