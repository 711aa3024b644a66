// Drives the ClearBlade scheme of the Cloud IoT registry double on 127.0.0.1 with the official @clearblade/iot client:
// credentials exchange, register, get, list (two pages), modify config, read config versions and states, delete.
// Prints one JSON line per step; exit code 0 only if every step succeeded.
'use strict';
require('./loopback');
const { v1 } = require('@clearblade/iot');

const [port, project, location, registry, adminKey, adminToken, publicKeyPem] = process.argv.slice(2);
const client = new v1.DeviceManagerClient({ credentials: { project, systemKey: adminKey, token: adminToken, url: `http://127.0.0.1:${port}` } });
const parent = `projects/${project}/locations/${location}/registries/${registry}`;
const dev = (id) => `${parent}/devices/${id}`;
const out = (step, value) => console.log(JSON.stringify({ step, value }));

(async () => {
  const [created] = await client.createDevice({ parent, device: {
    id: 'cb-dev-1',
    credentials: [{ publicKey: { format: 'ES256_PEM', key: publicKeyPem }, expirationTime: '2030-01-01T00:00:00Z' }],
    metadata: { site: 'A' } } });
  out('create', { id: created.id, numId: String(created.numId) });
  await client.createDevice({ parent, device: { id: 'cb-dev-2' } });
  await client.createDevice({ parent, device: { id: 'cb-dev-3' } });
  const [got] = await client.getDevice({ name: dev('cb-dev-1') });
  out('get', { id: got.id, site: got.metadata.site, keys: got.credentials.length });
  const [page1, next1] = await client.listDevices({ parent, pageSize: 2 });
  out('list1', { ids: page1.map(d => d.id), token: next1.pageToken });
  const [page2] = await client.listDevices({ parent, pageSize: 2, pageToken: next1.pageToken });
  out('list2', { ids: page2.map(d => d.id) });
  const [patched] = await client.updateDevice({ device: { name: dev('cb-dev-1'), blocked: true }, updateMask: { paths: ['blocked'] } });
  out('patch', { blocked: patched.blocked });
  const [cfg] = await client.modifyCloudToDeviceConfig({ name: dev('cb-dev-1'), versionToUpdate: '1', binaryData: Buffer.from('{"fan":1}') });
  out('config', { version: String(cfg.version) });
  const [versions] = await client.listDeviceConfigVersions({ name: dev('cb-dev-1'), numVersions: 5 });
  out('configVersions', { versions: versions.deviceConfigs.map(c => String(c.version)) });
  const [states] = await client.listDeviceStates({ name: dev('cb-dev-1'), numStates: 2 });
  out('states', { count: (states.deviceStates || []).length, data: (states.deviceStates || []).map(s => Buffer.from(s.binaryData, 'base64').toString()) });
  await client.deleteDevice({ name: dev('cb-dev-2') });
  out('delete', { ok: true });
  try {
    await client.getDevice({ name: dev('cb-dev-2') });
    out('getDeleted', { found: true });
  } catch (e) {
    out('getDeleted', { found: false, status: e && e.error && e.error.status });
  }
})().catch(e => { console.error(JSON.stringify(e)); process.exit(1); });
