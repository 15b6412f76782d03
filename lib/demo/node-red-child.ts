import { ChildProcess, spawn } from 'node:child_process';

export interface NodeRedChildOptions {
  /** The repository root: node-red is resolved from its node_modules. */
  readonly packageRoot: string;
  readonly userDir: string;
  readonly settingsFile: string;
  /** Host and port the settings file makes Node-RED listen on (for the readiness check). */
  readonly host: string;
  readonly port: number;
  /** Extra environment for Node-RED (the simulators' addresses), merged over this process's. */
  readonly env: Readonly<Record<string, string>>;
  /** Each line Node-RED prints, as it comes. */
  readonly onLine?: (line: string) => void;
}

export interface NodeRedChild {
  readonly child: ChildProcess;
  /** Resolves when Node-RED has exited, with its exit code and signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * Resolves once GET /settings answers and Node-RED has logged "Started flows"; rejects if it
   * exits first (the port is taken, a settings error) or does not get there within `timeoutMs`.
   */
  ready(timeoutMs: number): Promise<void>;
  /**
   * SIGINT, which makes Node-RED stop its flows (close handlers bring devices safe) and exit;
   * SIGKILL if it has not exited after `timeoutMs`. Resolves when it has exited. Safe to call twice.
   */
  stop(timeoutMs: number): Promise<void>;
}

/**
 * Starts `node node_modules/node-red/red.js --settings <file> --userDir <dir>` as a child
 * process (an argument array, no shell). The child gets a process group of its own, so a Ctrl+C
 * in the terminal reaches only the demo process, which stops Node-RED exactly once, in order:
 * Node-RED first (its close handlers still talk to the simulators), the simulators after.
 * Its output is piped, line by line, to `onLine`.
 */
export function spawnNodeRed(options: NodeRedChildOptions): NodeRedChild {
  const redJs = require.resolve('node-red/red.js', { paths: [options.packageRoot] });
  const child = spawn(process.execPath, [redJs, '--settings', options.settingsFile, '--userDir', options.userDir], {
    cwd: options.userDir,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });

  const lines: string[] = [];
  const lineWaiters = new Set<(line: string) => void>();
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        options.onLine?.(line);
        for (const w of [...lineWaiters]) w(line);
      }
    });
  }

  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  // Detached, the child would outlive a demo process that dies without stopping it.
  const killOrphan = () => {
    if (!exit) child.kill('SIGKILL');
  };
  process.once('exit', killOrphan);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      process.off('exit', killOrphan);
      resolveExit(exit);
    });
  });

  const url = `http://${options.host}:${options.port}/`;
  const ready = async (timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    const exitedEarly = () => new Error(`Node-RED exited (code ${exit?.code}, signal ${exit?.signal}) before it was ready`);
    for (;;) {
      if (exit) throw exitedEarly();
      if (Date.now() > deadline) throw new Error(`Node-RED did not answer GET ${url}settings within ${timeoutMs} ms`);
      // Bounded, and raced with the exit: when another program holds the port, Node-RED exits
      // at once and that program may accept the connection and never answer.
      const answered = await Promise.race([
        fetch(`${url}settings`, { signal: AbortSignal.timeout(2000) }).then(
          (res) => res.status < 500,
          () => false,
        ),
        exited.then(() => false),
      ]);
      if (answered) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (lines.some((l) => /Started flows/.test(l))) return;
    await new Promise<void>((resolveReady, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`Node-RED did not start its flows within ${timeoutMs} ms (a node type may be missing: see "Waiting for missing types" above)`));
      }, Math.max(0, deadline - Date.now()));
      const onLine = (line: string) => {
        if (!/Started flows/.test(line)) return;
        cleanup();
        resolveReady();
      };
      const onExit = () => {
        cleanup();
        reject(exitedEarly());
      };
      const cleanup = () => {
        clearTimeout(timer);
        lineWaiters.delete(onLine);
        child.off('exit', onExit);
      };
      lineWaiters.add(onLine);
      child.once('exit', onExit);
    });
  };

  let stopping: Promise<void> | undefined;
  const stop = (timeoutMs: number): Promise<void> => {
    stopping ??= (async () => {
      if (exit) return;
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    })();
    return stopping;
  };

  return { child, exited, ready, stop };
}
