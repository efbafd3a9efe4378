// edgecoap node test: a report too large for one datagram is refused in a
// way node-coap can match (4.13 on its own Message ID, with Block1 and
// Size1), and the same report sent block-wise is stored (RFC 7252 4.6,
// RFC 7959 2.9.3). Before, the server's libcoap answered RST with Message
// ID 0 and node-coap waited until it gave up.
// SPDX-License-Identifier: Apache-2.0
'use strict';

const h = require('./harness');

const DEP = '0b5e7e0b-0000-4000-8000-0000000013e3';

h.run(90000, async (srv) => {
  const path = `/device/node-big/deployment/${DEP}/status`;
  // node-coap puts a 1,104-byte body in one datagram of about 1,163.
  let body = h.report(DEP, 'Installing', 1000);
  body += ' '.repeat(1104 - body.length);
  const opts = { hostname: '127.0.0.1', port: srv.port, method: 'POST',
    pathname: path, options: { 'Content-Format': 'application/json' } };
  const t0 = Date.now();
  let res;
  try {
    res = await h.request(opts, body, 20000);
  } catch (e) {
    res = { code: `no answer (${e.message})`, headers: {} };
  }
  const ms = Date.now() - t0;
  h.check(res.code === '4.13', `a ${body.length}-byte body in one datagram: ${res.code} after ${ms} ms`);
  h.check(res.headers && res.headers.Size1 === 65536,
    `Size1 gives the body cap (${res.headers && res.headers.Size1})`);
  const b1 = (res.options || []).find((o) => o.name === 'Block1');
  h.check(b1 && Buffer.isBuffer(b1.value) && b1.value.length === 1 &&
    b1.value[0] === 0x06, 'Block1 asks for the body in blocks of 1024 bytes');

  // Block-wise, as the 4.13 asks: stored.
  const blockwise = Object.assign({}, opts, {
    options: { 'Content-Format': 'application/json', Block1: Buffer.from([0x06]) } });
  res = await h.request(blockwise, body, 20000);
  h.check(res.code === '2.01', `the same body with Block1: ${res.code}`);
  const get = await h.request({ hostname: '127.0.0.1', port: srv.port,
    pathname: path, options: { Accept: 'application/json' } }, undefined, 20000);
  let doc = {};
  try { doc = JSON.parse(get.payload.toString()); } catch (e) { /* checked below */ }
  h.check(get.code === '2.05' && doc.status && doc.status.state === 'Installing',
    `and read back (${get.code})`);
});
