from django.contrib import admin

from enrichment.models import DomainPattern, EnrichmentJob, JobItem, WaterfallStep


class JobItemInline(admin.TabularInline):
    model = JobItem
    extra = 0
    fields = ["index", "status", "error", "cost", "attempts", "contact"]
    readonly_fields = fields
    show_change_link = True
    max_num = 0


@admin.register(EnrichmentJob)
class EnrichmentJobAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "job_type",
        "status",
        "processed_items",
        "total_items",
        "succeeded_items",
        "failed_items",
        "cost",
        "project",
        "created_at",
    ]
    list_filter = ["status", "job_type", "compliance_mode", "project"]
    search_fields = ["name", "brand_name", "error_message"]
    date_hierarchy = "created_at"
    raw_id_fields = ["brand", "created_by"]
    list_select_related = ["project"]


@admin.register(JobItem)
class JobItemAdmin(admin.ModelAdmin):
    list_display = ["job", "index", "status", "attempts", "cost", "error"]
    list_filter = ["status"]
    search_fields = ["error"]
    raw_id_fields = ["job", "contact"]


@admin.register(WaterfallStep)
class WaterfallStepAdmin(admin.ModelAdmin):
    list_display = ["field", "position", "provider", "min_confidence", "enabled", "project"]
    list_filter = ["field", "enabled", "project"]
    list_editable = ["position", "min_confidence", "enabled"]
    list_select_related = ["provider", "project"]


@admin.register(DomainPattern)
class DomainPatternAdmin(admin.ModelAdmin):
    list_display = [
        "domain",
        "top_pattern",
        "support",
        "share",
        "examples",
        "catch_all",
        "updated_at",
    ]
    search_fields = ["domain"]
    list_filter = ["top_pattern", "catch_all"]
