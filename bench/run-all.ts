/**
 * Run every benchmark in turn and print its figures as markdown (what bench/README.md quotes),
 * with the machine facts, the command and the date. `npm run bench` builds first and runs this.
 * A missed target is reported, not an error: the figures are the result either way.
 */
import { driversTable, runDrivers } from './estop-drivers';
import { fanoutTable, runFanout } from './estop-fanout';
import { runGrblStreaming, streamingSection } from './grbl-streaming';
import { modbusEstopTable, runModbusEstop } from './modbus-estop';
import { pollTable, runPoll } from './modbus-poll';
import { mqttTripTable, runMqttTrip } from './mqtt-trip';
import { overheadTable, runOverhead } from './sequence-overhead';
import { fmt, machineFacts } from './stats';

async function main(): Promise<void> {
  const facts = machineFacts();
  console.log(`# Workcell benchmarks\n\ncommand: npm run bench (= npm run build && node ${[...process.execArgv, 'dist/bench/run-all.js'].join(' ')})\n`);
  console.log(Object.entries(facts).map(([k, v]) => `- ${k}: ${v}`).join('\n'));

  let t = performance.now();
  const overhead = await runOverhead();
  console.log(`\n## Sequence overhead (${fmt((performance.now() - t) / 1000, 1)} s)\n`);
  console.log(overheadTable(overhead));
  console.log(`\nper-round ratios: ${overhead.ratios.map((r) => fmt(r, 2)).join(', ')}`);

  t = performance.now();
  const fanout = await runFanout();
  console.log(`\n## E-stop fan-out (${fmt((performance.now() - t) / 1000, 1)} s, listener: ${fanout.facts.listener})\n`);
  console.log(fanoutTable(fanout));

  t = performance.now();
  const drivers = await runDrivers();
  console.log(`\n## E-stop through the real drivers (${fmt((performance.now() - t) / 1000, 1)} s)\n`);
  console.log(driversTable(drivers));

  t = performance.now();
  const mqtt = await runMqttTrip();
  console.log(`\n## Remote trip over MQTT (${fmt((performance.now() - t) / 1000, 1)} s)\n`);
  console.log(mqttTripTable(mqtt));

  t = performance.now();
  const poll = await runPoll();
  console.log(`\n## Modbus polling (${fmt((performance.now() - t) / 1000, 1)} s)\n`);
  console.log(pollTable(poll));

  t = performance.now();
  const modbusEstop = await runModbusEstop();
  console.log(`\n## E-stop under Modbus polling load (${fmt((performance.now() - t) / 1000, 1)} s)\n`);
  console.log(modbusEstopTable(modbusEstop));

  t = performance.now();
  const streaming = await runGrblStreaming();
  console.log(`\n## GRBL streaming (${fmt((performance.now() - t) / 1000, 1)} s)\n`);
  console.log(streamingSection(streaming));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
