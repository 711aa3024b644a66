// Prints, for each device id in IDS (a JSON array), the device SAS token of azure-iot-device's
// SharedAccessSignature.create(HOST, id, KEY, EXPIRY) as a JSON object { id: token }. KEY is base64, EXPIRY Unix seconds.
'use strict';
const { SharedAccessSignature } = require('azure-iot-device');

const result = {};
for (const id of JSON.parse(process.env.IDS)) {
  result[id] = SharedAccessSignature.create(process.env.HOST, id, process.env.KEY, process.env.EXPIRY).toString();
}
console.log(JSON.stringify(result));
