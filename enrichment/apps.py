from django.apps import AppConfig
from django.db.models.signals import post_save


class EnrichmentConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "enrichment"

    def ready(self) -> None:
        from contacts.models import EnrichedContact
        from enrichment.receivers import contact_created_enrich

        post_save.connect(
            contact_created_enrich, sender=EnrichedContact, dispatch_uid="contact_created_enrich"
        )
