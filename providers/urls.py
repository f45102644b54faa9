from django.urls import path

from providers import webhooks
from providers.adapters.apollo import WEBHOOK_PATH

urlpatterns = [
    # The adapter builds the URL it gives Apollo from the same WEBHOOK_PATH.
    path(f"{WEBHOOK_PATH}<str:token>", webhooks.apollo_phone_webhook, name="apollo-phone-webhook"),
]
