import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PtyPair {
  /** Path of one end (a symlink to /dev/pts/N). */
  a: string;
  /** Path of the other end. */
  b: string;
  /** Kills socat (both ends vanish, as when a USB adapter is unplugged) and removes the links. */
  close(): Promise<void>;
}

const socatMissing = 'socat is required for the pseudo-terminal tests: apt-get install -y socat';

/**
 * Starts `socat` with two linked pseudo-terminals and resolves once both links exist. Bytes
 * written to one end come out of the other, as over a null-modem cable. Pass the directory
 * of an earlier pair to bring the same paths back (replug). Throws a clear error when socat is
 * missing; never skips.
 */
export async function openPtyPair(dir: string = mkdtempSync(join(tmpdir(), 'workcell-pty-')), timeoutMs = 5000): Promise<PtyPair> {
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const child: ChildProcess = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => { log += chunk.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnError = new Promise<never>((_, reject) => child.once('error', (error: NodeJS.ErrnoException) => {
    reject(error.code === 'ENOENT' ? new Error(socatMissing) : error);
  }));
  const ready = (async () => {
    const deadline = Date.now() + timeoutMs;
    // socat logs "starting data transfer loop" once both ends are set up.
    while (!(existsSync(a) && existsSync(b) && log.includes('starting data transfer loop'))) {
      if (child.exitCode !== null) throw new Error(`socat exited (code ${child.exitCode}) before the pseudo-terminals were ready: ${log.trim()}`);
      if (Date.now() > deadline) throw new Error(`socat did not create ${a} and ${b} within ${timeoutMs} ms: ${log.trim()}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  try {
    await Promise.race([ready, spawnError]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  let closed: Promise<void> | undefined;
  return {
    a,
    b,
    close() {
      closed ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          await exited;
        }
        rmSync(a, { force: true });
        rmSync(b, { force: true });
      })();
      return closed;
    },
  };
}
