"""project/asgi.py: importing the application starts nothing; serving it starts the in-process
worker once (RUN_IN_PROCESS_WORKER), so manage.py commands and tests never run the ticks."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import asyncio, threading
import project.asgi as asgi
from django.conf import settings
assert settings.RUN_IN_PROCESS_WORKER
names = lambda: sorted(t.name for t in threading.enumerate())
print("after import:", names())

async def lifespan():
    sent = []
    inbox = asyncio.Queue()
    for message in ({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}):
        inbox.put_nowait(message)
    async def send(message):
        sent.append(message["type"])
    await asgi.application({"type": "lifespan"}, inbox.get, send)
    return sent

print("lifespan:", asyncio.run(lifespan()))
print("after serving:", names())
asyncio.run(lifespan())
print("workers:", sum(name == "chat-worker" for name in names()))
"""


def run_script() -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"RUN_IN_PROCESS_WORKER": "true", "DJANGO_SETTINGS_MODULE": "project.settings",
                "PYTHONPATH": str(ROOT), "SECRET_KEY": "test"})
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_starts_no_thread_and_serving_starts_the_worker_once():
    out = run_script().splitlines()
    assert "chat-worker" not in out[0]
    assert out[1] == "lifespan: ['lifespan.startup.complete', 'lifespan.shutdown.complete']"
    assert "chat-worker" in out[2]
    assert out[3] == "workers: 1"
