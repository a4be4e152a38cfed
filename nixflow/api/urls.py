from django.urls import path

from nixflow.api.views import MeView

urlpatterns = [
    path("me/", MeView.as_view(), name="me"),
]
