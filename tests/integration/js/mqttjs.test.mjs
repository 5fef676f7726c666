// mqttjs.test.mjs - MQTT.js (npm "mqtt" v5) against the broker under test.
//
// Run by tests/integration/test_12_mqttjs.py with MQTT_URL (mqtt://127.0.0.1:<port>)
// and MQTT_VERSION (4 = MQTT 3.1.1, 5 = MQTT 5.0) in the environment:
//   MQTT_URL=mqtt://127.0.0.1:1883 MQTT_VERSION=5 node --test
// Every wait has a deadline; clients never reconnect on their own.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';
import { VERSION, WAIT_MS, open, uniq, connectTo, collect as collectShaped, textMessage }
  from './helpers.mjs';

const URL = process.env.MQTT_URL || 'mqtt://127.0.0.1:1883';

function connect(opts = {}) {
  return connectTo(URL, 'js-', opts);
}

// Resolves with the first n messages on client (topic filter optional), payloads as text.
function collect(client, n, topic = null, ms = WAIT_MS) {
  return collectShaped(client, n, topic, ms, textMessage);
}

test('connect: CONNACK accepted, no session for a clean client', { timeout: 10000 }, async () => {
  const c = await connect({ clean: true });
  assert.equal(c.connected, true);
  await c.endAsync();
});

test('subscribe grants the requested QoS', { timeout: 10000 }, async () => {
  const c = await connect();
  const t = uniq('js-sub');
  const granted = await c.subscribeAsync({ [t + '/0']: { qos: 0 }, [t + '/1']: { qos: 1 },
                                           [t + '/2']: { qos: 2 } });
  assert.deepEqual(granted.map((g) => g.qos).sort(), [0, 1, 2]);
});

for (const qos of [0, 1, 2]) {
  test(`QoS ${qos} round trip between two clients`, { timeout: 15000 }, async () => {
    const t = uniq('js-rt');
    const sub = await connect();
    await sub.subscribeAsync(t, { qos: 2 });
    const pub = await connect();
    const waiting = collect(sub, 3);
    for (let i = 0; i < 3; i++) {
      await pub.publishAsync(t, `m${i}`, { qos });
    }
    const got = await waiting;
    assert.deepEqual(got.map((m) => m.payload), ['m0', 'm1', 'm2']);
    for (const m of got) {
      assert.equal(m.qos, qos);
      assert.equal(m.retain, false);
      assert.equal(m.topic, t);
    }
  });
}

test('QoS 1 and 2: 500 messages, none lost, in order per QoS', { timeout: 30000 }, async () => {
  const t = uniq('js-many');
  const sub = await connect();
  await sub.subscribeAsync(t, { qos: 2 });
  const pub = await connect();
  const waiting = collect(sub, 500, null, 20000);
  // MQTT.js does not apply the server's Receive Maximum, so publish in windows of 10.
  for (let i = 0; i < 500; i += 10) {
    const batch = [];
    for (let j = i; j < i + 10; j++) {
      batch.push(pub.publishAsync(t, String(j), { qos: j % 2 ? 2 : 1 }));
    }
    await Promise.all(batch);
  }
  const got = (await waiting).map((m) => Number(m.payload));
  assert.deepEqual([...got].sort((a, b) => a - b), [...Array(500).keys()]);
  // Order is promised per QoS level (MQTT 4.6), so check each level on its own.
  const odd = got.filter((x) => x % 2 === 1);
  const even = got.filter((x) => x % 2 === 0);
  assert.deepEqual(odd, [...odd].sort((a, b) => a - b));
  assert.deepEqual(even, [...even].sort((a, b) => a - b));
});

test('retained message delivered to a later subscriber with retain set', { timeout: 10000 }, async () => {
  const t = uniq('js-ret');
  const pub = await connect();
  await pub.publishAsync(t, 'kept', { qos: 1, retain: true });
  const sub = await connect();
  const waiting = collect(sub, 1);
  await sub.subscribeAsync(t, { qos: 1 });
  const [m] = await waiting;
  assert.equal(m.payload, 'kept');
  assert.equal(m.retain, true);
  // Clear it again: an empty retained payload.
  await pub.publishAsync(t, '', { qos: 1, retain: true });
});

test('will is published when the stream is destroyed', { timeout: 15000 }, async () => {
  const t = uniq('js-will');
  const watcher = await connect();
  await watcher.subscribeAsync(t, { qos: 1 });
  const victim = await connect({
    will: { topic: t, payload: Buffer.from('js client died'), qos: 1, retain: false },
  });
  const waiting = collect(watcher, 1, t, 8000);
  victim.stream.destroy();
  const [m] = await waiting;
  assert.equal(m.payload, 'js client died');
});

test('no will after a clean end()', { timeout: 10000 }, async () => {
  const t = uniq('js-nowill');
  const watcher = await connect();
  await watcher.subscribeAsync([t, t + '/sentinel'], { qos: 1 });
  const polite = await connect({ will: { topic: t, payload: Buffer.from('no'), qos: 1 } });
  await polite.endAsync();
  await new Promise((r) => setTimeout(r, 500));
  const waiting = collect(watcher, 1);
  await watcher.publishAsync(t + '/sentinel', 's', { qos: 1 });
  const [m] = await waiting;
  assert.equal(m.topic, t + '/sentinel');
});

test('persistent session: offline QoS 1 messages delivered on return', { timeout: 15000 }, async () => {
  const t = uniq('js-sess');
  const clientId = 'js-sess-' + randomUUID().slice(0, 8);
  const props = VERSION === 5 ? { properties: { sessionExpiryInterval: 300 } } : {};
  const first = await connect({ clientId, clean: VERSION === 5, ...props });
  await first.subscribeAsync(t, { qos: 1 });
  await first.endAsync();
  const pub = await connect();
  for (let i = 0; i < 3; i++) await pub.publishAsync(t, `off${i}`, { qos: 1 });
  const back = mqtt.connect(URL, { protocolVersion: VERSION, reconnectPeriod: 0, clientId,
                                   clean: false, ...props });
  open.push(back);
  const waiting = collect(back, 3);
  const connack = await new Promise((resolve, reject) => {
    back.once('connect', resolve);
    back.once('error', reject);
  });
  assert.equal(connack.sessionPresent, true);
  const got = await waiting;
  assert.deepEqual(got.map((m) => m.payload), ['off0', 'off1', 'off2']);
});

if (VERSION === 5) {
  test('v5: user properties, content type and correlation data pass through', { timeout: 10000 }, async () => {
    const t = uniq('js-props');
    const sub = await connect();
    await sub.subscribeAsync(t, { qos: 1 });
    const pub = await connect();
    const waiting = collect(sub, 1);
    await pub.publishAsync(t, 'p', { qos: 1, properties: {
      userProperties: { a: '1', b: '2' }, contentType: 'text/plain',
      correlationData: Buffer.from('corr'), responseTopic: t + '/resp' } });
    const [m] = await waiting;
    assert.deepEqual({ ...m.properties.userProperties }, { a: '1', b: '2' });
    assert.equal(m.properties.contentType, 'text/plain');
    assert.equal(m.properties.correlationData.toString(), 'corr');
    assert.equal(m.properties.responseTopic, t + '/resp');
  });

  test('v5: no local subscription option', { timeout: 10000 }, async () => {
    const t = uniq('js-nl');
    const c = await connect();
    await c.subscribeAsync(t, { qos: 1, nl: true });
    await c.subscribeAsync(t + '/s', { qos: 1 });
    const waiting = collect(c, 1);
    await c.publishAsync(t, 'mine', { qos: 1 });
    await c.publishAsync(t + '/s', 'sentinel', { qos: 1 });
    const [m] = await waiting;
    assert.equal(m.payload, 'sentinel');
  });

  test('v5: empty client id gets an assigned identifier', { timeout: 10000 }, async () => {
    const c = mqtt.connect(URL, { protocolVersion: 5, reconnectPeriod: 0, clientId: '' });
    open.push(c);
    const connack = await new Promise((resolve, reject) => {
      c.once('connect', resolve);
      c.once('error', reject);
    });
    assert.ok(connack.properties && connack.properties.assignedClientIdentifier,
              'no assignedClientIdentifier in CONNACK');
  });
}
