import assert from 'node:assert/strict';
import ModbusRTU from 'modbus-serial';
import { FurnaceModel } from '../../lib/simulators/modbus/furnace-model';
import { FurnaceSimulator, startFurnaces, type StartedFurnaces } from '../../lib/simulators/modbus/furnace';
import { WATLOW } from '../../lib/simulators/modbus/furnace-maps';
import { floatWords, wordsFloat } from '../../lib/simulators/modbus/register-map';
import { GENERIC_FURNACE_MAP, GENERIC_SENSOR_BREAK_PV } from '../../lib/devices/furnace/generic-map';

async function exceptionCode(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (err) {
    return (err as { modbusCode: number }).modbusCode;
  }
  assert.fail('expected an exception reply');
}

const int16 = (w: number) => (w >= 0x8000 ? w - 0x10000 : w);
/** Low word first, as the Watlow sends it. */
const lowFirstFloat = ([lo, hi]: number[]) => wordsFloat(hi, lo);
const lowFirstWords = (v: number) => {
  const [hi, lo] = floatWords(v);
  return [lo, hi];
};

describe('Furnace thermal model and control loop', () => {
  it('heats to its setpoint without overshoot and holds it; a ramp rate limits how fast the working setpoint moves', () => {
    const model = new FurnaceModel({ clock: () => 0 });
    model.target = 200;
    model.skip(60);
    assert.ok(model.temperatureC > 25 && model.temperatureC < 200, `after 60 s: ${model.temperatureC}`);
    model.skip(600);
    assert.ok(Math.abs(model.temperatureC - 200) < 0.5, `after 660 s: ${model.temperatureC}`);
    model.rampRate = 60;
    model.target = 300;
    model.skip(30);
    assert.ok(Math.abs(model.working - 230) < 0.01, `working setpoint after 30 s at 60 °C/min: ${model.working}`);
  });

  it('run again, the loop starts afresh from the present temperature; from manual back to auto it starts from the manual output', () => {
    const model = new FurnaceModel({ clock: () => 0 });
    model.rampRate = 60;
    model.target = 400;
    model.skip(120);
    model.running = false;
    model.skip(60);
    model.running = true;
    assert.equal(model.working, model.temperatureC);
    model.rampRate = 0;
    model.manualOutput = 30;
    model.manual = true;
    model.skip(10);
    model.manual = false;
    model.skip(0.5);
    assert.ok(Math.abs(model.output - 30) < 1, `output ${model.output} % right after the switch`);
  });

  it('a furnace simulator describes its state in one phrase', () => {
    const furnace = new FurnaceSimulator({ preset: 'omega-cn7500', clock: () => 0 });
    furnace.model.target = 200;
    assert.equal(furnace.describe(), '20.0 °C, setpoint 200 °C, output 0 %, auto');
    furnace.model.skip(1);
    furnace.breakSensor(true);
    furnace.model.running = false;
    assert.equal(furnace.describe(), `${furnace.model.temperatureC.toFixed(1)} °C, setpoint 200 °C, output 0 %, stopped, sensor break`);
  });

  it('runs simulated time at timeScale × real time', () => {
    let now = 0;
    const model = new FurnaceModel({ clock: () => now, timeScale: 100 });
    now = 1500;
    assert.equal(model.simulatedSeconds, 150);
  });

  it('stopped, with a sensor break in auto, the output is 0; in manual it is the manual output', () => {
    const model = new FurnaceModel({ clock: () => 0 });
    model.target = 500;
    model.skip(5);
    assert.equal(model.output, 100);
    model.running = false;
    model.skip(1);
    assert.equal(model.output, 0);
    model.running = true;
    model.sensorBroken = true;
    model.skip(1);
    assert.equal(model.output, 0);
    model.manual = true;
    model.manualOutput = 35;
    model.skip(1);
    assert.equal(model.output, 35);
  });
});

describe('Furnace simulator presets over Modbus TCP (modbus-serial as the client)', () => {
  let sim: StartedFurnaces;
  const client = new ModbusRTU();

  before(async () => {
    sim = await startFurnaces([
      { unitId: 1, preset: 'eurotherm-3216', timeScale: 200 },
      { unitId: 2, preset: 'watlow-pm', timeScale: 200 },
      { unitId: 3, preset: 'omega-cn7500', timeScale: 200 },
      { unitId: 4, preset: 'generic', timeScale: 200 },
    ]);
    await client.connectTCP('127.0.0.1', { port: sim.port! });
    client.setTimeout(500);
  });
  after(async () => {
    await new Promise<void>((resolve) => client.close(() => resolve()));
    await sim.close();
  });

  it('Eurotherm 3216: PV with one implied decimal, the remote setpoint in RAM once enabled, TG.SP counted as EEPROM writes', async () => {
    client.setID(1);
    const furnace = sim.furnaces.get(1)!;
    assert.equal(int16((await client.readHoldingRegisters(1, 1)).data[0]), 200);
    await client.writeRegister(26, 1500);
    assert.equal(furnace.model.target, 20, 'the remote setpoint is not in force until 276 enables it');
    await client.writeRegister(276, 1);
    assert.equal(furnace.model.target, 150);
    assert.equal(int16((await client.readHoldingRegisters(5, 1)).data[0]), 1500, 'WKG.SP');
    assert.equal(furnace.eepromWrites, 0);
    await client.writeRegister(276, 0);
    await client.writeRegister(2, 500);
    assert.equal(furnace.eepromWrites, 1);
    assert.equal(furnace.model.target, 50);
    assert.equal(await exceptionCode(client.writeRegister(26, 20000)), 3, 'outside the range');
    assert.equal(await exceptionCode(client.readHoldingRegisters(6, 1)), 2, 'unmapped');
    assert.equal(await exceptionCode(client.writeRegister(1, 5)), 3, 'PV is read-only');
    const writes = furnace.writeRequests;
    assert.equal(await exceptionCode(client.writeRegisters(2, [600, 0, 0, 1])), 3, 'TG.SP, MAN.OP, WRK.OP (read-only), WKG.SP');
    assert.deepEqual([furnace.model.target, furnace.writeRequests], [50, writes], 'nothing of a refused multiple write is written');
  });

  it('Eurotherm 3216: manual mode (273) and MAN.OP drive WRK.OP; standby (IM 199) stops the output; a sensor break sets StAt bit 5', async () => {
    client.setID(1);
    const furnace = sim.furnaces.get(1)!;
    await client.writeRegister(3, 425);
    await client.writeRegister(273, 1);
    assert.equal((await client.readHoldingRegisters(4, 1)).data[0], 425);
    assert.equal((await client.readHoldingRegisters(75, 1)).data[0] & 0x10, 0x10);
    await client.writeRegister(199, 1);
    assert.equal(furnace.model.running, false);
    await client.writeRegister(199, 0);
    await client.writeRegister(273, 0);
    furnace.breakSensor(true);
    assert.equal((await client.readHoldingRegisters(75, 1)).data[0] & 0x20, 0x20);
    assert.equal((await client.readHoldingRegisters(1, 1)).data[0], 0x8000);
    furnace.breakSensor(false);
  });

  it('Eurotherm 3216: every parameter is also a float at 0x8000 + 2 × its address, high word first', async () => {
    client.setID(1);
    const furnace = sim.furnaces.get(1)!;
    const float = async (address: number) => {
      const [hi, lo] = (await client.readHoldingRegisters(0x8000 + 2 * address, 2)).data;
      return wordsFloat(hi, lo);
    };
    assert.ok(Math.abs((await float(1)) - furnace.model.temperatureC) < 0.1, 'PV.IN');
    await client.writeRegisters(0x8000 + 2 * 26, floatWords(123.4));
    await client.writeRegister(276, 1);
    assert.ok(Math.abs(furnace.model.target - 123.4) < 1e-9);
    assert.ok(Math.abs((await float(26)) - 123.4) < 1e-4);
    assert.equal(await float(276), 1);
    assert.equal(await exceptionCode(client.writeRegisters(0x8000 + 2 * 1, floatWords(5))), 3, 'PV is read-only as a float too');
    assert.equal(await exceptionCode(client.writeRegisters(0x8000 + 2 * 26, floatWords(5000))), 3, 'outside the range');
    await client.writeRegister(276, 0);
  });

  it('Watlow PM: floats low word first, in °F until 2490 says °C; loop control mode 1880; input error 362 on a sensor break', async () => {
    client.setID(2);
    const furnace = sim.furnaces.get(2)!;
    const pvF = lowFirstFloat((await client.readHoldingRegisters(360, 2)).data);
    assert.ok(Math.abs(pvF - 68) < 0.01, `PV ${pvF} °F`);
    await client.writeRegisters(2160, lowFirstWords(212));
    assert.ok(Math.abs(furnace.model.target - 100) < 1e-3);
    await client.writeRegisters(2490, [WATLOW.celsius, 0]);
    assert.ok(Math.abs(lowFirstFloat((await client.readHoldingRegisters(2160, 2)).data) - 100) < 1e-3);
    assert.equal(await exceptionCode(client.writeRegister(2160, 1)), 3, 'half a float');
    await client.writeRegister(1880, WATLOW.off);
    assert.equal(furnace.model.running, false);
    await client.writeRegisters(2162, lowFirstWords(30));
    await client.writeRegister(1880, WATLOW.manual);
    assert.equal(lowFirstFloat((await client.readHoldingRegisters(1904, 2)).data), 30);
    assert.equal(await exceptionCode(client.writeRegister(1880, 3)), 3);
    furnace.breakSensor(true);
    assert.equal((await client.readHoldingRegisters(362, 1)).data[0], WATLOW.inputOpen);
    furnace.breakSensor(false);
    await client.writeRegister(1880, WATLOW.auto);
  });

  it('Omega CN7500: PV and SV × 0.1 at 0x1000/0x1001, run/stop bit 0x0814 by FC 5 and FC 2, PV error code 0x8003 on a sensor break', async () => {
    client.setID(3);
    const furnace = sim.furnaces.get(3)!;
    await client.writeRegister(0x1001, 2500);
    assert.equal(furnace.model.target, 250);
    assert.equal((await client.readDiscreteInputs(0x0814, 1)).data[0], true);
    await client.writeCoil(0x0814, false);
    assert.equal(furnace.model.running, false);
    assert.equal((await client.readDiscreteInputs(0x0814, 1)).data[0], false);
    await client.writeCoil(0x0814, true);
    furnace.breakSensor(true);
    assert.equal((await client.readHoldingRegisters(0x1000, 1)).data[0], 0x8003);
    furnace.breakSensor(false);
  });

  it('generic: the shared map; the furnace heats towards its setpoint in simulated time', async () => {
    client.setID(4);
    const furnace = sim.furnaces.get(4)!;
    const m = GENERIC_FURNACE_MAP;
    await client.writeRegister(m.setpoint, 1000);
    assert.equal(furnace.model.target, 100);
    const first = int16((await client.readHoldingRegisters(m.pv, 1)).data[0]);
    assert.equal((await client.readHoldingRegisters(m.output, 1)).data[0], 1000, 'full power, far below the setpoint');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const later = int16((await client.readHoldingRegisters(m.pv, 1)).data[0]);
    assert.ok(later > first, `PV rose: ${first} → ${later}`);
    furnace.breakSensor(true);
    const [pv, , , , , , status] = (await client.readHoldingRegisters(0, 7)).data;
    assert.deepEqual([pv, status & 1], [GENERIC_SENSOR_BREAK_PV, 1]);
    furnace.breakSensor(false);
  });
});
