from django.contrib import admin

from contacts.models import (
    ContactActivity,
    ContactEmail,
    CrmBrand,
    CrmBrandContact,
    EnrichedContact,
    Outreach,
    Suppression,
)


class ContactEmailInline(admin.TabularInline):
    model = ContactEmail
    extra = 0
    fields = [
        "email", "is_primary", "verification_status", "verification_score", "score_breakdown",
        "pattern", "mx_host", "catch_all", "api_source", "last_checked_at",
    ]
    readonly_fields = ["score_breakdown"]


@admin.register(EnrichedContact)
class EnrichedContactAdmin(admin.ModelAdmin):
    list_display = [
        "__str__", "title", "company", "domain", "confidence_score", "source", "review_status",
        "compliance_check_passed", "discovered_at",
    ]
    list_filter = ["review_status", "source", "compliance_check_passed", "lawful_basis", "country"]
    search_fields = ["first_name", "last_name", "company", "domain", "emails__email", "linkedin_url"]
    date_hierarchy = "discovered_at"
    inlines = [ContactEmailInline]
    raw_id_fields = ["linked_brand", "linked_contact", "job", "reviewed_by"]
    list_select_related = ["project"]


@admin.register(ContactEmail)
class ContactEmailAdmin(admin.ModelAdmin):
    list_display = [
        "email", "contact", "verification_status", "verification_score", "verification_method",
        "pattern", "catch_all", "bounced_at",
    ]
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
