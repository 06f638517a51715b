"""Operator panel, login, widget loader and frame, demo page, statics."""
from django.urls import path, re_path
from django.views.generic import RedirectView

from frontend import views

app_name = "frontend"

urlpatterns = [
    path("", RedirectView.as_view(url="/app/", permanent=False), name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("app/", views.panel, name="panel"),
    path("app/settings/", views.settings_page, name="settings"),
    path("app/reports/", views.reports_page, name="reports"),
    path("widget.js", views.widget_loader, name="widget-loader"),
    path("widget/frame/", views.widget_frame, name="widget-frame"),
    path("widget/config/", views.widget_config, name="widget-config"),
    path("demo/", views.demo, name="demo"),
    # Browsers ask for /favicon.ico whatever the page says: point them at the SVG icon.
    path("favicon.ico", RedirectView.as_view(url="/static/frontend/favicon.svg", permanent=True), name="favicon"),
    re_path(r"^static/(?P<path>.+)$", views.static_file, name="static"),
]

