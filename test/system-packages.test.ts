import assert from 'node:assert/strict';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The first executable called `name` on PATH (plus the sbin directories, where Debian puts mosquitto), or undefined. */
function which(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The suite's tools, checked up front so a missing one fails with the package to install
 * instead of deep inside a test. socat (pseudo-terminal tests) and chromium (editor tests) are
 * always needed, and so is mosquitto: the MQTT tests start it (with a password file, speaking
 * MQTT 5) besides the embedded aedes broker. .ci/run installs all three.
 */
describe('system packages the tests need (Debian: apt-get install -y socat mosquitto chromium)', () => {
  const ci = process.env.CI === 'true' || process.env.CI === '1';
  // mosquitto: the MQTT tests with credentials and MQTT 5 start their own broker.
  const needed = ['socat', 'mosquitto', 'chromium'];
  for (const tool of needed) {
    it(`${tool} is installed${ci ? ' (CI=true)' : ''}`, () => {
      assert.ok(which(tool), `${tool} is missing: apt-get install -y ${tool} (the test suite needs it${ci ? ' under CI' : ''})`);
    });
  }
});
