// The device side of Google's Cloud IoT Core MQTT sample (nodejs-docs-samples iot/mqtt_example), unchanged in what it
// sends: a JWT {iat, exp, aud: projectId} signed with jsonwebtoken, user name 'unused', MQTT 3.1.1 over TLS, QoS 1
// events on /devices/{id}/events. Modes: valid (connect, publish 3 events), expired (a JWT already expired: expect a
// refused CONNECT), cut (a JWT that expires in N s: report when the bridge closes the connection).
// Usage: node bridge-device.js <mode> <port> <ca.pem> <clientId> <deviceId> <projectId> <key.pem> <ES256|RS256> [seconds]
'use strict';
const {readFileSync} = require('fs');
const jwt = require('jsonwebtoken');
const mqtt = require('mqtt');

const [mode, port, caFile, clientId, deviceId, projectId, keyFile, algorithm, seconds] = process.argv.slice(2);

const createJwt = (iat, exp) => jwt.sign({iat, exp, aud: projectId}, readFileSync(keyFile), {algorithm});

const now = Math.floor(Date.now() / 1000);
const password = mode === 'expired' ? createJwt(now - 120, now - 60)
  : mode === 'cut' ? createJwt(now, now + Number(seconds))
  : createJwt(now, now + 20 * 60);

const client = mqtt.connect({
  host: 'localhost', port: Number(port), clientId, username: 'unused', password,
  protocol: 'mqtts', secureProtocol: 'TLSv1_2_method', ca: [readFileSync(caFile)],
  reconnectPeriod: 0, connectTimeout: 10000,
});
const done = (result, code = 0) => { console.log(JSON.stringify(result)); client.end(true); process.exit(code); };
setTimeout(() => done({error: 'timeout'}, 2), (Number(seconds || 0) + 20) * 1000);

let connectedAt = 0;
client.on('error', err => done({connected: false, code: err.code ?? null, message: String(err.message)}));
client.on('connect', async () => {
  connectedAt = Date.now();
  if (mode === 'valid') {
    for (let i = 1; i <= 3; i++) {
      await client.publishAsync(`/devices/${deviceId}/events`, JSON.stringify({n: i}), {qos: 1});
    }
    done({connected: true, published: 3});
  }
  if (mode === 'expired') done({connected: true}, 1);
});
client.on('close', () => {
  if (mode === 'cut' && connectedAt) done({connected: true, closedAfterMs: Date.now() - connectedAt});
  if (!connectedAt) done({connected: false, code: null, message: 'closed before CONNACK'});
});
