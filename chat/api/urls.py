"""REST API routes (REST issue)."""
urlpatterns: list = []
