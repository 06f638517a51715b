"""The shared store's contract, run against both implementations."""
from __future__ import annotations

import os
import threading
import uuid
from collections import Counter

import pytest
from django.conf import settings

from chat.store import MemoryStore, RedisStore


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _redis_store() -> RedisStore:
    return RedisStore(os.environ["REDIS_URL"], prefix=f"storetest-{uuid.uuid4().hex[:8]}")


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request):
    if request.param == "memory":
        yield MemoryStore()
        return
    s = _redis_store()
    yield s
    s.flush()


def test_get_set_delete(store):
    assert store.get("k") is None
    store.set("k", "v")
    assert store.get("k") == "v"
    assert store.exists("k")
    assert store.delete("k", "missing") == 1
    assert store.get("k") is None


def test_acquire_is_true_once_per_window(store):
    assert store.acquire("throttle", 30) is True
    assert store.acquire("throttle", 30) is False
    store.delete("throttle")
    assert store.acquire("throttle", 30) is True


def test_sorted_set_ranges(store):
    store.zadd("z", {"a": 1, "b": 2, "c": 3})
    assert store.zrangebyscore("z", 2, 10) == ["b", "c"]
    assert store.zcard("z") == 3
    assert store.zremrangebyscore("z", 0, 1) == 1
    assert store.zrem("z", "b", "nope") == 1
    assert store.zrangebyscore("z", float("-inf"), float("inf")) == ["c"]
    store.zadd("z", {"c": 9})
    assert store.zrangebyscore("z", 5, 10) == ["c"]


def test_zadd_trim_adds_drops_the_stale_and_expires_in_one_call(store):
    store.zadd("z", {"old": 1, "edge": 5, "fresh": 8})
    store.zadd_trim("z", {"new": 10}, below=5, ttl=60)
    assert store.zrangebyscore("z", float("-inf"), float("inf")) == ["fresh", "new"]
    if isinstance(store, RedisStore):
        assert 0 < store.client.pttl(store._k("z")) <= 60_000


def test_zadd_trim_sets_the_expiry():
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    store.zadd_trim("z", {"a": 1}, below=0, ttl=60)
    clock.now += 59
    assert store.exists("z")
    clock.now += 2
    assert not store.exists("z")


def test_list_replace_and_rotate_first(store):
    store.list_replace("rr", ["1", "2", "3"])
    assert store.list_rotate_first("rr", {"2", "3"}) == "2"
    assert store.list_items("rr") == ["1", "3", "2"]
    assert store.list_rotate_first("rr", {"9"}) is None
    assert store.list_rotate_first("rr", []) is None
    store.list_replace("rr", [])
    assert store.list_items("rr") == []


def test_sliding_window_admits_up_to_limit(store):
    now = 5000.0
    admitted = [store.window_add("w", now=now + i * 0.1, window=60, limit=3, member=f"m{i}") for i in range(5)]
    assert admitted == [True, True, True, False, False]
    assert store.window_count("w", now=now + 1, window=60) == 3
    # Once the first entries leave the window, room opens again.
    assert store.window_add("w", now=now + 60.05, window=60, limit=3, member="late") is True
    assert store.window_count("w", now=now + 60.05, window=60) == 3


def test_leases_are_bounded_renewable_and_expire(store):
    now = 7000.0
    acquired = [store.lease_acquire("l", f"s{i}", now=now, ttl=30, limit=2) for i in range(3)]
    assert acquired == [True, True, False]
    assert store.lease_acquire("l", "s0", now=now + 20, ttl=30, limit=2) is True  # a holder renews
    store.lease_release("l", "s1")
    assert store.lease_acquire("l", "s2", now=now + 21, ttl=30, limit=2) is True
    assert store.lease_acquire("l", "s3", now=now + 22, ttl=30, limit=2) is False
    # s2 stops renewing (its process died): its lease ends at now + 51; s0's at now + 50.
    assert store.lease_acquire("l", "s3", now=now + 51.5, ttl=30, limit=2) is True
    store.lease_release("l", "never-held")


def test_leases_are_atomic_under_threads(store):
    granted: list[str] = []
    lock = threading.Lock()

    def claim(index: int) -> None:
        if store.lease_acquire("l", f"m{index}", now=9000.0, ttl=60, limit=5):
            with lock:
                granted.append(f"m{index}")

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 5


def test_keys_and_flush_only_touch_own_prefix(store):
    store.set("presence:1", "x")
    store.set("other", "y")
    assert store.keys("presence:*") == ["presence:1"]
    store.flush()
    assert store.get("presence:1") is None and store.get("other") is None


def test_rotation_is_atomic_under_threads(store):
    members = [str(i) for i in range(5)]
    store.list_replace("rr", members)
    picks: list[str] = []
    lock = threading.Lock()

    def pick_many():
        for _ in range(40):
            chosen = store.list_rotate_first("rr", members)
            with lock:
                picks.append(chosen)

    threads = [threading.Thread(target=pick_many) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 200 picks over 5 members: a fair, atomic rotation gives each exactly 40.
    assert Counter(picks) == dict.fromkeys(members, 40)
    assert sorted(store.list_items("rr")) == members


def test_memory_store_expiry_follows_its_clock():
    clock = FakeClock()
    s = MemoryStore(clock=clock)
    s.set("k", "v", ttl=10)
    assert s.acquire("t", 15) is True
    clock.now += 9.9
    assert s.get("k") == "v" and s.acquire("t", 15) is False
    clock.now += 5.2
    assert s.get("k") is None and s.acquire("t", 15) is True


@pytest.mark.redis
def test_redis_store_expiry_is_set():
    s = _redis_store()
    try:
        s.set("k", "v", ttl=10)
        assert 0 < s.client.pttl(s._k("k")) <= 10_000
        s.window_add("w", now=1.0, window=60, limit=5, member="m")
        assert 0 < s.client.pttl(s._k("w")) <= 60_000
        s.lease_acquire("l", "m", now=1.0, ttl=30, limit=1)
        assert 0 < s.client.pttl(s._k("l")) <= 30_000
    finally:
        s.flush()


def test_settings_choose_the_store_once():
    from chat.store import get_store

    expected = RedisStore if settings.REDIS_URL else MemoryStore
    first = get_store()
    assert isinstance(first, expected)
    assert get_store() is first  # chosen once: every later call gets the same store
