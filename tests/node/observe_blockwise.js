// edgecoap node test: node-coap observes a status larger than one block
// through every change (RFC 7641 with RFC 7959 section 3.4).
// SPDX-License-Identifier: Apache-2.0
'use strict';

const h = require('./harness');

const DEP = '0b5e7e0b-0000-4000-8000-00000000b10c';
const STATES = ['Pending', 'Installing', 'Installed', 'Failed', 'Removing',
  'Removed', 'Installing', 'Installed'];

async function post(srv, dev, body) {
  const res = await h.request({ hostname: '127.0.0.1', port: srv.port,
    method: 'POST', pathname: `/device/${dev}/deployment/${DEP}/status`,
    options: { 'Content-Format': 'application/json', Block1: Buffer.from([0x06]) } }, body);
  return res.code;
}

// Observe `dev`'s status; resolves each notification's parsed body in turn.
function observe(srv, dev) {
  const seen = [];
  let waiter = null;
  // The Echo value the harness got at start: plain CoAP observes only a
  // verified address.
  const req = h.withEcho(h.coap.request({ hostname: '127.0.0.1',
    port: srv.port, pathname: `/device/${dev}/deployment/${DEP}/status`,
    observe: true, options: { Accept: 'application/json' } }));
  let stream = null;
  req.on('response', (res) => {
    stream = res;
    if (res.code !== '2.05') {
      seen.push({ error: res.code });
      if (waiter) waiter();
      return;
    }
    res.on('data', (chunk) => {
      let doc;
      try { doc = JSON.parse(chunk.toString()); } catch (e) {
        doc = { error: `not JSON (${chunk.length} bytes)` };
      }
      seen.push(doc);
      if (waiter) waiter();
    });
  });
  req.on('error', (e) => { seen.push({ error: e.message }); if (waiter) waiter(); });
  req.end();
  return {
    seen,
    // Wait until `n` notifications came, at most `ms`.
    wait: (n, ms) => new Promise((resolve) => {
      const t = setTimeout(() => { waiter = null; resolve(false); }, ms);
      const test = () => {
        if (seen.length >= n) { clearTimeout(t); waiter = null; resolve(true); }
      };
      waiter = test;
      test();
    }),
    close: () => { if (stream) stream.close(); },
  };
}

h.run(120000, async (srv) => {
  const dev = 'node-obs';
  const first = h.report(DEP, STATES[0], 5000);
  h.check(first.length > 4096, `a report of ${first.length} bytes (over four blocks)`);
  h.check(await post(srv, dev, first) === '2.01', 'first report stored (2.01)');

  // Two observations from one client session, each must see every change.
  const a = observe(srv, dev);
  const b = observe(srv, dev);
  h.check(await a.wait(1, 10000), 'observation A registered');
  h.check(await b.wait(1, 10000), 'observation B registered');
  h.check(a.seen[0].status && a.seen[0].status.state === STATES[0],
    `A's first notification is the current state (${JSON.stringify(a.seen[0]).slice(0, 80)})`);
  for (let i = 1; i < STATES.length; i++) {
    const sent = h.report(DEP, STATES[i], 5000);
    const want = JSON.parse(sent).components.length;
    const code = await post(srv, dev, sent);
    h.check(code === '2.04', `change ${i} to ${STATES[i]} stored (${code})`);
    for (const [name, o] of [['A', a], ['B', b]]) {
      const got = await o.wait(i + 1, 10000);
      const doc = o.seen[i] || {};
      h.check(got && doc.status && doc.status.state === STATES[i] &&
        doc.components && doc.components.length === want,
      `${name} notified of change ${i}: ${doc.status ? doc.status.state + " " + (doc.components || []).length + " components" : JSON.stringify(doc)}`);
    }
  }
  a.close();
  b.close();
});
