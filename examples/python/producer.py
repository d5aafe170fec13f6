"""A producer in Python with only a Redis client: LPUSH MessagePack envelopes to the queue's
ingress list (`homing:{<queue>}:ingress`); a worker routes each within milliseconds. The
payload is itself MessagePack, so the typed Rust worker (`--example worker`) decodes it as a
`Turn`. The envelope format is specified in lua/README.md.

    pip install redis msgpack
    python examples/python/producer.py [REDIS_URL] [QUEUE]
"""
import sys

import msgpack
import redis

url = sys.argv[1] if len(sys.argv) > 1 else "redis://127.0.0.1:6379"
queue = sys.argv[2] if len(sys.argv) > 2 else "chat"
ingress = f"homing:{{{queue}}}:ingress"

r = redis.Redis.from_url(url)
envelopes = []
for n, session in enumerate(["py-alice", "py-bob", "py-carol"]):
    payload = msgpack.packb({"text": f"hello from python {n}"})
    # `id` is optional (the worker makes one); a fixed one makes a re-run easy to spot.
    envelopes.append(msgpack.packb({"session": session, "payload": payload, "id": f"py-{n}"}))
# One LPUSH for many envelopes: the fast path.
r.lpush(ingress, *envelopes)
print(f"pushed {len(envelopes)} envelopes to {ingress}")
