#!/usr/bin/env node
// The local stack's OTLP/HTTP metrics receiver: a stand-in for an OpenTelemetry Collector (none is
// packaged for Debian or npm). It accepts POST /v1/metrics (JSON, or binary protobuf) and decodes
// each payload with the official OTLP protobuf schema as shipped by @opentelemetry/otlp-transformer
// (the generated ExportMetricsServiceRequest): a payload that does not convert, verify and
// round-trip through the schema, or that breaks the data model's rules (histogram bucket counts,
// one value per point, ...), is answered 400. Accepted payloads are kept, latest per
// service.instance.id, for GET /received. Not a collector: nothing is forwarded or aggregated.
//
// Usage: node otlp-receiver.js [--host 127.0.0.1] [--port 4318]
// Needs NODE_PATH to reach @opentelemetry/otlp-transformer (deployments/local/lib/packages.sh).
'use strict';

const http = require('http');
const root = require('@opentelemetry/otlp-transformer/build/src/generated/root');

const Request = root.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
const MAX_BODY = 8 << 20;
// Fields that are 64-bit integers in the schema: in JSON a decimal string (or an integer number).
// protobufjs would quietly turn anything else into 0, so they are checked before conversion.
const INT64_FIELDS = new Set(['startTimeUnixNano', 'timeUnixNano', 'asInt', 'count',
  'bucketCounts', 'intValue', 'observedTimeUnixNano', 'zeroCount']);
const DATA_KINDS = ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'];

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

class Invalid extends Error {}

function checkInt64(value, path) {
  const values = Array.isArray(value) ? value : [value];
  for (const v of values) {
    const ok = (typeof v === 'string' && /^-?[0-9]+$/.test(v)) || Number.isSafeInteger(v);
    if (!ok) throw new Invalid(`${path}: 64-bit integer expected, got ${JSON.stringify(v)}`);
  }
}

// Walks the JSON as sent: 64-bit integer fields, and keys the schema does not know (the OTLP spec
// says receivers ignore those, so they are reported with the payload rather than refused).
function walk(input, decoded, path, unknown) {
  if (Array.isArray(input)) {
    input.forEach((v, i) => walk(v, Array.isArray(decoded) ? decoded[i] : undefined,
      `${path}[${i}]`, unknown));
    return;
  }
  if (input === null || typeof input !== 'object') return;
  for (const [k, v] of Object.entries(input)) {
    const p = `${path}.${k}`;
    if (INT64_FIELDS.has(k) && v !== null) checkInt64(v, p);
    if (decoded === null || typeof decoded !== 'object' || !(k in decoded)) {
      unknown.push(p);
      continue;
    }
    walk(v, decoded[k], p, unknown);
  }
}

function big(s) {
  return BigInt(s || '0');
}

// The data model's rules that the schema alone does not enforce.
function checkSemantics(req) {
  const problems = [];
  (req.resourceMetrics || []).forEach((rm, i) => (rm.scopeMetrics || []).forEach((sm, j) =>
    (sm.metrics || []).forEach((m, k) => {
      const at = `resourceMetrics[${i}].scopeMetrics[${j}].metrics[${k}]`;
      if (!m.name) problems.push(`${at}: no name`);
      const kinds = DATA_KINDS.filter((d) => m[d]);
      if (kinds.length !== 1) {
        problems.push(`${at} (${m.name}): ${kinds.length} data fields, expected exactly one`);
        return;
      }
      const data = m[kinds[0]];
      if ((kinds[0] === 'sum' || kinds[0] === 'histogram') &&
          data.aggregationTemporality === 'AGGREGATION_TEMPORALITY_UNSPECIFIED') {
        problems.push(`${at} (${m.name}): aggregationTemporality unspecified`);
      }
      (data.dataPoints || []).forEach((dp, n) => {
        const dat = `${at}.${kinds[0]}.dataPoints[${n}] (${m.name})`;
        if (big(dp.timeUnixNano) === 0n) problems.push(`${dat}: timeUnixNano missing`);
        if (big(dp.startTimeUnixNano) > big(dp.timeUnixNano)) {
          problems.push(`${dat}: starts after its time`);
        }
        const keys = (dp.attributes || []).map((a) => a.key);
        if (new Set(keys).size !== keys.length) problems.push(`${dat}: duplicate attribute keys`);
        if (kinds[0] === 'gauge' || kinds[0] === 'sum') {
          if (('asInt' in dp) === ('asDouble' in dp)) problems.push(`${dat}: needs asInt or asDouble`);
        }
        if (kinds[0] === 'histogram') {
          const counts = dp.bucketCounts || [];
          const bounds = dp.explicitBounds || [];
          if (counts.length && counts.length !== bounds.length + 1) {
            problems.push(`${dat}: ${counts.length} bucket counts for ${bounds.length} bounds`);
          }
          if (counts.reduce((a, c) => a + big(c), 0n) !== big(dp.count)) {
            problems.push(`${dat}: count is not the sum of the bucket counts`);
          }
          for (let b = 1; b < bounds.length; b++) {
            if (!(bounds[b] > bounds[b - 1])) problems.push(`${dat}: bounds not increasing`);
          }
        }
      });
    })));
  if (problems.length) throw new Invalid(problems.slice(0, 5).join('; '));
}

const TO_OBJECT = { longs: String, enums: String, bytes: String, defaults: false, arrays: true };

// Returns {request, unknown} or throws Invalid.
function decode(body, contentType) {
  let message;
  let unknown = [];
  if (contentType.startsWith('application/x-protobuf')) {
    try {
      message = Request.decode(body);
    } catch (e) {
      throw new Invalid(`protobuf: ${e.message}`);
    }
  } else {
    let json;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch (e) {
      throw new Invalid(`JSON: ${e.message}`);
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) {
      throw new Invalid('the payload must be a JSON object');
    }
    try {
      message = Request.fromObject(json);
    } catch (e) {
      throw new Invalid(`schema: ${e.message}`);
    }
    const full = Request.toObject(message, { ...TO_OBJECT, enums: Number, defaults: true });
    walk(json, full, '', unknown);
    unknown = unknown.map((p) => p.slice(1));
  }
  const why = Request.verify(message);
  if (why) throw new Invalid(`schema: ${why}`);
  // The wire form is what a collector sees: encode it and decode it back.
  const request = Request.toObject(Request.decode(Request.encode(message).finish()), TO_OBJECT);
  checkSemantics(request);
  return { request, unknown };
}

function instanceOf(request) {
  const rm = (request.resourceMetrics || [])[0] || {};
  const attrs = (rm.resource && rm.resource.attributes) || [];
  const id = attrs.find((a) => a.key === 'service.instance.id');
  return (id && id.value && id.value.stringValue) || 'unknown';
}

const state = { accepted: 0, rejected: 0, last_error: null, instances: {} };

function reply(res, status, obj) {
  const text = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function onMetrics(req, res) {
  const chunks = [];
  let size = 0;
  let over = false;
  req.on('data', (c) => {
    size += c.length;
    if (size > MAX_BODY) over = true;
    else chunks.push(c);
  });
  req.on('end', () => {
    if (over) return reply(res, 413, { code: 8, message: `payload over ${MAX_BODY} bytes` });
    try {
      const { request, unknown } = decode(Buffer.concat(chunks), req.headers['content-type'] || '');
      const id = instanceOf(request);
      const prev = state.instances[id];
      state.instances[id] = { received_at: Date.now(), count: prev ? prev.count + 1 : 1,
        unknown_fields: unknown.slice(0, 20), request };
      state.accepted++;
      return reply(res, 200, {});
    } catch (e) {
      if (!(e instanceof Invalid)) throw e;
      state.rejected++;
      state.last_error = e.message;
      console.log(JSON.stringify({ ts: new Date().toISOString(), msg: 'rejected', error: e.message }));
      return reply(res, 400, { code: 3, message: e.message }); // google.rpc.Status, INVALID_ARGUMENT
    }
  });
}

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (path === '/v1/metrics' && req.method === 'POST') return onMetrics(req, res);
  if (path === '/received' && req.method === 'GET') return reply(res, 200, state);
  if (path === '/health' && req.method === 'GET') return reply(res, 200, { status: 'ok' });
  if (path === '/v1/metrics' || path === '/received' || path === '/health') {
    return reply(res, 405, { code: 12, message: 'method not allowed' });
  }
  return reply(res, 404, { code: 5, message: 'not found' });
});
server.requestTimeout = 30000;
server.headersTimeout = 10000;

const host = arg('--host', '127.0.0.1');
const port = Number(arg('--port', '4318'));
server.listen(port, host, () => {
  console.log(JSON.stringify({ ts: new Date().toISOString(), msg: 'listening', host, port }));
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections(); // keep-alive connections from the instances
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
