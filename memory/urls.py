from django.urls import path

from memory import views

app_name = "memory"

urlpatterns = [
    path("projects/<slug:slug>/", views.fact_list, name="fact-list"),
]
