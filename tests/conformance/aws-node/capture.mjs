// Drives the official AWS SDK for JavaScript against the loopback capture server whose port is argv[2].
// Fixed credentials and a frozen clock make every signature reproducible.
const fixed = Date.parse('2015-08-30T12:36:00Z');
const RealDate = Date;
globalThis.Date = class extends RealDate {
  constructor(...args) { if (args.length === 0) super(fixed); else super(...args); }
  static now() { return fixed; }
};
const { IoTClient, ...iot } = await import('@aws-sdk/client-iot');
const { IoTDataPlaneClient, ...data } = await import('@aws-sdk/client-iot-data-plane');

const port = process.argv[2];
const config = {
  region: 'us-east-1',
  endpoint: `http://127.0.0.1:${port}`,
  credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
  maxAttempts: 1,
};
const c = new IoTClient(config);
const d = new IoTDataPlaneClient(config);
const ops = JSON.parse(process.argv[3]);
for (const [client, name, input] of ops) {
  const module = client === 'iot' ? iot : data;
  const target = client === 'iot' ? c : d;
  if (input.payload !== undefined) input.payload = new TextEncoder().encode(input.payload);
  await target.send(new module[`${name}Command`](input));
}
