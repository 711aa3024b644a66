// Sends Pub/Sub publish, pull, acknowledge and modifyAckDeadline requests with the official
// @google-cloud/pubsub client in REST mode to a loopback capture server. Exit 0 when all calls completed.
'use strict';
const { PubSub, v1 } = require('@google-cloud/pubsub');
const { OAuth2Client } = require('google-auth-library');

const [port, project] = process.argv.slice(2);
const authClient = new OAuth2Client();
authClient.setCredentials({ access_token: 'test-token', expiry_date: Date.now() + 3600e3 });
const common = { projectId: project, apiEndpoint: '127.0.0.1', port: Number(port), fallback: 'rest', protocol: 'http', authClient };

(async () => {
  const pubsub = new PubSub({ ...common, apiEndpoint: `127.0.0.1:${port}` });
  const topic = pubsub.topic('telemetry', { batching: { maxMessages: 2, maxMilliseconds: 1000 } });
  await Promise.all([
    topic.publishMessage({ data: Buffer.from('hello'), attributes: { deviceId: 'd1', subFolder: 'x' } }),
    topic.publishMessage({ data: Buffer.from('world'), attributes: { deviceId: 'd2' } }),
  ]);
  const ordered = pubsub.topic('telemetry', { messageOrdering: true });
  await ordered.publishMessage({ data: Buffer.from('first'), orderingKey: 'dev-1' });
  const sub = new v1.SubscriberClient(common);
  const subscription = `projects/${project}/subscriptions/telemetry-sub`;
  await sub.pull({ subscription, maxMessages: 10 });
  await sub.acknowledge({ subscription, ackIds: ['a1', 'a2'] });
  await sub.modifyAckDeadline({ subscription, ackIds: ['a3'], ackDeadlineSeconds: 0 });
  await sub.close();
  await pubsub.close();
})().catch((e) => { console.error('FAILED', e && (e.stack || e)); process.exit(1); });
