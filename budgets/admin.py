from django.contrib import admin

from budgets.models import Budget, BudgetAlert, Project, SpendEntry


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_by", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "scope",
        "project",
        "user",
        "period",
        "limit_amount",
        "spent",
        "reserved",
        "currency",
        "auto_stop",
        "roll_over",
        "enabled",
    ]
    list_filter = ["scope", "period", "auto_stop", "enabled"]
    search_fields = ["project__name", "user__username"]
    raw_id_fields = ["user"]
    # Moved only by reservations and settlements (budgets.services), never by hand.
    readonly_fields = ["spent", "reserved", "carried_over"]


@admin.register(SpendEntry)
class SpendEntryAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "budget",
        "status",
        "reserved_amount",
        "settled_amount",
        "job",
        "provider_call",
        "expires_at",
    ]
    list_filter = ["status"]
    raw_id_fields = ["job", "provider_call", "budget"]
    date_hierarchy = "created_at"


@admin.register(BudgetAlert)
class BudgetAlertAdmin(admin.ModelAdmin):
    list_display = ["created_at", "budget", "threshold", "spent", "period_start"]
    list_filter = ["threshold"]
