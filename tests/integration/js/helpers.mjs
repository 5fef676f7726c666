// helpers.mjs - helpers shared by the MQTT.js tests (mqttjs.test.mjs over TCP,
// mqttjs_ws.test.mjs over ws://): protocol version from the environment, unique
// topics, connecting with deadlines and no reconnect, collecting messages with a
// deadline, and closing every client at the end. Not a test file itself.

import { after } from 'node:test';
import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';

export const VERSION = Number(process.env.MQTT_VERSION || 4);
export const WAIT_MS = 5000;
// Every client a test opened; all are force-closed after the file's tests.
export const open = [];

after(async () => {
  await Promise.all(open.map((c) => c.endAsync(true).catch(() => {})));
});

export function uniq(prefix) {
  return `${prefix}/${randomUUID().slice(0, 10)}`;
}

// Connects to url with protocolVersion VERSION, no reconnect, a WAIT_MS deadline and
// a fresh client id starting with idPrefix; opts override any of these.
export async function connectTo(url, idPrefix, opts = {}) {
  const client = await mqtt.connectAsync(url, {
    protocolVersion: VERSION,
    reconnectPeriod: 0,
    connectTimeout: WAIT_MS,
    clientId: idPrefix + randomUUID().slice(0, 12),
    ...opts,
  });
  open.push(client);
  return client;
}

// Message shapes for collect(): the payload as a Buffer, or as a string with the
// MQTT 5 properties.
export const rawMessage = (t, payload, packet) =>
  ({ topic: t, payload, qos: packet.qos, retain: packet.retain });
export const textMessage = (t, payload, packet) =>
  ({ topic: t, payload: payload.toString(), qos: packet.qos, retain: packet.retain,
     properties: packet.properties || {} });

// Resolves with the first n messages on client (topic filter optional), each made
// by shape(topic, payload, packet).
export function collect(client, n, topic = null, ms = WAIT_MS, shape = rawMessage) {
  return new Promise((resolve, reject) => {
    const got = [];
    const timer = setTimeout(() => {
      client.removeListener('message', onMessage);
      reject(new Error(`timed out waiting for ${n} messages, got ${got.length}`));
    }, ms);
    function onMessage(t, payload, packet) {
      if (topic !== null && t !== topic) return;
      got.push(shape(t, payload, packet));
      if (got.length === n) {
        clearTimeout(timer);
        client.removeListener('message', onMessage);
        resolve(got);
      }
    }
    client.on('message', onMessage);
  });
}
