// Drives a Cloud IoT v1 REST server on loopback with the official @google-cloud/iot client (REST mode)
// through the registry scenario; prints one JSON line per step. Exit code 0 only if every step succeeded.
'use strict';
const iot = require('@google-cloud/iot');
const { OAuth2Client } = require('google-auth-library');

const [port, project, location, registry, publicKeyPem] = process.argv.slice(2);
const authClient = new OAuth2Client();
authClient.setCredentials({ access_token: 'test-token', expiry_date: Date.now() + 3600e3 });
const client = new iot.v1.DeviceManagerClient({ apiEndpoint: '127.0.0.1', port: Number(port), fallback: 'rest', protocol: 'http', authClient });
const parent = `projects/${project}/locations/${location}/registries/${registry}`;
const dev = (id) => `${parent}/devices/${id}`;
const out = (step, value) => console.log(JSON.stringify({ step, value }));

(async () => {
  const [created] = await client.createDevice({ parent, device: {
    id: 'node-dev-1',
    credentials: [{ publicKey: { format: 'ES256_PEM', key: publicKeyPem }, expirationTime: { seconds: 1900000000 } }],
    metadata: { site: 'A' },
    gatewayConfig: { gatewayType: 'NON_GATEWAY' } } });
  out('create', { id: created.id, numId: String(created.numId) });
  await client.createDevice({ parent, device: { id: 'node-dev-2' } });
  await client.createDevice({ parent, device: { id: 'node-gw-1', gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' } } });
  const [got] = await client.getDevice({ name: dev('node-dev-1'), fieldMask: { paths: ['config', 'last_heartbeat_time'] } });
  out('get', { id: got.id });
  const [page1, , resp1] = await client.listDevices({ parent, pageSize: 2 }, { autoPaginate: false });
  out('list1', { ids: page1.map(d => d.id), next: resp1 && resp1.nextPageToken });
  const [page2] = await client.listDevices({ parent, pageSize: 2, pageToken: resp1.nextPageToken }, { autoPaginate: false });
  out('list2', { ids: page2.map(d => d.id) });
  const [patched] = await client.updateDevice({ device: { name: dev('node-dev-1'), blocked: true }, updateMask: { paths: ['blocked'] } });
  out('patch', { blocked: patched.blocked });
  const [cfg] = await client.modifyCloudToDeviceConfig({ name: dev('node-dev-1'), versionToUpdate: 1, binaryData: Buffer.from('{"fan":1}') });
  out('config', { version: String(cfg.version) });
  const [versions] = await client.listDeviceConfigVersions({ name: dev('node-dev-1'), numVersions: 5 });
  out('configVersions', { versions: versions.deviceConfigs.map(c => String(c.version)) });
  const [states] = await client.listDeviceStates({ name: dev('node-dev-1'), numStates: 2 });
  out('states', { count: (states.deviceStates || []).length });
  await client.sendCommandToDevice({ name: dev('node-dev-1'), binaryData: Buffer.from('reboot'), subfolder: 'ops/now' });
  out('command', { ok: true });
  await client.bindDeviceToGateway({ parent, gatewayId: 'node-gw-1', deviceId: 'node-dev-2' });
  const [bound] = await client.listDevices({ parent, gatewayListOptions: { associationsGatewayId: 'node-gw-1' } }, { autoPaginate: false });
  out('bound', { ids: bound.map(d => d.id) });
  await client.unbindDeviceFromGateway({ parent, gatewayId: 'node-gw-1', deviceId: 'node-dev-2' });
  for (const id of ['node-dev-1', 'node-dev-2', 'node-gw-1']) await client.deleteDevice({ name: dev(id) });
  try { await client.getDevice({ name: dev('node-dev-1') }); out('getDeleted', { code: 'none' }); process.exit(2); }
  catch (e) { out('getDeleted', { code: e.code }); }
  await client.close();
})().catch((e) => { console.error('FAILED', e && (e.stack || e)); process.exit(1); });
