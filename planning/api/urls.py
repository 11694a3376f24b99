app_name = "planning-api"

urlpatterns: list = []
