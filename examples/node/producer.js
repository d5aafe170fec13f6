// A producer in Node.js with only a Redis client: LPUSH MessagePack envelopes to the queue's
// ingress list (`homing:{<queue>}:ingress`); a worker routes each within milliseconds. The
// payload is itself MessagePack, so the typed Rust worker (`--example worker`) decodes it as a
// `Turn`. The envelope format is specified in lua/README.md.
//
//   npm install redis @msgpack/msgpack
//   node examples/node/producer.js [REDIS_URL] [QUEUE]
const { encode } = require('@msgpack/msgpack');
const { createClient } = require('redis');

const url = process.argv[2] || 'redis://127.0.0.1:6379';
const queue = process.argv[3] || 'chat';
const ingress = `homing:{${queue}}:ingress`;

(async () => {
  const client = createClient({ url });
  await client.connect();
  const envelopes = ['js-alice', 'js-bob', 'js-carol'].map((session, n) =>
    Buffer.from(encode({ session, payload: encode({ text: `hello from node ${n}` }), id: `js-${n}` })),
  );
  // One LPUSH for many envelopes: the fast path.
  await client.lPush(ingress, envelopes);
  console.log(`pushed ${envelopes.length} envelopes to ${ingress}`);
  await client.quit();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
