"""Small helpers shared by the end-to-end test files (tests/e2e/test_*.py), on top of
tests/lib/spoketest.py."""
import time


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
