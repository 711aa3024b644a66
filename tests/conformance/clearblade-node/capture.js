// Sends one request per ClearBlade call shape with the official @clearblade/iot client to a capture server on
// 127.0.0.1 (the admin getRegistryCredentials exchange and the regional webhook calls). The C# test sends the same
// calls with our client and compares them. Prints one JSON line per list call (what the client offers as the next page).
'use strict';
require('./loopback');
const { v1 } = require('@clearblade/iot');

const [port, project, location, registry, deviceId, gatewayId, publicKeyPem, site] = process.argv.slice(2);
const client = new v1.DeviceManagerClient({ credentials: {
  project, systemKey: 'admin-system-key', token: 'admin-token-secret', url: `http://127.0.0.1:${port}` } });
const parent = `projects/${project}/locations/${location}/registries/${registry}`;
const name = `${parent}/devices/${deviceId}`;
const out = (step, value) => console.log(JSON.stringify({ step, value }));

(async () => {
  await client.createDevice({ parent, device: {
    id: deviceId,
    credentials: [{ publicKey: { format: 'ES256_PEM', key: publicKeyPem }, expirationTime: '2030-01-01T00:00:00Z' }],
    metadata: { site } } });
  await client.getDevice({ name });
  await client.getDevice({ name, fieldMask: { paths: ['config', 'blocked'] } });
  const fieldMask = { paths: ['blocked', 'metadata'] };
  const [, next1] = await client.listDevices({ parent, pageSize: 2, fieldMask });
  out('list1', next1); // what the client offers as the next request: without pageSize and fieldMask
  const [, next2] = await client.listDevices({ parent, pageSize: 2, fieldMask, pageToken: next1.pageToken });
  out('list2', next2 === undefined ? null : next2); // the last page (no nextPageToken): still a next request
  await client.updateDevice({ device: { name, blocked: true }, updateMask: { paths: ['blocked'] } });
  await client.modifyCloudToDeviceConfig({ name, versionToUpdate: '1', binaryData: Buffer.from('{"fan":1}') });
  await client.listDeviceConfigVersions({ name, numVersions: 2 });
  await client.listDeviceStates({ name, numStates: 2 });
  await client.sendCommandToDevice({ name, binaryData: Buffer.from('reboot'), subfolder: 'ops' });
  await client.bindDeviceToGateway({ parent, gatewayId, deviceId });
  await client.unbindDeviceFromGateway({ parent, gatewayId, deviceId });
  await client.deleteDevice({ name });
})().catch(e => { console.error(JSON.stringify(e && e.message ? e.message : e)); process.exit(1); });
