from django.urls import path

from templates_app import views

urlpatterns = [
    path("templates/", views.template_list, name="template-list"),
]
