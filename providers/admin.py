"""Provider admin: credentials are write-only; their values are never rendered back."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin

from providers.models import Provider, ProviderCall


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
        exclude = ["credentials_encrypted"]

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

    def save(self, commit: bool = True) -> Provider:
        provider = super().save(commit=False)
        if self.cleaned_data.get("clear_credentials"):
            provider.set_credentials({})
        elif self.cleaned_data.get("new_credentials"):
            provider.set_credentials(self.cleaned_data["new_credentials"])
        if commit:
            provider.save()
        return provider


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = [
        "slug", "name", "kind", "adapter", "enabled", "priority", "rate_limit_per_minute",
        "concurrency", "daily_quota", "price_per_call", "stored_credentials",
    ]
    list_filter = ["enabled", "kind", "adapter"]
    search_fields = ["slug", "name", "base_url"]
    list_editable = ["enabled", "priority"]
    readonly_fields = ["stored_credentials", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["slug", "name", "kind", "adapter", "base_url", "enabled", "priority"]}),
        ("Limits", {"fields": ["rate_limit_per_minute", "concurrency", "daily_quota",
                               "timeout_seconds", "cache_ttl_days"]}),
        ("Pricing", {"fields": ["price_per_call", "operation_prices"]}),
        ("Credentials", {"fields": ["stored_credentials", "new_credentials", "clear_credentials"]}),
        ("Configuration", {"fields": ["config"], "classes": ["collapse"]}),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]

    @admin.display(description="Credentials")
    def stored_credentials(self, obj: Provider) -> str:
        if not obj.pk or not obj.has_credentials:
            return "none"
        return ", ".join(f"{name}: ••••••" for name in obj.credential_names())


@admin.register(ProviderCall)
class ProviderCallAdmin(admin.ModelAdmin):
    list_display = [
        "created_at", "provider", "operation", "status", "error_code", "http_status",
        "latency_ms", "cost", "cache_hit", "attempt",
    ]
    list_filter = ["status", "operation", "cache_hit", "provider"]
    search_fields = ["input_fingerprint", "error_code"]
    date_hierarchy = "created_at"
    list_select_related = ["provider"]
    raw_id_fields = ["job_item"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # the ledger is a record of what happened
