// Sends one request per URL shape of the Cloud IoT v1 device manager and Pub/Sub v1 with the official
// GAPIC clients (REST mode) to a loopback capture server, using ids that need escaping in a URL path
// ('%', '+', '~', '.'). The captured request lines are the reference for how each path segment is escaped.
// Exit 0 when every call completed.
'use strict';
const iot = require('@google-cloud/iot');
const { v1 } = require('@google-cloud/pubsub');
const { OAuth2Client } = require('google-auth-library');

const [port, project, location, registry, deviceId, gatewayId, topicId, subscriptionId] = process.argv.slice(2);
const authClient = new OAuth2Client();
authClient.setCredentials({ access_token: 'test-token', expiry_date: Date.now() + 3600e3 });
const common = { apiEndpoint: '127.0.0.1', port: Number(port), fallback: 'rest', protocol: 'http', authClient };
const parent = `projects/${project}/locations/${location}/registries/${registry}`;
const name = `${parent}/devices/${deviceId}`;
const topic = `projects/${project}/topics/${topicId}`;
const subscription = `projects/${project}/subscriptions/${subscriptionId}`;

(async () => {
  const devices = new iot.v1.DeviceManagerClient(common);
  await devices.createDevice({ parent, device: { id: deviceId } });
  await devices.getDevice({ name });
  await devices.listDevices({ parent, pageSize: 2 }, { autoPaginate: false });
  await devices.updateDevice({ device: { name, blocked: true }, updateMask: { paths: ['blocked'] } });
  await devices.modifyCloudToDeviceConfig({ name, versionToUpdate: 1, binaryData: Buffer.from('{}') });
  await devices.listDeviceConfigVersions({ name, numVersions: 2 });
  await devices.listDeviceStates({ name, numStates: 2 });
  await devices.sendCommandToDevice({ name, binaryData: Buffer.from('x') });
  await devices.bindDeviceToGateway({ parent, gatewayId, deviceId });
  await devices.deleteDevice({ name });
  await devices.close();

  const publisher = new v1.PublisherClient(common);
  await publisher.createTopic({ name: topic });
  await publisher.getTopic({ topic });
  await publisher.publish({ topic, messages: [{ data: Buffer.from('x') }] });
  const subscriber = new v1.SubscriberClient(common);
  await subscriber.createSubscription({ name: subscription, topic, ackDeadlineSeconds: 10 });
  await subscriber.pull({ subscription, maxMessages: 1 });
  await subscriber.acknowledge({ subscription, ackIds: ['a1'] });
  await subscriber.modifyAckDeadline({ subscription, ackIds: ['a1'], ackDeadlineSeconds: 0 });
  await subscriber.deleteSubscription({ subscription });
  await publisher.deleteTopic({ topic });
  await subscriber.close();
  await publisher.close();
})().catch((e) => { console.error('FAILED', e && (e.stack || e)); process.exit(1); });
