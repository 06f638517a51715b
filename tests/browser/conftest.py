"""One live server per test session for the browser tests, and Chromium through Playwright.

The server is a real daphne process (WebSockets, SSE, long-poll) started from this checkout by
``tests.live.start_server``, with the live tests' small connection pool.
It gets its own database so that the browser talks to it exactly as a customer's browser
would, with no transaction shared with the test process: a temporary SQLite file in the
embedded mode (with Channels' in-memory layer: one process), or a fresh PostgreSQL database
next to the configured one (plus the configured Redis under its own key prefix). It is loaded
with ``manage.py demo_data`` (inbox ``demo-website-token``, operators agent / supervisor /
admin); tests add what they need through the REST API.

Chromium is Debian's (``/usr/bin/chromium``, installed by apt): Playwright never downloads
browsers here.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.live import server_env, start_server

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-dev-shm-usage",
]
SCREENSHOTS = ROOT / "docs" / "screenshots"
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


_servers: list[LiveServer] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing browser test shows what the server logged (tracebacks of 500s, etc.)."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and _servers and _servers[0].log_path and _servers[0].log_path.exists():
        lines = [line for line in _servers[0].log_path.read_text(errors="replace").splitlines()
                 if not line.startswith("127.0.0.1:")]
        report.sections.append(("live server log (last lines)", "\n".join(lines[-80:])))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _postgres_database(url: str) -> tuple[str, str]:
    """A fresh database named after the configured one; returns (its URL, its name)."""
    import psycopg

    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'postgres'}_browser{WORKER}".replace("-", "_")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}")), name


def _drop_postgres_database(url: str, name: str) -> None:
    import psycopg

    admin_url = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class LiveServer:
    url: str
    env: dict[str, str]
    log_path: Path | None = None

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout


@pytest.fixture(scope="session")
def messenger_server(tmp_path_factory) -> Iterator[LiveServer]:
    if not Path(CHROMIUM).exists():
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium; bin/test does it as root)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: a missing browser is a broken run, not a skip
        pytest.skip(message)
    tmp = tmp_path_factory.mktemp("live")
    env = {k: v for k, v in server_env().items() if not k.startswith(("PYTEST_", "DJANGO_"))}
    env.update(
        SECRET_KEY="browser-tests-secret",
        DEBUG="false",
        PYTHONUNBUFFERED="1",
        SHARED_STORE_PREFIX=f"browser{WORKER}",
        DATA_DIR=str(tmp),
        MEDIA_ROOT=str(tmp / "media"),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
    )
    pg: tuple[str, str] | None = None
    configured = os.environ.get("DATABASE_URL", "")
    if configured.startswith(("postgres", "pgsql")):
        pg = _postgres_database(configured)
        env["DATABASE_URL"] = pg[0]
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'browser.sqlite3'}"
    server = LiveServer(url="", env=env)
    server.manage("migrate", "--noinput")
    server.manage("demo_data")
    # tests/live.py starts it: the same daphne command and the same small connection pool
    # (LIVE_DB_POOL_MAX_SIZE) as the other live tests.
    live = start_server(env=env)
    try:
        server.url, server.log_path = live.url, live.log
        _servers.append(server)
        yield server
    finally:
        if server in _servers:
            _servers.remove(server)
        live.stop()
        if pg:
            _drop_postgres_database(configured, pg[1])
        if env.get("REDIS_URL"):  # the server's key space (tests/conftest.py checks none is left)
            from chat.store import RedisStore

            RedisStore(env["REDIS_URL"], prefix=env["SHARED_STORE_PREFIX"]).flush()


@pytest.fixture(scope="session")
def admin_api(messenger_server: LiveServer) -> Iterator[httpx.Client]:
    """The REST API as the demo administrator (token auth)."""
    with httpx.Client(base_url=messenger_server.url, timeout=10) as client:
        response = client.post("/api/v1/auth/login", json={"username": "admin", "password": "admin-demo-pass"})
        response.raise_for_status()
        client.headers["Authorization"] = f"Token {response.json()['token']}"
        yield client


@pytest.fixture(scope="session")
def demo_inbox(messenger_server: LiveServer, admin_api: httpx.Client) -> dict:
    """The demo inbox, allowing this server's origin (the widget's iframe and the demo page)."""
    inboxes = admin_api.get("/api/v1/inboxes/").json()
    rows = inboxes["results"] if isinstance(inboxes, dict) else inboxes
    inbox = next((i for i in rows if i.get("website_token") == "demo-website-token"), rows[0])
    response = admin_api.patch(
        f"/api/v1/inboxes/{inbox['id']}/", json={"allowed_origins": [messenger_server.url, "http://localhost"]}
    )
    response.raise_for_status()
    return {**inbox, **response.json(), "website_token": "demo-website-token"}


@pytest.fixture(scope="session")
def shop_origin(messenger_server: LiveServer) -> Iterator[str]:
    """A business's own site on another origin: a tiny HTTP server whose pages carry the
    snippet (``/?token=…``). Served from loopback like the messenger, because Chromium does
    not let a public page reach 127.0.0.1."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs

    class ShopPage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            token = parse_qs(urlsplit(self.path).query).get("token", [""])[0]
            body = (f"<!doctype html><title>Shop</title><h1>Shop</h1>"
                    f'<script src="{messenger_server.url}/widget.js" data-website-token="{token}" async></script>')
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", _free_port()), ShopPage)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def shop_inbox(admin_api: httpx.Client, demo_inbox: dict, shop_origin: str) -> dict:
    """A second inbox, as a business configures it: only its own site may embed the widget."""
    response = admin_api.post("/api/v1/inboxes/", json={
        "name": "Shop", "branch": demo_inbox.get("branch"), "channel_type": "web_widget",
        "enable_auto_assignment": True, "allowed_origins": [shop_origin], "greeting": "Welcome to the shop!",
    })
    response.raise_for_status()
    inbox = response.json()
    agents = admin_api.get("/api/v1/agents/").json()
    rows = agents["results"] if isinstance(agents, dict) else agents
    agent_id = next(a["id"] for a in rows if a.get("username") == "agent")
    admin_api.post(f"/api/v1/inboxes/{inbox['id']}/members/", json={"user_ids": [agent_id]}).raise_for_status()
    return inbox


# Module scope, not session: Playwright's sync API keeps an event loop running in the main thread
# while it lives, and the asyncio tests that the same xdist worker runs next need that thread free.
@pytest.fixture(scope="module")
def browser(messenger_server: LiveServer):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def operator_state(browser, messenger_server: LiveServer, tmp_path_factory) -> str:
    """Log the demo agent in once through the login page; later contexts reuse the cookies."""
    from playwright.sync_api import expect

    context = browser.new_context(base_url=messenger_server.url)
    page = context.new_page()
    page.goto("/app/")
    expect(page).to_have_url(f"{messenger_server.url}/login/?next=/app/")
    page.get_by_label("Username").fill("agent")
    page.get_by_label("Password").fill("agent-demo-pass")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{messenger_server.url}/app/")
    path = tmp_path_factory.mktemp("state") / "operator.json"
    context.storage_state(path=str(path))
    context.close()
    return str(path)


def login(browser, server: LiveServer, username: str, password: str):
    """A new context signed in through the login page, on the panel."""
    from playwright.sync_api import expect

    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto("/login/?next=/app/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("body")).to_have_attribute("data-conn", "open", timeout=15_000)
    return context, page


@pytest.fixture
def operator_page(browser, messenger_server: LiveServer, operator_state: str, demo_inbox):
    """The operator panel at 1280×800, connected, on the "All" tab."""
    from playwright.sync_api import expect

    context = browser.new_context(base_url=messenger_server.url, storage_state=operator_state,
                                  viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.goto("/app/")
    expect(page.locator("body")).to_have_attribute("data-conn", "open", timeout=15_000)
    page.get_by_role("tab", name="All").click()
    page.errors = errors
    yield page
    context.close()
    assert not errors, errors


@pytest.fixture
def visitor_context(browser, messenger_server: LiveServer, demo_inbox):
    """A fresh visitor (own storage), at 1280×800."""
    context = browser.new_context(base_url=messenger_server.url, viewport={"width": 1280, "height": 800})
    context.add_init_script(
        "window.__messengerEvents = [];"
        "['messenger:ready', 'messenger:message'].forEach(type => window.addEventListener(type,"
        " e => window.__messengerEvents.push({type, detail: e.detail})));"
    )
    errors: list[str] = []
    context.on("page", lambda page: (page.on("pageerror", lambda exc: errors.append(str(exc))),
                                     page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))))
    context.errors = errors
    yield context
    context.close()
    assert not errors, errors


def save_screenshot(page, name: str) -> None:
    """Refresh docs/screenshots/ only when asked (UPDATE_SCREENSHOTS=1), not on every run."""
    if os.environ.get("UPDATE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.evaluate("() => document.querySelectorAll('.toast').forEach(t => t.remove())")
        page.screenshot(path=str(SCREENSHOTS / name))
