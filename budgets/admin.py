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
        "currency",
        "auto_stop",
        "roll_over",
        "enabled",
    ]
    list_filter = ["scope", "period", "auto_stop", "enabled"]
    search_fields = ["project__name", "user__username"]
    raw_id_fields = ["user"]


@admin.register(SpendEntry)
class SpendEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "budget", "status", "reserved_amount", "settled_amount", "job"]
    list_filter = ["status"]
    raw_id_fields = ["job", "provider_call", "budget"]
    date_hierarchy = "created_at"


@admin.register(BudgetAlert)
class BudgetAlertAdmin(admin.ModelAdmin):
    list_display = ["created_at", "budget", "threshold", "spent", "period_start"]
    list_filter = ["threshold"]
