#!/usr/bin/python3
"""Round-trips values through Debian's python3-pymemcache and prints one JSON object with what happened.

Usage: pymemcache_roundtrip.py PORT KEY_PREFIX SIZES_JSON TOO_LARGE_SIZE
Each value is len bytes that cycle through all 256 byte values, so that CR, LF and NUL appear inside it.
"""
import json
import sys

from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheError


def pattern(size: int) -> bytes:
    return bytes((i * 131 + size) % 256 for i in range(size))


def main() -> None:
    port, prefix, sizes, too_large = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
    client = Client(("127.0.0.1", port), connect_timeout=5, timeout=10, default_noreply=False)
    results = []
    for size in sizes:
        key = f"{prefix}{size}"
        value = pattern(size)
        entry = {"size": size}
        try:
            entry["set"] = client.set(key, value, expire=0, noreply=False)
            got = client.get(key)
            entry["get_equal"] = got == value
            entry["get_len"] = None if got is None else len(got)
            got_many = client.get_many([key, f"{key}-missing"])
            entry["get_many_equal"] = got_many == {key: value}
            fetched, cas = client.gets(key)
            replacement = pattern(size)[::-1]
            entry["cas_stored"] = client.cas(key, replacement, cas, noreply=False)
            entry["cas_stale"] = client.cas(key, value, cas, noreply=False)
            entry["after_cas_equal"] = client.get(key) == replacement
            entry["delete"] = client.delete(key, noreply=False)
            entry["after_delete"] = client.get(key)
        except MemcacheError as err:  # reported, and the test fails on the missing fields
            entry["error"] = f"{type(err).__name__}: {err}"
        results.append(entry)
    too_large_result = {"size": too_large}
    try:
        too_large_result["set"] = client.set(f"{prefix}too-large", b"x" * too_large, noreply=False)
    except MemcacheError as err:
        too_large_result["error"] = f"{type(err).__name__}: {err}"
    # The connection must still work after the server swallowed the rejected data block.
    too_large_result["then_version"] = client.version().decode("ascii", "replace") != ""
    client.close()
    print(json.dumps({"results": results, "too_large": too_large_result}))


if __name__ == "__main__":
    main()
