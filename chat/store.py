"""The shared store: small, fast state shared by every server process.

Throttles, counters with expiry, the round-robin lists and presence's sorted sets live here.
Two implementations with one contract (tests/test_store.py runs against both):

* ``RedisStore`` for production (``REDIS_URL``): every process sees the same state;
* ``MemoryStore`` for the embedded default: one process, a dict behind a lock.

Keys are plain strings; the store adds its prefix. Values are strings. ``get_store()`` returns
the one instance that settings chose.
"""
from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol, cast

from django.conf import settings


class SharedStore(Protocol):
    """What every implementation offers. Times are seconds; members and values are strings."""

    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str, *, ttl: float | None = None) -> None: ...
    def delete(self, *keys: str) -> int: ...
    def exists(self, key: str) -> bool: ...
    def expire(self, key: str, ttl: float) -> None: ...
    def acquire(self, key: str, ttl: float) -> bool:
        """Set ``key`` only if absent, expiring after ``ttl``: True for the first caller per window."""
    def zadd(self, key: str, scores: Mapping[str, float]) -> None: ...
    def zrem(self, key: str, *members: str) -> int: ...
    def zrangebyscore(self, key: str, low: float, high: float) -> list[str]: ...
    def zremrangebyscore(self, key: str, low: float, high: float) -> int: ...
    def zcard(self, key: str) -> int: ...
    def zadd_trim(self, key: str, scores: Mapping[str, float], *, below: float, ttl: float) -> None:
        """``zadd``, then drop members scored under ``below`` and expire the key after ``ttl``: one
        round trip (the presence heartbeat, the frequent path of every socket)."""
    # ``builtins.set``: in a class body ``set`` names the method above.
    def window_add(self, key: str, *, now: float, window: float, limit: int, member: str) -> bool:
        """Sliding-window log: record ``member`` at ``now`` if fewer than ``limit`` entries fall
        in ``(now - window, now]``; True if it was recorded (admitted), atomically."""
    def window_count(self, key: str, *, now: float, window: float) -> int:
        """How many entries fall in ``(now - window, now]``."""
    def lease_acquire(self, key: str, member: str, *, now: float, ttl: float, limit: int) -> bool:
        """Hold one of at most ``limit`` leases under ``key`` until ``now + ttl``, atomically.
        Expired leases do not count; a member that already holds one renews it (never refused).
        True if ``member`` holds a lease now."""
    def lease_release(self, key: str, member: str) -> None:
        """Give a lease back (a no-op if it expired)."""
    def list_items(self, key: str) -> list[str]: ...
    def list_replace(self, key: str, items: Sequence[str]) -> None:
        """Atomically replace the whole list."""
    def list_rotate_first(self, key: str, candidates: Iterable[str]) -> str | None:
        """Atomically take the first list item that is in ``candidates`` and move it to the end."""
    def keys(self, pattern: str) -> list[str]: ...
    def flush(self) -> None:
        """Remove every key of this store's prefix (tests)."""


# --- In-process implementation ----------------------------------------------------------------


class MemoryStore:
    """A dict behind a lock, with expiry. For one process (the embedded default and tests)."""

    def __init__(self, *, clock: Any = time.time) -> None:
        self._data: dict[str, Any] = {}
        self._expiry: dict[str, float] = {}
        self._lock = threading.RLock()
        self._clock = clock

    def _alive(self, key: str) -> bool:
        deadline = self._expiry.get(key)
        if deadline is not None and deadline <= self._clock():
            self._data.pop(key, None)
            self._expiry.pop(key, None)
        return key in self._data

    def _get(self, key: str, kind: type) -> Any:
        if not self._alive(key):
            return None
        value = self._data[key]
        if not isinstance(value, kind):
            raise TypeError(f"{key} holds a {type(value).__name__}, not a {kind.__name__}")
        return value

    def _put(self, key: str, value: Any) -> None:
        if value:
            self._data[key] = value
        else:  # like Redis, an empty container does not exist
            self._data.pop(key, None)
            self._expiry.pop(key, None)

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._get(key, str)

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        with self._lock:
            self._data[key] = str(value)
            if ttl is None:
                self._expiry.pop(key, None)
            else:
                self._expiry[key] = self._clock() + ttl

    def delete(self, *keys: str) -> int:
        with self._lock:
            removed = 0
            for key in keys:
                if self._alive(key):
                    removed += 1
                self._data.pop(key, None)
                self._expiry.pop(key, None)
            return removed

    def exists(self, key: str) -> bool:
        with self._lock:
            return self._alive(key)

    def expire(self, key: str, ttl: float) -> None:
        with self._lock:
            if self._alive(key):
                self._expiry[key] = self._clock() + ttl

    def acquire(self, key: str, ttl: float) -> bool:
        with self._lock:
            if self._alive(key):
                return False
            self.set(key, "1", ttl=ttl)
            return True

    def zadd(self, key: str, scores: Mapping[str, float]) -> None:
        with self._lock:
            zset = dict(self._get(key, dict) or {})
            zset.update({str(m): float(s) for m, s in scores.items()})
            self._put(key, zset)

    def zrem(self, key: str, *members: str) -> int:
        with self._lock:
            zset = dict(self._get(key, dict) or {})
            removed = sum(1 for m in members if zset.pop(m, None) is not None)
            self._put(key, zset)
            return removed

    def zrangebyscore(self, key: str, low: float, high: float) -> list[str]:
        with self._lock:
            zset = self._get(key, dict) or {}
            return [m for m, s in sorted(zset.items(), key=lambda kv: (kv[1], kv[0])) if low <= s <= high]

    def zremrangebyscore(self, key: str, low: float, high: float) -> int:
        with self._lock:
            zset = dict(self._get(key, dict) or {})
            doomed = [m for m, s in zset.items() if low <= s <= high]
            for member in doomed:
                del zset[member]
            self._put(key, zset)
            return len(doomed)

    def zcard(self, key: str) -> int:
        with self._lock:
            return len(self._get(key, dict) or {})

    def zadd_trim(self, key: str, scores: Mapping[str, float], *, below: float, ttl: float) -> None:
        with self._lock:
            self.zadd(key, scores)
            self.zremrangebyscore(key, float("-inf"), below)
            self.expire(key, ttl)

    def window_add(self, key: str, *, now: float, window: float, limit: int, member: str) -> bool:
        with self._lock:
            self.zremrangebyscore(key, float("-inf"), now - window)
            if self.zcard(key) >= limit:
                return False
            self.zadd(key, {member: now})
            self.expire(key, window)
            return True

    def window_count(self, key: str, *, now: float, window: float) -> int:
        with self._lock:
            return len(self.zrangebyscore(key, now - window + 1e-9, float("inf")))

    def lease_acquire(self, key: str, member: str, *, now: float, ttl: float, limit: int) -> bool:
        with self._lock:
            self.zremrangebyscore(key, float("-inf"), now)
            if member not in (self._get(key, dict) or {}) and self.zcard(key) >= limit:
                return False
            self.zadd(key, {member: now + ttl})
            self.expire(key, ttl)
            return True

    def lease_release(self, key: str, member: str) -> None:
        self.zrem(key, member)

    def list_items(self, key: str) -> list[str]:
        with self._lock:
            return list(self._get(key, list) or [])

    def list_replace(self, key: str, items: Sequence[str]) -> None:
        with self._lock:
            self._expiry.pop(key, None)
            self._put(key, [str(i) for i in items])

    def list_rotate_first(self, key: str, candidates: Iterable[str]) -> str | None:
        wanted = {str(c) for c in candidates}
        with self._lock:
            items = list(self._get(key, list) or [])
            for index, item in enumerate(items):
                if item in wanted:
                    items.append(items.pop(index))
                    self._put(key, items)
                    return item
            return None

    def keys(self, pattern: str) -> list[str]:
        with self._lock:
            return sorted(k for k in list(self._data) if self._alive(k) and fnmatch.fnmatchcase(k, pattern))

    def flush(self) -> None:
        with self._lock:
            self._data.clear()
            self._expiry.clear()


# --- Redis implementation ---------------------------------------------------------------------

# Walk the list once and move the first candidate to the tail, atomically (one script run).
_ROTATE_FIRST = """
local items = redis.call('LRANGE', KEYS[1], 0, -1)
local wanted = {}
for i = 1, #ARGV do wanted[ARGV[i]] = true end
for i = 1, #items do
  if wanted[items[i]] then
    redis.call('LREM', KEYS[1], 1, items[i])
    redis.call('RPUSH', KEYS[1], items[i])
    return items[i]
  end
end
return false
"""


_WINDOW_ADD = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(ARGV[2] * 1000))
return 1
"""


# Leases: a sorted set of member -> deadline. Expired ones go first; a holder renews; the key
# itself expires with the newest deadline, so nothing outlives its holders.
_LEASE_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[4]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[1] + ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(ARGV[2] * 1000))
return 1
"""


class RedisStore:
    """The shared store on Redis (redis-py, synchronous; async callers use a thread)."""

    def __init__(self, url: str, *, prefix: str = "msg", max_connections: int = 2000, socket_timeout: float = 30.0):
        import redis

        self._prefix = f"{prefix}:"
        self._redis = redis.Redis.from_url(
            url,
            decode_responses=True,
            max_connections=max_connections,
            socket_timeout=socket_timeout,
            socket_connect_timeout=5,
            health_check_interval=30,
        )
        self._rotate_first = self._redis.register_script(_ROTATE_FIRST)
        self._window_add = self._redis.register_script(_WINDOW_ADD)
        self._lease_acquire = self._redis.register_script(_LEASE_ACQUIRE)

    # decode_responses=True: every reply is str, which redis-py's types cannot express (they
    # say ``bytes | str``); the casts below say so, they convert nothing.

    def _k(self, key: str) -> str:
        return self._prefix + key

    @property
    def client(self) -> Any:
        return self._redis

    def get(self, key: str) -> str | None:
        return cast("str | None", self._redis.get(self._k(key)))

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        if ttl is None:
            self._redis.set(self._k(key), value)
        else:
            self._redis.set(self._k(key), value, px=max(1, int(ttl * 1000)))

    def delete(self, *keys: str) -> int:
        return self._redis.delete(*(self._k(k) for k in keys)) if keys else 0

    def exists(self, key: str) -> bool:
        return bool(self._redis.exists(self._k(key)))

    def expire(self, key: str, ttl: float) -> None:
        self._redis.pexpire(self._k(key), max(1, int(ttl * 1000)))

    def acquire(self, key: str, ttl: float) -> bool:
        return bool(self._redis.set(self._k(key), "1", nx=True, px=max(1, int(ttl * 1000))))

    def zadd(self, key: str, scores: Mapping[str, float]) -> None:
        if scores:
            self._redis.zadd(self._k(key), {str(m): float(s) for m, s in scores.items()})

    def zrem(self, key: str, *members: str) -> int:
        return self._redis.zrem(self._k(key), *members) if members else 0

    def zrangebyscore(self, key: str, low: float, high: float) -> list[str]:
        return cast("list[str]", list(self._redis.zrangebyscore(self._k(key), low, high)))

    def zremrangebyscore(self, key: str, low: float, high: float) -> int:
        return int(self._redis.zremrangebyscore(self._k(key), low, high))

    def zcard(self, key: str) -> int:
        return int(self._redis.zcard(self._k(key)))

    def zadd_trim(self, key: str, scores: Mapping[str, float], *, below: float, ttl: float) -> None:
        name = self._k(key)
        pipe = self._redis.pipeline(transaction=True)
        pipe.zadd(name, {str(m): float(s) for m, s in scores.items()})
        pipe.zremrangebyscore(name, "-inf", below)
        pipe.pexpire(name, max(1, int(ttl * 1000)))
        pipe.execute()

    def window_add(self, key: str, *, now: float, window: float, limit: int, member: str) -> bool:
        return bool(self._window_add(keys=[self._k(key)], args=[repr(float(now)), repr(float(window)), int(limit), member]))

    def window_count(self, key: str, *, now: float, window: float) -> int:
        return int(self._redis.zcount(self._k(key), f"({now - window!r}", "+inf"))

    def lease_acquire(self, key: str, member: str, *, now: float, ttl: float, limit: int) -> bool:
        args: list[str | int] = [repr(float(now)), repr(float(ttl)), int(limit), member]
        return bool(self._lease_acquire(keys=[self._k(key)], args=args))

    def lease_release(self, key: str, member: str) -> None:
        self._redis.zrem(self._k(key), member)

    def list_items(self, key: str) -> list[str]:
        return cast("list[str]", list(self._redis.lrange(self._k(key), 0, -1)))

    def list_replace(self, key: str, items: Sequence[str]) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(self._k(key))
        if items:
            pipe.rpush(self._k(key), *[str(i) for i in items])
        pipe.execute()

    def list_rotate_first(self, key: str, candidates: Iterable[str]) -> str | None:
        wanted = [str(c) for c in candidates]
        if not wanted:
            return None
        result = self._rotate_first(keys=[self._k(key)], args=wanted)
        return result or None

    def keys(self, pattern: str) -> list[str]:
        n = len(self._prefix)
        return sorted(k[n:] for k in self._redis.scan_iter(match=self._k(pattern), count=1000))

    def flush(self) -> None:
        batch = list(self._redis.scan_iter(match=self._prefix + "*", count=1000))
        for start in range(0, len(batch), 500):
            self._redis.delete(*batch[start : start + 500])


@lru_cache(maxsize=1)
def get_store() -> SharedStore:
    """The process's store, as settings.SHARED_STORE chose it."""
    config = settings.SHARED_STORE
    if config["BACKEND"] == "redis":
        return RedisStore(
            config["URL"],
            prefix=config.get("PREFIX", "msg"),
            max_connections=settings.REDIS_MAX_CONNECTIONS,
            socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
        )
    return MemoryStore()
