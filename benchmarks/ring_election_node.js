// One ring-election node, started the way its README says: every node a follower that
// connects to the seeds (the first one that cannot reach any seed becomes the leader), with
// the monitoring HTTP API (/status, /partitions) on MONITORING_PORT.
//
//     RING_ELECTION_DIR=/tmp/x PORT=3001 SEED_NODES=127.0.0.1:3000,... MONITORING_PORT=9001 \
//         node benchmarks/ring_election_node.js
//
// RING_ELECTION_DIR is the folder where `npm install ring-election` was run (benchmarks/
// failover.py installs it into a temporary folder; it is never part of this repository).
// Every other setting is one of ring-election's own environment variables, read by the
// package itself (benchmarks/failover.py: ring_election_env() sets them).
//
// For the benchmark's logs, one JSON line on stdout when the node is started and one when
// it exits; ring-election logs to ./bully.log (the working directory is the node's own).
'use strict';

const path = require('path');

const dir = process.env.RING_ELECTION_DIR;
if (!dir) {
  console.error('ring_election_node.js: RING_ELECTION_DIR is not set');
  process.exit(2);
}
const ring = require(require.resolve('ring-election', { paths: [path.resolve(dir)] }));

const say = (event, extra) =>
  console.log(JSON.stringify({ event, t: Date.now(), pid: process.pid, port: process.env.PORT, ...extra }));

ring.follower.createClient();
ring.follower.startMonitoring();
say('started', { seeds: process.env.SEED_NODES, monitoring_port: process.env.MONITORING_PORT });
process.on('exit', code => say('exit', { code }));
