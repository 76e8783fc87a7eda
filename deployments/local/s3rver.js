// The local stack's S3 server: @20minutes/s3rver, which verifies AWS Signature V4 (credentials
// S3RVER/S3RVER), serving one loopback port with its objects under a data directory. Started by
// deployments/local/stack.sh (component s3) as
//   NODE_PATH=<repo>/.cache/node/node_modules node --openssl-legacy-provider s3rver.js ADDR PORT DIR
// (the legacy provider: without it ListObjectsV2 pagination fails on current Node releases).
// Besides s3rver's own behaviour it logs one line per request, "s3 METHOD URL STATUS port=N",
// so tests can count what reached S3 and over how many connections (N: the client's port).
'use strict'

const fs = require('node:fs')
const S3rver = require('@20minutes/s3rver')

const [address, port, directory] = process.argv.slice(2)
if (!address || !/^[0-9]+$/.test(port || '') || !directory) {
  console.error('usage: s3rver.js ADDRESS PORT DIRECTORY')
  process.exit(2)
}
fs.mkdirSync(directory, { recursive: true })

const server = new S3rver({ address, port: Number(port), directory, silent: true })
// First in the chain, and logged when the response is finished, so errors raised further down
// (403 SignatureDoesNotMatch, 404 NoSuchKey) are logged with their final status.
server.middleware.unshift((ctx, next) => {
  const peer = ctx.req.socket.remotePort
  ctx.res.on('finish', () =>
    console.log(`s3 ${ctx.method} ${ctx.originalUrl} ${ctx.res.statusCode} port=${peer}`)
  )
  return next()
})
server.run().then(
  (addr) => console.log(`s3rver listening on ${addr.address}:${addr.port}, data in ${directory}`),
  (err) => {
    console.error(`s3rver failed to start: ${err.message}`)
    process.exit(1)
  }
)
