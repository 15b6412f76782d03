#!/usr/bin/env node
// `npm start`: the demo cell (Node-RED with Workcell, the device simulators and the example
// flows) on 127.0.0.1:$PORT (default 1880). The logic is typed code in lib/demo, compiled to
// dist/lib/demo by `npm run build`, which `npm start` runs first (the `prestart` script).
//
// Environment: PORT (default 1880), WORKCELL_DEMO_DIR (the Node-RED userDir, default .demo/),
// WORKCELL_DEMO_TIME_SCALE (speed-up of the simulated machines, default 1).
// Ctrl+C (SIGINT), SIGTERM or a closed terminal (SIGHUP) stops Node-RED first (its close handlers bring the devices safe
// while the simulators still answer), then the simulators; a second Ctrl+C (a second or more
// later) kills Node-RED. Exit status: 0 when the demo stopped cleanly on request (the signal
// is not raised again: it was handled), 1 when stopping failed, Node-RED had to be killed or
// exited on its own.
//
// The `start` script runs this file with `exec`: npm runs scripts through /bin/sh, and a shell
// waiting for its command (dash, Debian's /bin/sh) dies of the terminal's Ctrl+C itself, so npm
// would report "killed by SIGINT" (status 130) however cleanly this process stopped. With
// `exec` this process is npm's child, and npm exits with its status.
'use strict';
const path = require('path');

let demoModule;
try {
  demoModule = require(path.join(__dirname, '..', 'dist', 'lib', 'demo'));
} catch (err) {
  console.error(`Workcell demo: cannot load dist/lib/demo (${err.message}); run "npm start" (it builds first) or "npm run build".`);
  process.exit(1);
}

let demo;
let stopRequests = 0;
let firstStopAt = 0;
// Under `npm start` a Ctrl+C arrives twice: the terminal signals the whole foreground process
// group, and npm forwards the SIGINT it got to this process as well. A repeat within this many
// ms is that echo, not a second Ctrl+C asking to kill Node-RED.
const REPEAT_ECHO_MS = 1000;

function stop(signal) {
  console.log(`\nWorkcell demo: ${signal}: stopping Node-RED, then the simulators…`);
  demo.stop().then(
    () => console.log('Workcell demo: stopped.'),
    (err) => {
      console.error(`Workcell demo: stopping failed: ${err.message}`);
      process.exitCode = 1;
    },
  );
}

function onSignal(signal) {
  if (stopRequests > 0 && Date.now() - firstStopAt < REPEAT_ECHO_MS) return;
  if (stopRequests === 0) firstStopAt = Date.now();
  stopRequests += 1;
  if (!demo) {
    // Still starting: stop as soon as it is up (or startDemo fails and cleans up itself).
    if (stopRequests === 1) console.log(`\nWorkcell demo: ${signal}: will stop once started…`);
    return;
  }
  if (stopRequests === 1) stop(signal);
  else {
    console.log('Workcell demo: second stop request: killing Node-RED.');
    demo.kill();
  }
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// Closing the terminal (SIGHUP) stops the demo the same way (Node-RED runs in a process group of
// its own and would otherwise keep running); what it prints then may have nowhere to go.
process.on('SIGHUP', (signal) => {
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  onSignal(signal);
});

demoModule.startDemo().then(
  (started) => {
    demo = started;
    started.ended.then((code) => {
      if (stopRequests === 0) {
        console.error(`Workcell demo: Node-RED exited on its own (code ${code}); the simulators are stopped.`);
        process.exitCode = code || 1;
      } else {
        process.exitCode = code;
      }
    });
    if (stopRequests > 0) stop('stop requested during start');
  },
  (err) => {
    console.error(`Workcell demo: ${err.message}`);
    process.exitCode = 1;
  },
);
