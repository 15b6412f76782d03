import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const MOSQUITTO = '/usr/sbin/mosquitto';
const MOSQUITTO_PASSWD = '/usr/bin/mosquitto_passwd';

/** Whether Mosquitto and mosquitto_passwd are installed (Debian's mosquitto package). */
export function mosquittoInstalled(): boolean {
  try {
    accessSync(MOSQUITTO, constants.X_OK);
    accessSync(MOSQUITTO_PASSWD, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A Mosquitto broker started for a test on 127.0.0.1 and a free port. */
export interface Mosquitto {
  readonly url: string;
  readonly port: number;
  /** Stops the broker (SIGTERM) and removes its configuration directory. */
  close(): Promise<void>;
}

/** A free TCP port of 127.0.0.1, found by listening on port 0 (Mosquitto reads port 0 as a Unix socket). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Resolves once a TCP connection to the port succeeds; rejects when the process exits first. */
async function listening(port: number, child: ChildProcess, log: () => string): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited (${child.exitCode}) before listening on ${port}: ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Start Mosquitto with a generated configuration: one listener on 127.0.0.1, anonymous clients
 * allowed unless `users` is given (then a password file made with mosquitto_passwd, and only
 * those users), and TLS on the listener with `tls` (PEM files; the URL is then `mqtts://`).
 * `port`: a given one (a restart on the port a test's clients know), else a free one.
 */
export async function startMosquitto(options: { users?: Record<string, string>; tls?: { ca: string; cert: string; key: string }; port?: number } = {}): Promise<Mosquitto> {
  const dir = mkdtempSync(join(tmpdir(), 'workcell-mosquitto-'));
  // Started as root, Mosquitto drops to its own user before it reads the password file.
  chmodSync(dir, 0o755);
  const port = options.port ?? (await freePort());
  const lines = [`listener ${port} 127.0.0.1`, 'persistence false', 'log_dest stderr'];
  if (options.tls) lines.push(`cafile ${options.tls.ca}`, `certfile ${options.tls.cert}`, `keyfile ${options.tls.key}`);
  if (options.users) {
    const file = join(dir, 'passwords');
    writeFileSync(file, '');
    for (const [user, password] of Object.entries(options.users)) await promisify(execFile)(MOSQUITTO_PASSWD, ['-b', file, user, password]);
    chmodSync(file, 0o644);
    lines.push('allow_anonymous false', `password_file ${file}`);
  } else {
    lines.push('allow_anonymous true');
  }
  writeFileSync(join(dir, 'mosquitto.conf'), lines.join('\n') + '\n');
  const child = spawn(MOSQUITTO, ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await listening(port, child, () => stderr);
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `${options.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    port,
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
