app_name = "memory-api"

urlpatterns: list = []
