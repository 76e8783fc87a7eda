"""Small helpers shared by the end-to-end test files (tests/e2e/test_*.py), on top of
tests/lib/spoketest.py."""
import random
import time

from spoketest import Stack, port_free

# Ports of components the stack table may gain (Redis, sentinels, S3, Prometheus): kept clear too.
FUTURE_PORTS = [6379, 6380, 26379, 26380, 26381, 9000, 9099]


def header(resp, name):
    """Case-insensitive response header lookup, whatever mapping type the response carries."""
    h = resp.headers
    if hasattr(h, "get"):
        v = h.get(name)
        if v is not None:
            return v
    items = h.items() if hasattr(h, "items") else h
    for k, v in items:
        if k.lower() == name.lower():
            return v
    return None


def eventually(fn, timeout, interval=0.2):
    """True once fn() is truthy, False if it never is within timeout seconds. OSError from fn
    counts as "not yet"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if fn():
                return True
        except OSError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def ephemeral_port_floor():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def low_port_offset(attempts=200):
    """A port offset at which every stack port is free AND below the kernel's ephemeral range.

    Outgoing connections take their local port from the ephemeral range (32768-60999 here). A
    stack port inside it can be taken by some client socket while its component is stopped, and
    the component then cannot listen again when it is restarted. Tests that stop and start
    components under traffic need their ports outside that range. None when no such offset is
    free (the library then picks one)."""
    base = [p for ps in Stack(port_offset=0).ports().values() for p in ps] + FUTURE_PORTS
    room = ephemeral_port_floor() - 1 - max(base)
    if room <= 1000:
        return None
    for _ in range(attempts):
        offset = random.randrange(1000, room, 10)
        if all(port_free(p + offset) for p in base):
            return offset
    return None
