"""Widget SSE and long-poll routes (real-time issue)."""
urlpatterns: list = []
