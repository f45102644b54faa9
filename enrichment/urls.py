from django.urls import path

from enrichment import apis, views

urlpatterns = [
    path("", views.home, name="home"),
    path("jobs/new/", views.job_new, name="job-new"),
    path("jobs/new/<str:token>/", views.job_mapping, name="job-mapping"),
    path("jobs/<int:job_id>/", views.job_detail, name="job-detail"),
    path("jobs/<int:job_id>/cancel", views.job_cancel, name="job-cancel"),
    path("jobs/<int:job_id>/resume", views.job_resume, name="job-resume"),
    path("jobs/<int:job_id>/retry-failed", views.job_retry_failed, name="job-retry-failed"),
    path("jobs/<int:job_id>/export.csv", views.job_export, name="job-export"),
    path("api/enrichment/emails/find", apis.EmailFindApi.as_view(), name="api-email-find"),
    path("api/enrichment/emails/verify", apis.EmailVerifyApi.as_view(), name="api-email-verify"),
    path("api/enrichment/bounces", apis.BounceCreateApi.as_view(), name="api-bounce-create"),
]
