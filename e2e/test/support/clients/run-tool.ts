import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import * as path from 'node:path';

export interface ToolResult {
  command: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface ToolOptions {
  /** Written to the child's stdin (then closed), e.g. a password for `--password-stdin`. */
  stdin?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
  /** Strings masked in the command line shown in failures (credentials given as arguments). */
  secrets?: string[];
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** True when `tool` is an executable on the PATH. */
export function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      accessSync(path.join(dir, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const secret of secrets) if (secret) out = out.split(secret).join('***');
  return out;
}

/**
 * Runs a client tool without a shell, with a hard timeout (SIGKILL), and
 * resolves with its exit status and output whatever the outcome.
 */
export function runTool(tool: string, args: string[], options: ToolOptions = {}): Promise<ToolResult> {
  const secrets = options.secrets ?? [];
  const command = redact([tool, ...args].join(' '), secrets);
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${command}: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        command,
        code,
        signal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: redact(Buffer.concat(stderr).toString('utf8'), secrets),
        timedOut,
      });
    });
    child.stdin.on('error', () => undefined); // the tool may exit without reading stdin
    child.stdin.end(options.stdin ?? '');
  });
}

/** A readable account of a run, for failure messages in CI logs. */
export function describeRun(result: ToolResult): string {
  const outcome = result.timedOut ? 'timed out' : result.signal ? `killed by ${result.signal}` : `exited with ${result.code}`;
  const tail = (text: string) => (text.length > 4000 ? `…${text.slice(-4000)}` : text);
  return `$ ${result.command}\n${outcome}\n--- stderr ---\n${tail(result.stderr)}\n--- stdout ---\n${tail(result.stdout)}`;
}

/** Runs a tool and throws (with its command line, stderr and stdout) unless it exits 0. */
export async function mustRun(tool: string, args: string[], options: ToolOptions = {}): Promise<ToolResult> {
  const result = await runTool(tool, args, options);
  if (result.code !== 0) throw new Error(`client command failed:\n${describeRun(result)}`);
  return result;
}

/**
 * Runs a tool that must fail, and returns its stderr; throws (showing the
 * output) when it succeeds or when it was killed by the timeout instead.
 */
export async function mustFail(tool: string, args: string[], options: ToolOptions = {}): Promise<string> {
  const result = await runTool(tool, args, options);
  if (result.code === 0 || result.timedOut) throw new Error(`client command was expected to fail:\n${describeRun(result)}`);
  return result.stderr;
}
