import assert from 'node:assert/strict';
import { EndpointError, createTransport, describeEndpoint, parseEndpoint, SerialTransport, TcpTransport } from '../../lib/io';

describe('parseEndpoint', () => {
  it('reads device paths and Windows ports as serial endpoints', () => {
    assert.deepEqual(parseEndpoint('/dev/ttyUSB0'), { kind: 'serial', path: '/dev/ttyUSB0' });
    assert.deepEqual(parseEndpoint(' /dev/serial/by-id/usb-FTDI_FT232R-if00-port0 '), { kind: 'serial', path: '/dev/serial/by-id/usb-FTDI_FT232R-if00-port0' });
    assert.deepEqual(parseEndpoint('COM3'), { kind: 'serial', path: 'COM3' });
    assert.deepEqual(parseEndpoint('\\\\.\\COM12'), { kind: 'serial', path: '\\\\.\\COM12' });
  });

  it('reads tcp://host:port with names, IPv4 and bracketed IPv6', () => {
    assert.deepEqual(parseEndpoint('tcp://192.168.1.20:5025'), { kind: 'tcp', host: '192.168.1.20', port: 5025 });
    assert.deepEqual(parseEndpoint('TCP://ser2net.local:4001/'), { kind: 'tcp', host: 'ser2net.local', port: 4001 });
    assert.deepEqual(parseEndpoint('tcp://[::1]:29999'), { kind: 'tcp', host: '::1', port: 29999 });
    assert.equal(describeEndpoint(parseEndpoint('tcp://[::1]:29999')), 'tcp://[::1]:29999');
  });

  const bad: Array<[string, RegExp]> = [
    ['', /is empty/],
    ['ttyUSB0', /expected an absolute device path/],
    ['tcp://10.0.0.5', /the port is missing/],
    ['tcp://:5025', /the host is missing/],
    ['tcp://10.0.0.5:70000', /the port "70000" is not a number from 1 to 65535/],
    ['tcp://10.0.0.5:0', /is not a number from 1 to 65535/],
    ['tcp://10.0.0.5:50x', /is not a number from 1 to 65535/],
    ['udp://10.0.0.5:5025', /the scheme "udp" is not supported/],
    ['tcp://10.0.0.5:5025/path', /nothing after the port/],
    ['/dev/tty USB0', /cannot contain spaces/],
  ];
  for (const [address, why] of bad) {
    it(`refuses ${JSON.stringify(address)} with a sentence that says why`, () => {
      assert.throws(() => parseEndpoint(address), (error: Error) => {
        assert.ok(error instanceof EndpointError);
        assert.ok(error.message.startsWith(`${JSON.stringify(address)} is not a connection address: `), error.message);
        assert.match(error.message, why);
        return true;
      });
    });
  }

  it('creates the transport that fits the address, described as the user wrote it', () => {
    const serial = createTransport('/dev/ttyACM0', { serial: { baudRate: 9600, parity: 'even' } });
    assert.ok(serial instanceof SerialTransport);
    assert.equal(serial.description, '/dev/ttyACM0');
    assert.equal(serial.settings.baudRate, 9600);
    assert.equal(serial.settings.parity, 'even');
    assert.equal(serial.settings.dataBits, 8);
    const tcp = createTransport('tcp://127.0.0.1:5025');
    assert.ok(tcp instanceof TcpTransport);
    assert.equal(tcp.description, 'tcp://127.0.0.1:5025');
  });
});
