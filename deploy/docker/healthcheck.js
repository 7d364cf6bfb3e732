// Container health check for the Berth images, which have no curl:
//   node healthcheck.js <management-api|registry|worker>
// Exits 0 when the app's /healthz answers 200 within 3 seconds, 1 otherwise.
// Ports follow the apps' own configuration (MANAGEMENT_PORT, REGISTRY_PORT;
// the worker's metrics server always listens on 9464).
'use strict';
const http = require('node:http');
const https = require('node:https');

const TARGETS = {
  'management-api': (env) => ({ port: Number(env.MANAGEMENT_PORT || 8080), tls: false }),
  // When the data plane terminates TLS itself, /healthz is only served over HTTPS;
  // its certificate names *.<domain>, not 127.0.0.1, so it is not verified here.
  registry: (env) => ({ port: Number(env.REGISTRY_PORT || 5000), tls: Boolean(env.REGISTRY_TLS_CERT) }),
  worker: () => ({ port: 9464, tls: false }),
};

const app = process.argv[2];
const target = TARGETS[app];
if (!target) {
  process.stderr.write(`usage: node healthcheck.js <${Object.keys(TARGETS).join('|')}>\n`);
  process.exit(2);
}
const { port, tls } = target(process.env);
const client = tls ? https : http;
const request = client.get(
  { host: '127.0.0.1', port, path: '/healthz', timeout: 3000, rejectUnauthorized: false },
  (response) => {
    response.resume();
    process.exit(response.statusCode === 200 ? 0 : 1);
  },
);
request.on('timeout', () => request.destroy(new Error('timed out')));
request.on('error', (error) => {
  process.stderr.write(`${app} health check failed: ${error.message}\n`);
  process.exit(1);
});
