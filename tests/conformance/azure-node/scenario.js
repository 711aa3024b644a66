// Drives the IoT Hub test double with the official Node.js SDKs (versions pinned in package-lock.json).
// Environment: HTTPS_PORT, MQTT_PORT, CA_FILE, SERVICE_CS, GROUP_KEY, ID_SCOPE, RESERVED_IDS (a JSON array of device ids). Exits 0 only when every step behaved
// as the real hub would make the SDK behave; prints one JSON line per step.
'use strict';
const fs = require('fs');
const https = require('https');
const tls = require('tls');
const { Registry, Client: ServiceClient, JobClient } = require('azure-iothub');
const { Client: DeviceClient, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const { ProvisioningDeviceClient } = require('azure-iot-provisioning-device');
const { Mqtt: ProvisioningMqtt } = require('azure-iot-provisioning-device-mqtt');
const { SymmetricKeySecurityClient } = require('azure-iot-security-symmetric-key');
const crypto = require('crypto');

const env = (name) => { const v = process.env[name]; if (!v) { throw new Error('missing ' + name); } return v; };
const httpsPort = Number(env('HTTPS_PORT'));
const mqttPort = Number(env('MQTT_PORT'));
const ca = fs.readFileSync(env('CA_FILE'), 'utf8');
const serviceCs = env('SERVICE_CS');
const step = (name, data) => console.log(JSON.stringify({ step: name, ...data }));
const fail = (message) => { console.error('FAIL: ' + message); process.exit(1); };
const withTimeout = (promise, ms, what) => Promise.race([promise, new Promise((_, r) => setTimeout(() => r(new Error('timeout: ' + what)), ms))]);

// Keeps the Host header and SAS audience of the real hub while the TCP/TLS connection goes to the loopback double.
class LoopbackAgent extends https.Agent {
  createConnection(options, cb) { return tls.connect({ ...options, host: '127.0.0.1', port: httpsPort, servername: 'localhost', ca }, cb); }
}
const agent = new LoopbackAgent({ keepAlive: false });

// The X.509 device path of azure-iot-device ignores GatewayHostName, so its TLS connection to the hub host is redirected
// here instead; the MQTT user name keeps the real hub name.
const realTlsConnect = tls.connect;
tls.connect = function (...args) {
  const o = args[0];
  if (o && typeof o === 'object' && (o.host === 'myhub.azure-devices.net' || o.hostname === 'myhub.azure-devices.net')) {
    return realTlsConnect.call(tls, { ...o, host: '127.0.0.1', hostname: '127.0.0.1', port: mqttPort, servername: 'localhost' }, ...args.slice(1));
  }
  return realTlsConnect.apply(tls, args);
};

async function main() {
  const registry = Registry.fromConnectionString(serviceCs);
  registry._restApiClient.setOptions({ http: { agent } });
  const service = ServiceClient.fromConnectionString(serviceCs);
  service._restApiClient.setOptions({ http: { agent } });

  // 1. Create a SAS device (the hub generates the keys).
  const created = (await registry.create({ deviceId: 'dev1' })).responseBody;
  if (!created.authentication.symmetricKey.primaryKey) fail('no key generated');
  step('create', { status: created.status });

  // 2. Creating it again is 409 DeviceAlreadyExists.
  try { await registry.create({ deviceId: 'dev1' }); fail('duplicate create succeeded'); } catch (e) { if (e.constructor.name !== 'DeviceAlreadyExistsError') fail('duplicate: ' + e.constructor.name); step('create-duplicate', { error: e.constructor.name }); }

  // 3. Twin tags + desired with the twin ETag.
  const twin = (await registry.getTwin('dev1')).responseBody;
  await registry.updateTwin('dev1', { tags: { site: 'a' }, properties: { desired: { fw: '2.0' } } }, twin.etag);
  step('update-twin', {});

  // 4. A stale ETag is 412.
  try { await registry.updateTwin('dev1', { tags: { site: 'b' } }, twin.etag); fail('stale etag accepted'); } catch (e) { step('update-twin-stale', { error: e.constructor.name }); }

  // 5. Query with a page size.
  const query = registry.createQuery('SELECT * FROM devices', 50);
  const page = await query.nextAsTwin();
  if (page.result.length !== 1 || page.result[0].tags.site !== 'a') fail('query result ' + JSON.stringify(page.result));
  step('query', { count: page.result.length });

  // 6. Missing device is DeviceNotFoundError.
  try { await registry.get('missing'); fail('missing device found'); } catch (e) { if (e.constructor.name !== 'DeviceNotFoundError') fail('missing: ' + e.constructor.name); step('get-missing', { error: e.constructor.name }); }

  // 7. Device connects over MQTT (GatewayHostName redirects TCP/TLS; the user name keeps the hub host).
  const deviceCs = `HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=${created.authentication.symmetricKey.primaryKey};GatewayHostName=localhost:${mqttPort}`;
  const device = DeviceClient.fromConnectionString(deviceCs, Mqtt);
  await device.setOptions({ ca });
  device.onDeviceMethod('reboot', (request, response) => response.send(200, { ok: true, got: request.payload }, () => {}));
  await withTimeout(device.open(), 15000, 'device open');
  const deviceTwin = await withTimeout(device.getTwin(), 15000, 'getTwin');
  if (deviceTwin.properties.desired.fw !== '2.0') fail('device twin desired ' + JSON.stringify(deviceTwin.properties.desired));
  step('device-twin', { fw: deviceTwin.properties.desired.fw });

  // 8. Reported properties (callback form: the promise form crashes in 1.18.4).
  await withTimeout(new Promise((resolve, reject) => deviceTwin.properties.reported.update({ firmware: { version: '1.0.0' } }, (err) => err ? reject(err) : resolve())), 15000, 'reported');
  step('reported', {});

  // 9. Desired patch pushed to the connected device.
  const desiredSeen = new Promise((resolve) => deviceTwin.on('properties.desired', (delta) => { if (delta.fw === '3.0') { resolve(delta.$version); } }));
  const twin2 = (await registry.getTwin('dev1')).responseBody;
  await registry.updateTwin('dev1', { properties: { desired: { fw: '3.0' } } }, twin2.etag);
  const version = await withTimeout(desiredSeen, 15000, 'desired patch');
  step('desired', { version });

  // 10. Telemetry with system and application properties.
  const message = new Message(JSON.stringify([{ d: 'dev1', m: 'temp', v: 21.5, t: 1700000000000 }]));
  message.messageId = 'm1';
  message.contentType = 'application/json';
  message.contentEncoding = 'utf-8';
  message.properties.add('alert', 'hi there');
  await withTimeout(device.sendEvent(message), 15000, 'sendEvent');
  step('telemetry', {});

  // 11. Direct method round trip.
  const result = await service.invokeDeviceMethod('dev1', { methodName: 'reboot', payload: { a: 1 }, responseTimeoutInSeconds: 30 });
  if (result.result.status !== 200 || result.result.payload.got.a !== 1) fail('method ' + JSON.stringify(result.result));
  step('method', { status: result.result.status });

  await device.close();

  // 12. Method to an offline device: 404103.
  try { await service.invokeDeviceMethod('dev1', { methodName: 'reboot', payload: {}, responseTimeoutInSeconds: 5 }); fail('offline method succeeded'); } catch (e) { step('method-offline', { error: e.constructor.name }); }

  // 12b. Ids with the reserved characters IoT Hub allows (- . % _ * ? ! ( ) , : = @ $ '): REST paths, CONNECT (user name,
  // client id, SAS), twin, telemetry topic and a direct method, each exactly as the SDKs build them.
  for (const id of JSON.parse(env('RESERVED_IDS'))) {
    const identity = (await registry.create({ deviceId: id })).responseBody;
    const reservedTwin = (await registry.getTwin(id)).responseBody;
    await registry.updateTwin(id, { properties: { desired: { fw: '2.0' } } }, reservedTwin.etag);
    const client = DeviceClient.fromConnectionString(`HostName=myhub.azure-devices.net;DeviceId=${id};SharedAccessKey=${identity.authentication.symmetricKey.primaryKey};GatewayHostName=localhost:${mqttPort}`, Mqtt);
    await client.setOptions({ ca });
    client.onDeviceMethod('reboot', (request, response) => response.send(200, { ok: true, got: request.payload }, () => {}));
    await withTimeout(client.open(), 15000, 'open ' + id);
    const clientTwin = await withTimeout(client.getTwin(), 15000, 'getTwin ' + id);
    if (clientTwin.properties.desired.fw !== '2.0') fail('twin of ' + id + ' ' + JSON.stringify(clientTwin.properties.desired));
    clientTwin.on('properties.desired', () => {});
    await withTimeout(new Promise((resolve, reject) => clientTwin.properties.reported.update({ firmware: { version: '1.0.0' } }, (err) => err ? reject(err) : resolve())), 15000, 'reported ' + id);
    const reservedMessage = new Message(JSON.stringify([{ d: id, m: 'temp', v: 1, t: 1700000000000 }]));
    reservedMessage.messageId = 'm-' + id;
    await withTimeout(client.sendEvent(reservedMessage), 15000, 'sendEvent ' + id);
    const reservedResult = await service.invokeDeviceMethod(id, { methodName: 'reboot', payload: { a: 2 }, responseTimeoutInSeconds: 30 });
    if (reservedResult.result.status !== 200) fail('method ' + id + ' ' + JSON.stringify(reservedResult.result));
    await client.close();
    await registry.delete(id);
    step('reserved-id', { id });
  }

  // 13. DPS with a group-derived key.
  const derived = crypto.createHmac('sha256', Buffer.from(env('GROUP_KEY'), 'base64')).update('reg-001', 'utf8').digest('base64');
  const provisioning = ProvisioningDeviceClient.create(`localhost:${mqttPort}`, env('ID_SCOPE'), new ProvisioningMqtt(), new SymmetricKeySecurityClient('reg-001', derived));
  const registration = await withTimeout(provisioning.register(), 30000, 'dps');
  if (registration.assignedHub !== 'myhub.azure-devices.net' || registration.deviceId !== 'reg-001') fail('dps ' + JSON.stringify(registration));
  step('dps', { assignedHub: registration.assignedHub });

  // 13b. DPS with an individual enrollment's own key.
  const individual = ProvisioningDeviceClient.create(`localhost:${mqttPort}`, env('ID_SCOPE'), new ProvisioningMqtt(), new SymmetricKeySecurityClient('reg-ind', env('INDIVIDUAL_KEY')));
  const individualResult = await withTimeout(individual.register(), 30000, 'dps individual');
  if (individualResult.deviceId !== 'reg-ind') fail('dps individual ' + JSON.stringify(individualResult));
  step('dps-individual', {});

  // 14. Delete.
  await registry.delete('dev1');
  step('delete', {});

  // 15. A self-signed X.509 device: registered by thumbprint, connects with its certificate and no password.
  await registry.create({ deviceId: 'cam1', authentication: { x509Thumbprint: { primaryThumbprint: env('X509_THUMBPRINT') } } });
  const cam = DeviceClient.fromConnectionString(`HostName=myhub.azure-devices.net;DeviceId=cam1;x509=true;GatewayHostName=localhost:${mqttPort}`, Mqtt);
  await cam.setOptions({ ca, cert: fs.readFileSync(env('X509_CERT_FILE'), 'utf8'), key: fs.readFileSync(env('X509_KEY_FILE'), 'utf8') });
  cam.onDeviceMethod('ping', (request, response) => response.send(200, null, () => {}));
  await withTimeout(cam.open(), 15000, 'x509 open');
  const camMessage = new Message('{"x":1}');
  camMessage.messageId = 'm2';
  await withTimeout(cam.sendEvent(camMessage), 15000, 'x509 sendEvent');
  await cam.close();
  step('x509', {});

  // 15b. A CA-authenticated device: registered with type certificateAuthority, connects with a certificate from the verified CA.
  await registry.create({ deviceId: 'cam2', authentication: { type: 'certificateAuthority' } });
  const cam2 = DeviceClient.fromConnectionString(`HostName=myhub.azure-devices.net;DeviceId=cam2;x509=true`, Mqtt);
  await cam2.setOptions({ ca, cert: fs.readFileSync(env('CA_SIGNED_CERT_FILE'), 'utf8'), key: fs.readFileSync(env('CA_SIGNED_KEY_FILE'), 'utf8') });
  cam2.onDeviceMethod('ping', (request, response) => response.send(200, null, () => {}));
  await withTimeout(cam2.open(), 15000, 'ca open');
  const cam2Message = new Message('{"x":2}');
  cam2Message.messageId = 'm3';
  await withTimeout(cam2.sendEvent(cam2Message), 15000, 'ca sendEvent');
  await cam2.close();
  step('x509-ca', {});

  // 16-20. Bulk create, statistics, scheduled jobs across a query, bulk delete.
  const bulk = await registry.addDevices([{ deviceId: 'bulk1' }, { deviceId: 'bulk2' }]);
  if (!bulk.responseBody.isSuccessful) fail('bulk ' + JSON.stringify(bulk.responseBody));
  const stats = (await registry.getRegistryStatistics()).responseBody;
  if (stats.totalDeviceCount !== 6) fail('stats ' + JSON.stringify(stats));
  step('bulk-statistics', { total: stats.totalDeviceCount });
  const jobs = JobClient.fromConnectionString(serviceCs);
  jobs._restApiClient.setOptions({ http: { agent } });
  const start = new Date('2026-01-02T03:04:05Z');
  await jobs.scheduleTwinUpdate('job-1', "deviceId IN ['bulk1']", { etag: '*', tags: { x: '1' } }, start, 600);
  await jobs.scheduleDeviceMethod('job-2', "deviceId IN ['bulk1']", { methodName: 'reboot', payload: {}, responseTimeoutInSeconds: 30 }, start, 600);
  step('jobs', {});
  const removed = await registry.removeDevices([{ deviceId: 'bulk1' }, { deviceId: 'bulk2' }], true);
  if (!removed.responseBody.isSuccessful) fail('bulk delete ' + JSON.stringify(removed.responseBody));
  step('bulk-delete', {});
}

main().then(() => process.exit(0), (e) => { console.error('FAIL: ' + (e && e.stack || e)); process.exit(1); });
