// A producer in Node.js with only a Redis client: LPUSH MessagePack envelopes to the queue's
// ingress list (`homing:{<queue>}:ingress`); a worker routes each within milliseconds. On a queue
// of several partitions each session goes to its own partition's list: partition
// CRC16(session) mod partitions, read from partition 0's meta. The
// payload is itself MessagePack, so the typed Rust worker (`--example worker`) decodes it as a
// `Turn`. The envelope format is specified in lua/README.md.
//
//   npm install redis @msgpack/msgpack
//   node examples/node/producer.js [REDIS_URL] [QUEUE]
const { encode } = require('@msgpack/msgpack');
const { createClient } = require('redis');

const url = process.argv[2] || 'redis://127.0.0.1:6379';
const queue = process.argv[3] || 'chat';
// Partition k's key base: partition 0 is the queue's own hash tag.
const base = (k) => (k === 0 ? `homing:{${queue}}` : `homing:{${queue}#${k}}`);

// CRC16-XMODEM, the hash Redis Cluster uses for key slots ("123456789" gives 12739).
function crc16(bytes) {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

(async () => {
  const client = createClient({ url });
  await client.connect();
  const partitions = Number((await client.hGet(`${base(0)}:meta`, 'partitions')) || 1);
  const lists = new Map();
  ['js-alice', 'js-bob', 'js-carol'].forEach((session, n) => {
    const envelope = Buffer.from(encode({ session, payload: encode({ text: `hello from node ${n}` }), id: `js-${n}` }));
    const ingress = `${base(crc16(Buffer.from(session)) % partitions)}:ingress`;
    lists.set(ingress, [...(lists.get(ingress) || []), envelope]);
  });
  // One LPUSH for many envelopes (per partition): the fast path.
  for (const [ingress, envelopes] of lists) {
    await client.lPush(ingress, envelopes);
    console.log(`pushed ${envelopes.length} envelopes to ${ingress}`);
  }
  await client.quit();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
