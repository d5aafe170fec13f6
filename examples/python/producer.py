"""A producer in Python with only a Redis client: LPUSH MessagePack envelopes to the queue's
ingress list (`homing:{<queue>}:ingress`); a worker routes each within milliseconds. On a queue
of several partitions each session goes to its own partition's list: partition
CRC16(session) mod partitions (`binascii.crc_hqx` is that CRC16), read from partition 0's meta. The
payload is itself MessagePack, so the typed Rust worker (`--example worker`) decodes it as a
`Turn`. The envelope format is specified in lua/README.md.

    pip install redis msgpack
    python examples/python/producer.py [REDIS_URL] [QUEUE]
"""
import binascii
import sys

import msgpack
import redis

url = sys.argv[1] if len(sys.argv) > 1 else "redis://127.0.0.1:6379"
queue = sys.argv[2] if len(sys.argv) > 2 else "chat"


def base(k):
    """Partition k's key base: partition 0 is the queue's own hash tag."""
    return f"homing:{{{queue}}}" if k == 0 else f"homing:{{{queue}#{k}}}"


r = redis.Redis.from_url(url)
partitions = int(r.hget(base(0) + ":meta", "partitions") or 1)
lists = {}
for n, session in enumerate(["py-alice", "py-bob", "py-carol"]):
    payload = msgpack.packb({"text": f"hello from python {n}"})
    # `id` is optional (the worker makes one); a fixed one makes a re-run easy to spot.
    envelope = msgpack.packb({"session": session, "payload": payload, "id": f"py-{n}"})
    k = binascii.crc_hqx(session.encode(), 0) % partitions
    lists.setdefault(base(k) + ":ingress", []).append(envelope)
# One LPUSH for many envelopes (per partition): the fast path.
for ingress, envelopes in lists.items():
    r.lpush(ingress, *envelopes)
    print(f"pushed {len(envelopes)} envelopes to {ingress}")
