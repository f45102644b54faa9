from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from contacts.models import (
    ContactActivity,
    ContactEmail,
    CrmBrand,
    CrmBrandContact,
    EnrichedContact,
    Outreach,
    Suppression,
)
from contacts.services import contact_quality_refresh
from enrichment.quality import WEIGHTS


class ContactEmailInline(admin.TabularInline):
    model = ContactEmail
    extra = 0
    fields = [
        "email",
        "is_primary",
        "verification_status",
        "verification_score",
        "why_this_score",
        "pattern",
        "mx_host",
        "catch_all",
        "api_source",
        "last_checked_at",
    ]
    readonly_fields = ["why_this_score"]

    @admin.display(description="Why this score")
    def why_this_score(self, obj: ContactEmail) -> str:
        return score_breakdown_table(obj)


@admin.register(EnrichedContact)
class EnrichedContactAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "title",
        "company",
        "domain",
        "confidence_score",
        "quality_score",
        "source",
        "review_status",
        "compliance_check_passed",
        "discovered_at",
    ]
    list_filter = ["review_status", "source", "compliance_check_passed", "lawful_basis", "country"]
    search_fields = [
        "first_name",
        "last_name",
        "company",
        "domain",
        "emails__email",
        "linkedin_url",
    ]
    date_hierarchy = "discovered_at"
    inlines = [ContactEmailInline]
    raw_id_fields = ["linked_brand", "linked_contact", "job", "reviewed_by"]
    list_select_related = ["project"]
    readonly_fields = ["quality_score", "quality_report", "name_key", "linkedin_key"]
    actions = ["refresh_quality"]

    @admin.display(description="Quality checks")
    def quality_report(self, obj: EnrichedContact) -> str:
        return quality_checks_table(obj.quality_checks)

    @admin.action(description="Recompute the quality score", permissions=["change"])
    def refresh_quality(self, request, queryset):
        count = 0
        for contact in queryset.prefetch_related("emails"):
            contact_quality_refresh(contact=contact)
            count += 1
        self.message_user(request, f"Quality score recomputed for {count} contact(s).")


_OUTCOME_LABELS = {"passed": "✔ passed", "failed": "✘ failed", "not_applicable": "– n/a"}


def quality_checks_table(checks: dict) -> str:
    """The stored quality report as two small tables: dimension scores, then each rule."""
    if not checks or not isinstance(checks, dict):
        return "Not scored yet (use the “Recompute the quality score” action)."
    scores = checks.get("dimensions") or {}
    # In the weights' order: the stored JSON does not keep the order it was written in.
    dimensions = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
        ((name, f"× {weight:.2f}", scores.get(name, "—")) for name, weight in WEIGHTS.items()),
    )
    rules = format_html_join(
        "",
        '<tr class="quality-{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
        (
            (
                rule.get("outcome", ""),
                rule.get("name", ""),
                _OUTCOME_LABELS.get(rule.get("outcome", ""), rule.get("outcome", "")),
                rule.get("severity", ""),
                rule.get("reason", ""),
            )
            for rule in checks.get("rules") or []
        ),
    )
    return format_html(
        "<table><thead><tr><th>Dimension</th><th>Weight</th><th>Score</th></tr></thead><tbody>{}</tbody></table>"
        "<table><thead><tr><th>Rule</th><th>Result</th><th>Severity</th><th>Why</th></tr></thead>"
        "<tbody>{}</tbody></table><p>Computed {}</p>",
        dimensions,
        rules,
        checks.get("computed_at", "—"),
    )


def score_breakdown_table(obj: ContactEmail) -> str:
    """The score's named factors, so an admin can see why an address scored what it did."""
    rows = obj.score_breakdown or []
    if not rows:
        return "—"
    return format_html_join(
        "\n",
        "<div><code>{:+d}</code> <b>{}</b>: {}</div>",
        ((f.get("points", 0), f.get("name", ""), f.get("detail", "")) for f in rows),
    )


@admin.register(ContactEmail)
class ContactEmailAdmin(admin.ModelAdmin):
    list_display = [
        "email",
        "contact",
        "verification_status",
        "verification_score",
        "verification_method",
        "pattern",
        "catch_all",
        "bounced_at",
    ]
    readonly_fields = ["why_this_score"]
    actions = ["record_bounce"]

    @admin.display(description="Why this score")
    def why_this_score(self, obj: ContactEmail) -> str:
        return score_breakdown_table(obj)

    @admin.action(
        description="Record a bounce (marks invalid, re-learns the domain pattern)",
        permissions=["change"],
    )
    def record_bounce(self, request, queryset):
        from enrichment.services import email_record_bounce

        marked = 0
        for email in sorted(set(queryset.values_list("email", flat=True))):
            marked += email_record_bounce(
                email=email, actor=request.user, reason="admin"
            ).addresses_marked
        self.message_user(request, f"{marked} address(es) marked bounced.", messages.SUCCESS)

    list_filter = ["verification_status", "verification_method", "generation_method", "catch_all"]
    search_fields = ["email", "domain"]
    raw_id_fields = ["contact"]
    list_select_related = ["contact"]


@admin.register(ContactActivity)
class ContactActivityAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "contact", "contact_ref", "actor"]
    list_filter = ["action"]
    search_fields = ["contact_ref", "action"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # append-only audit trail


@admin.register(CrmBrand)
class CrmBrandAdmin(admin.ModelAdmin):
    list_display = ["name", "domain", "website", "created_at"]
    search_fields = ["name", "domain"]


@admin.register(CrmBrandContact)
class CrmBrandContactAdmin(admin.ModelAdmin):
    list_display = ["__str__", "brand", "email", "title", "relationship_status"]
    list_filter = ["relationship_status"]
    search_fields = ["first_name", "last_name", "email", "brand__name"]
    list_select_related = ["brand"]


@admin.register(Outreach)
class OutreachAdmin(admin.ModelAdmin):
    list_display = ["brand_contact", "sequence", "step", "status", "next_step_at"]
    list_filter = ["status", "sequence"]
    list_select_related = ["brand_contact__brand"]


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ["kind", "value_hash", "reason", "created_by", "created_at"]
    list_filter = ["kind"]
    search_fields = ["value_hash", "reason"]
