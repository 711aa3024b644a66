// Drives the official AWS IoT Device SDK for JavaScript (aws-iot-device-sdk) and the official AWS SDK for JavaScript's
// data-plane client (@aws-sdk/client-iot-data-plane), both pinned in package-lock.json, against the AWS IoT MQTT double
// backed by moto (IoTMastery.Sdk.CloudDoubles.Aws): a certificate that moto holds INACTIVE is refused, an ACTIVE one
// attached to the thing connects, a fleet-side UpdateThingShadow made directly against moto reaches the device as a
// delta, and the device's reported update is read back from moto.
// Usage: node device-sdk-moto-scenario.js <port> <caPath> <certPath> <keyPath> <thing> <inactiveThing> <inactiveCertPath> <inactiveKeyPath> <motoEndpoint>
// Prints one JSON line per observed event and exits 0; any failure exits 1 with the reason on stderr.
'use strict';
const awsIot = require('aws-iot-device-sdk');
const { IoTDataPlaneClient, UpdateThingShadowCommand, GetThingShadowCommand } = require('@aws-sdk/client-iot-data-plane');

const [port, caPath, certPath, keyPath, thing, inactiveThing, inactiveCertPath, inactiveKeyPath, motoEndpoint] = process.argv.slice(2);
const base = { host: 'localhost', port: Number(port), caPath, protocol: 'mqtts', keepalive: 30, reconnectPeriod: 0 };
const out = (event) => process.stdout.write(JSON.stringify(event) + '\n');
const fail = (why) => { process.stderr.write(String(why && why.stack || why) + '\n'); process.exit(1); };
setTimeout(() => fail('scenario timed out after 60 s'), 60000).unref();
const within = (promise, ms, what) => Promise.race([promise, new Promise((_, j) => setTimeout(() => j(new Error('waited ' + ms / 1000 + ' s for ' + what)), ms))]);
const data = new IoTDataPlaneClient({ endpoint: motoEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
const decode = (payload) => JSON.parse(Buffer.from(payload).toString('utf8'));

// The INACTIVE certificate: the SDK sees a refused CONNACK (an 'error' with the MQTT return code), never 'connect'.
async function refusedScenario() {
  const device = awsIot.device({ ...base, clientId: inactiveThing, certPath: inactiveCertPath, keyPath: inactiveKeyPath });
  const outcome = await within(new Promise((resolve) => {
    device.once('connect', () => resolve({ event: 'connected-inactive' }));
    device.once('error', (err) => resolve({ event: 'refused', message: err.message, code: err.code }));
  }), 15000, 'the inactive certificate to be refused');
  out(outcome);
  device.end(true);
}

async function shadowScenario() {
  const shadows = awsIot.thingShadow({ ...base, clientId: thing, certPath, keyPath });
  shadows.on('error', fail);
  const deltas = [];
  let onDelta = null;
  shadows.on('delta', (name, doc) => { out({ event: 'delta', doc }); deltas.push(doc); if (onDelta) onDelta(); });
  const statuses = [];
  let onStatus = null;
  shadows.on('status', (name, stat, clientToken, doc) => { out({ event: 'status', stat, clientToken, doc }); statuses.push({ stat, clientToken, doc }); if (onStatus) onStatus(); });
  await within(new Promise((r) => shadows.once('connect', r)), 15000, 'connect with the active certificate');
  out({ event: 'connected' });
  await within(new Promise((r, j) => shadows.register(thing, {}, (err) => (err ? j(err) : r()))), 15000, 'shadow subscriptions');

  // Fleet side, straight to moto with the official data-plane client: no MQTT involved.
  const updated = await data.send(new UpdateThingShadowCommand({ thingName: thing, payload: Buffer.from(JSON.stringify({ state: { desired: { speed: 7 } } })) }));
  out({ event: 'fleet-update', doc: decode(updated.payload) });
  await within(new Promise((r) => { onDelta = r; if (deltas.length) r(); }), 15000, 'the delta of the fleet-side update');

  // Device side: report over MQTT, then read moto's shadow with the official client.
  const token = shadows.update(thing, { state: { reported: { speed: 7 } } });
  await within(new Promise((r) => { onStatus = () => statuses.some((s) => s.clientToken === token) && r(); onStatus(); }), 15000, 'the reported update to be accepted');
  const read = await data.send(new GetThingShadowCommand({ thingName: thing }));
  out({ event: 'fleet-read', doc: decode(read.payload) });
  await new Promise((r) => shadows.end(false, r));
}

// A named shadow, with the SDK's plain device client (thingShadow handles the classic shadow only): a fleet-side update
// of shadow 'config' reaches the subscriber as update/delta and update/documents.
async function namedShadowScenario() {
  const device = awsIot.device({ ...base, clientId: thing, certPath, keyPath });
  device.on('error', fail);
  const named = `$aws/things/${thing}/shadow/name/config/update`;
  const seen = [];
  let onMessage = null;
  device.on('message', (topic, payload) => { const e = { event: 'named', topic, doc: JSON.parse(payload.toString()) }; out(e); seen.push(e); if (onMessage) onMessage(); });
  await within(new Promise((r) => device.once('connect', r)), 15000, 'connect for the named shadow');
  await new Promise((r, j) => device.subscribe([named + '/delta', named + '/documents'], { qos: 1 }, (err) => (err ? j(err) : r())));
  const updated = await data.send(new UpdateThingShadowCommand({ thingName: thing, shadowName: 'config', payload: Buffer.from(JSON.stringify({ state: { desired: { interval: 60 } } })) }));
  out({ event: 'fleet-update-named', doc: decode(updated.payload) });
  const both = () => seen.some((e) => e.topic.endsWith('/delta')) && seen.some((e) => e.topic.endsWith('/documents'));
  await within(new Promise((r) => { onMessage = () => both() && r(); onMessage(); }), 15000, 'the named shadow delta and documents');
  await new Promise((r) => device.end(false, r));
}

(async () => {
  await refusedScenario();
  await shadowScenario();
  await namedShadowScenario();
  out({ event: 'done' });
  process.exit(0);
})().catch(fail);
