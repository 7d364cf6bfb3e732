import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';

/**
 * Everything the bench starts or creates registers its undo here, right
 * after creating it; `run` undoes in reverse order, once, tolerating
 * failures, so a crash or Ctrl-C still leaves nothing behind.
 */
export class Cleanup {
  private readonly tasks: Array<{ label: string; undo: () => Promise<void> | void; timeoutMs: number }> = [];
  private running: Promise<void> | undefined;

  constructor(private readonly log: (line: string) => void) {}

  /** True once undoing has begun (a failure after that is the interruption's doing). */
  get started(): boolean {
    return this.running !== undefined;
  }

  add(label: string, undo: () => Promise<void> | void, timeoutMs = 20_000): void {
    this.tasks.push({ label, undo, timeoutMs });
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      while (this.tasks.length > 0) {
        const task = this.tasks.pop()!;
        try {
          await withTimeout(Promise.resolve(task.undo()), task.timeoutMs, task.label);
        } catch (error) {
          this.log(`cleanup: ${task.label} failed: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    })();
    return this.running;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${label}: timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export interface Child {
  name: string;
  pid: number;
  process: ChildProcess;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<string>;
  hasExited(): boolean;
  /** The last lines of its combined output, for error messages. */
  tail(lines?: number): string;
  /** SIGTERM, then SIGKILL after a grace period; resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts a process with its output in `logFile`, registered for cleanup. */
export function startChild(
  name: string,
  command: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; cwd: string; logFile: string },
  cleanup: Cleanup,
): Child {
  const log = createWriteStream(options.logFile);
  const child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  let done = false;
  const exited = new Promise<string>((resolve) => {
    child.once('error', (error) => {
      done = true;
      resolve(`spawn error: ${error.message}`);
    });
    child.once('exit', (code, signal) => {
      done = true;
      resolve(code !== null ? `code ${code}` : `signal ${signal}`);
    });
  });
  void exited.then(() => setTimeout(() => log.end(), 100));
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const handle: Child = {
    name,
    pid: child.pid,
    process: child,
    exited,
    hasExited: () => done,
    tail(lines = 30) {
      try {
        return readFileSync(options.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '';
      }
    },
    async stop(graceMs = 10_000) {
      if (done) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (!done) child.kill('SIGKILL');
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  cleanup.add(`stop ${name} (pid ${child.pid})`, () => handle.stop());
  return handle;
}

/** A loopback port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `GET path` until the server answers below 500; fails early if the process dies. */
export async function waitForHttp(child: Child, port: number, path: string, host: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.hasExited()) throw new Error(`${child.name} exited (${await child.exited}) before it was ready:\n${child.tail()}`);
    const status = await new Promise<number>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, path, headers: { host }, agent: false, timeout: 2000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.once('timeout', () => req.destroy());
      req.once('error', () => resolve(0));
      req.end();
    });
    if (status > 0 && status < 500) return;
    if (Date.now() > deadline) throw new Error(`${child.name} did not answer on port ${port} within ${timeoutMs / 1000} s:\n${child.tail()}`);
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

/** Resident set size of a process in bytes (VmRSS of /proc/<pid>/status), or undefined once it is gone. */
export function residentBytes(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ: 100 on every Linux build that matters). */
const TICKS_PER_SECOND = 100;

/**
 * CPU seconds (user + system) used so far by the given processes (all their
 * threads) and the children they have reaped; undefined off Linux. Processes
 * that have exited are left out.
 */
export function cpuSeconds(pids: number[]): number | undefined {
  let ticks = 0;
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after the command name (which may hold spaces): state is field 3, utime..cstime are 14..17.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    for (const index of [11, 12, 13, 14]) ticks += Number(fields[index] ?? 0);
  }
  return existsSync('/proc/self/stat') ? ticks / TICKS_PER_SECOND : undefined;
}

/**
 * The machine's CPU time so far, all cores, from /proc/stat's first line (in
 * ticks): `busy` is everything but idle and I/O wait, so it counts the bench
 * client, the registries, their databases and the kernel's own threads
 * (writeback, softirqs) alike, and steal time, which this VM's cores were not
 * given. Undefined off Linux.
 */
export function machineCpuTicks(): { busy: number; total: number } | undefined {
  let line: string;
  try {
    line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  } catch {
    return undefined;
  }
  // cpu user nice system idle iowait irq softirq steal [guest guest_nice, already inside user and nice]
  const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (fields.length < 8 || fields.some((v) => !Number.isFinite(v))) return undefined;
  const total = fields.reduce((a, b) => a + b, 0);
  return { busy: total - fields[3]! - fields[4]!, total };
}

/** Share (0–100) of all cores that were busy between two `machineCpuTicks` readings. */
export function busyPercent(before: { busy: number; total: number }, after: { busy: number; total: number }): number | undefined {
  const total = after.total - before.total;
  return total > 0 ? ((after.busy - before.busy) * 100) / total : undefined;
}

/** Pids of the processes whose command name is `name` (the postgres server and its backends, say). */
export function pidsNamed(name: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  return entries.filter((entry) => /^\d+$/.test(entry) && readComm(entry) === name).map(Number);
}

function readComm(pid: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS every 50 ms until stopped; reports the peak and the first sample. */
export function sampleRss(pid: number): { stop(): { peakBytes: number; startBytes: number } } {
  const startBytes = residentBytes(pid) ?? 0;
  let peakBytes = startBytes;
  const timer = setInterval(() => {
    const rss = residentBytes(pid);
    if (rss !== undefined && rss > peakBytes) peakBytes = rss;
  }, 50);
  return {
    stop() {
      clearInterval(timer);
      const rss = residentBytes(pid);
      if (rss !== undefined && rss > peakBytes) peakBytes = rss;
      return { peakBytes, startBytes };
    },
  };
}

/** Runs a command to completion; resolves with its output, rejects with it on failure. */
export function runCommand(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${command} ${args.join(' ')} failed (${code ?? signal}):\n${(stderr || stdout).trim().slice(-2000)}`));
    });
  });
}
