// edgecoap node tests: start the real server on a free loopback port, and
// bounded helpers around node-coap (an independent CoAP implementation).
// SPDX-License-Identifier: Apache-2.0
'use strict';

const { spawn } = require('child_process');
const dgram = require('dgram');
const fs = require('fs');
const os = require('os');
const path = require('path');
const coap = require('coap');

// Every wait is bounded; this one ends the whole test if something hangs.
function deadline(ms) {
  const t = setTimeout(() => {
    console.error(`node test: still running after ${ms} ms, giving up`);
    process.exit(1);
  }, ms);
  t.unref();
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.on('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// The last Echo value the server challenged with (RFC 9175; docs/API.md
// section 1, "Amplification"). node-coap 1.5 does not answer a 4.01 with
// Echo by itself, and it sends each request from a new port, so every
// request carries the value once there is one.
let echoValue = null;
function withEcho(req) {
  if (echoValue) req.setOption('252', echoValue);
  return req;
}

function requestOnce(opts, payload, timeoutMs) {
  return new Promise((resolve, reject) => {
    const req = withEcho(coap.request(opts));
    const t = setTimeout(() => reject(new Error(
      `no answer to ${opts.method || 'GET'} ${opts.pathname} in ${timeoutMs} ms`)),
    timeoutMs);
    req.on('response', (res) => { clearTimeout(t); resolve(res); });
    req.on('error', (e) => { clearTimeout(t); reject(e); });
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

// A CoAP request with node-coap; resolves to the response. A 4.01 with a
// new Echo value is answered once by repeating the request with it.
async function request(opts, payload, timeoutMs = 10000) {
  const res = await requestOnce(opts, payload, timeoutMs);
  const echo = (res.options || []).find((o) => o.name === '252');
  if (res.code !== '4.01' || !echo ||
      (echoValue && echo.value.equals(echoValue))) return res;
  echoValue = echo.value;
  return requestOnce(opts, payload, timeoutMs);
}

async function startServer() {
  const bin = process.env.EC_SERVER_BIN;
  if (!bin) throw new Error('EC_SERVER_BIN is not set');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edgecoap-node-'));
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const log = fs.openSync(path.join(dir, 'server.log'), 'a');
    const child = spawn(bin, ['--bind', '127.0.0.1', '--port', String(port),
      '--db', path.join(dir, 'edgecoap.db'), '--log-level', 'debug'],
    { stdio: ['ignore', log, log] });
    let exited = false;
    child.on('exit', () => { exited = true; });
    for (let i = 0; i < 100 && !exited; i++) {
      try {
        const res = await request({ hostname: '127.0.0.1', port,
          pathname: '/.well-known/core' }, undefined, 300);
        if (res.code === '2.05') {
          return { port, dir, child, exited: () => exited,
            log: () => fs.readFileSync(path.join(dir, 'server.log'), 'utf8') };
        }
      } catch (e) { /* not up yet */ }
    }
    if (!exited) child.kill('SIGKILL');
  }
  throw new Error(`the server did not start; see ${dir}/server.log`);
}

function stopServer(srv, keep) {
  return new Promise((resolve) => {
    if (srv.exited()) return resolve(false);
    const t = setTimeout(() => srv.child.kill('SIGKILL'), 5000);
    srv.child.on('exit', (code) => {
      clearTimeout(t);
      if (!keep) fs.rmSync(srv.dir, { recursive: true, force: true });
      resolve(code === 0);
    });
    srv.child.kill('SIGTERM');
  });
}

// A DeploymentStatus report of about `size` bytes of JSON.
function report(dep, state, size) {
  const components = [];
  const doc = { apiVersion: 'deployment.margo/v1', kind: 'DeploymentStatus',
    deploymentId: dep, status: { state }, components };
  for (let i = 0; JSON.stringify(doc).length < size; i++) {
    components.push({ name: `component-${i}`, state,
      error: { code: `E${i}`, message: 'x'.repeat(90) } });
  }
  return JSON.stringify(doc);
}

let failures = 0;
function check(ok, what) {
  if (ok) {
    console.log(`ok - ${what}`);
  } else {
    failures++;
    console.log(`not ok - ${what}`);
  }
}

// Run `body(srv)` against a fresh server within `ms`, stop the server, and
// exit 0 when every check passed (the server's folder is kept otherwise).
function run(ms, body) {
  deadline(ms);
  (async () => {
    const srv = await startServer();
    try {
      await body(srv);
    } finally {
      check(await stopServer(srv, failures > 0), 'the server stopped cleanly');
      if (failures > 0) console.log(`# server directory kept: ${srv.dir}`);
    }
    process.exit(failures > 0 ? 1 : 0);
  })().catch((e) => { console.error(e); process.exit(1); });
}

module.exports = { coap, request, withEcho, report, check, run };
