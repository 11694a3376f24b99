from django.urls import path

from agents import views

app_name = "agents"

urlpatterns = [
    path("projects/<slug:slug>/", views.agent_list, name="agent-list"),
]
