from django.urls import path

from enrichment import apis, views

urlpatterns = [
    path("", views.home, name="home"),
    path("api/enrichment/emails/find", apis.EmailFindApi.as_view(), name="api-email-find"),
    path("api/enrichment/emails/verify", apis.EmailVerifyApi.as_view(), name="api-email-verify"),
    path("api/enrichment/bounces", apis.BounceCreateApi.as_view(), name="api-bounce-create"),
]
