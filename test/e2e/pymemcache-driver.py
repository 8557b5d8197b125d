"""A plain memcached client for the end-to-end tests: pymemcache (Debian's python3-pymemcache) given one
address, the way most applications are configured. It reads one JSON command per line on stdin and answers
one JSON line on stdout, so the test (client-service.test.ts) drives it step by step.

Commands: {"cmd": "connect", "n": N} drops every client and makes N new ones (each opens its own TCP
connection on first use); {"cmd": "set"|"get"|"get_each"|"delete", "conn": i, ...} runs on client i:
set {"items": {key: value}} -> keys not stored; get {"keys": [...]} (one multi-get) and get_each (one get per
key) -> {key: value} of the hits; delete {"keys": [...]} -> keys that were not found.
"""
import json
import sys

from pymemcache.client.base import Client

HOST = sys.argv[1]
PORT = int(sys.argv[2])
clients = []


def run(req):
    global clients
    cmd = req["cmd"]
    if cmd == "connect":
        for c in clients:
            c.close()
        clients = [Client((HOST, PORT), connect_timeout=5, timeout=10) for _ in range(req["n"])]
        return len(clients)
    c = clients[req["conn"] % len(clients)]
    if cmd == "set":
        items = {k: v.encode() for k, v in req["items"].items()}
        return c.set_many(items, noreply=False)
    if cmd == "get":
        return {k: v.decode() for k, v in c.get_many(req["keys"]).items()}
    if cmd == "get_each":
        out = {}
        for k in req["keys"]:
            v = c.get(k)
            if v is not None:
                out[k] = v.decode()
        return out
    if cmd == "delete":
        return [k for k in req["keys"] if not c.delete(k, noreply=False)]
    raise ValueError("unknown command " + cmd)


for line in sys.stdin:
    try:
        reply = {"ok": True, "result": run(json.loads(line))}
    except Exception as e:  # reported to the test, which fails with it
        reply = {"ok": False, "error": type(e).__name__ + ": " + str(e)}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
for c in clients:
    c.close()
