"""The HTML pages of the form builder, included under /forms/."""

from django.urls import path

from forms_builder import views

app_name = "forms_builder"

urlpatterns = [
    path("", views.form_index, name="index"),
    path("login/", views.FormLoginView.as_view(), name="login"),
    path("confirm/<str:token>/", views.confirm_submission, name="confirm"),
    path("<slug:slug>/", views.form_page, name="form"),
    path("<slug:slug>/done/", views.form_done, name="done"),
]
