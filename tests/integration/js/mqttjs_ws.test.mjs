// mqttjs_ws.test.mjs - MQTT.js (npm "mqtt" v5) over ws:// against the broker under test.
//
// Run by tests/integration/test_20_websocket.py with, in the environment,
//   MQTT_WS_URL   ws://127.0.0.1:<ws port>/mqtt
//   MQTT_TCP_URL  mqtt://127.0.0.1:<tcp port>   (the same broker's TCP listener)
//   MQTT_VERSION  4 (MQTT 3.1.1) or 5 (MQTT 5.0)
// e.g. MQTT_WS_URL=ws://127.0.0.1:8080/mqtt MQTT_TCP_URL=mqtt://127.0.0.1:1883 \
//      MQTT_VERSION=5 node --test mqttjs_ws.test.mjs
// MQTT.js offers the WebSocket subprotocol "mqtt" (the ws module fails the
// connection if the server does not echo it). Every wait has a deadline; clients
// never reconnect on their own.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID, randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { VERSION, WAIT_MS, open, uniq, connectTo, collect } from './helpers.mjs';

const WS_URL = process.env.MQTT_WS_URL || 'ws://127.0.0.1:8080/mqtt';
const TCP_URL = process.env.MQTT_TCP_URL || 'mqtt://127.0.0.1:1883';

function connect(opts = {}, url = WS_URL) {
  return connectTo(url, 'jsws-', opts);
}

test(`connect over ws:// with protocolVersion ${VERSION}`, { timeout: 10000 }, async () => {
  const c = mqtt.connect(WS_URL, { protocolVersion: VERSION, reconnectPeriod: 0,
                                   connectTimeout: WAIT_MS, clean: true,
                                   clientId: 'jsws-c-' + randomUUID().slice(0, 8) });
  open.push(c);
  const connack = await new Promise((resolve, reject) => {
    c.once('connect', resolve);
    c.once('error', reject);
    c.once('close', () => reject(new Error('closed before CONNACK')));
  });
  assert.equal(c.connected, true);
  assert.equal(connack.returnCode ?? connack.reasonCode ?? 0, 0);
  assert.equal(connack.sessionPresent, false);
  await c.endAsync();
  assert.equal(c.connected, false);
});

test('subscribe over ws:// grants the requested QoS', { timeout: 10000 }, async () => {
  const c = await connect();
  const t = uniq('jsws-sub');
  const granted = await c.subscribeAsync({ [t + '/0']: { qos: 0 }, [t + '/1']: { qos: 1 },
                                           [t + '/2']: { qos: 2 } });
  assert.deepEqual(granted.map((g) => g.qos).sort(), [0, 1, 2]);
});

for (const qos of [0, 1, 2]) {
  test(`QoS ${qos} round trip between two ws:// clients`, { timeout: 15000 }, async () => {
    const t = uniq('jsws-rt');
    const sub = await connect();
    await sub.subscribeAsync(t, { qos: 2 });
    const pub = await connect();
    const waiting = collect(sub, 3);
    for (let i = 0; i < 3; i++) await pub.publishAsync(t, `m${i}`, { qos });
    const got = await waiting;
    assert.deepEqual(got.map((m) => m.payload.toString()), ['m0', 'm1', 'm2']);
    for (const m of got) {
      assert.equal(m.qos, qos);
      assert.equal(m.retain, false);
      assert.equal(m.topic, t);
    }
  });
}

test('QoS 1 both ways between a ws:// and a TCP client', { timeout: 15000 }, async () => {
  const t = uniq('jsws-x');
  const ws = await connect();
  const tcp = await connect({}, TCP_URL);
  await ws.subscribeAsync(t + '/to-ws', { qos: 1 });
  await tcp.subscribeAsync(t + '/to-tcp', { qos: 1 });
  const wsGot = collect(ws, 1);
  const tcpGot = collect(tcp, 1);
  await tcp.publishAsync(t + '/to-ws', 'from tcp', { qos: 1 });
  await ws.publishAsync(t + '/to-tcp', 'from ws', { qos: 1 });
  const [a] = await wsGot;
  const [b] = await tcpGot;
  assert.equal(a.payload.toString(), 'from tcp');
  assert.equal(a.qos, 1);
  assert.equal(b.payload.toString(), 'from ws');
  assert.equal(b.qos, 1);
});

test('retained over TCP reaches a later ws:// subscriber with retain set', { timeout: 10000 }, async () => {
  const t = uniq('jsws-ret');
  const tcp = await connect({}, TCP_URL);
  await tcp.publishAsync(t, 'kept', { qos: 1, retain: true });
  const ws = await connect();
  const waiting = collect(ws, 1);
  await ws.subscribeAsync(t, { qos: 1 });
  const [m] = await waiting;
  assert.equal(m.payload.toString(), 'kept');
  assert.equal(m.retain, true);
  await tcp.publishAsync(t, '', { qos: 1, retain: true });
});

test('200 KB QoS 1 message over ws:// arrives intact', { timeout: 15000 }, async () => {
  const t = uniq('jsws-big');
  const sub = await connect();
  await sub.subscribeAsync(t, { qos: 1 });
  const pub = await connect();
  const body = randomBytes(200 * 1024);
  const waiting = collect(sub, 1, t, 10000);
  await pub.publishAsync(t, body, { qos: 1 });
  const [m] = await waiting;
  assert.equal(m.payload.length, body.length);
  assert.ok(Buffer.compare(m.payload, body) === 0, 'payload differs');
});

test('will is published when the ws:// stream is destroyed', { timeout: 15000 }, async () => {
  const t = uniq('jsws-will');
  // Watch over TCP, so the will crosses transports.
  const watcher = await connect({}, TCP_URL);
  await watcher.subscribeAsync(t, { qos: 1 });
  const victim = await connect({
    will: { topic: t, payload: Buffer.from('ws client died'), qos: 1, retain: false },
  });
  const waiting = collect(watcher, 1, t, 8000);
  victim.stream.destroy();
  const [m] = await waiting;
  assert.equal(m.payload.toString(), 'ws client died');
  assert.equal(m.qos, 1);
});

test('no will after a clean end() over ws://', { timeout: 10000 }, async () => {
  const t = uniq('jsws-nowill');
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
