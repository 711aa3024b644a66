// @clearblade/iot always calls https.request with host "name[:port]" (and sometimes port '443'). The tests point the
// service-account url and the regional url at a plain-HTTP server on 127.0.0.1, so this routes those calls to
// http.request on the port named in the host. Only the transport changes: method, path, headers and the bytes written
// are the client's own. Any host other than 127.0.0.1 is refused, so nothing leaves the machine.
'use strict';
const http = require('http');
const https = require('https');

https.request = function loopbackRequest(options, callback) {
  const [hostname, port] = String(options.host).split(':');
  if (hostname !== '127.0.0.1' || !port) throw new Error(`refusing a non-loopback host: ${options.host}`);
  return http.request({ ...options, host: hostname, hostname, port: Number(port), agent: false }, callback);
};
