"""Operator panel and widget routes (frontend issue)."""
urlpatterns: list = []
