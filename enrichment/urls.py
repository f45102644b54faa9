from django.urls import path

from enrichment import views

urlpatterns = [
    path("", views.home, name="home"),
]
