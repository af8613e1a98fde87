// Runs a short-lived child process with bounded output and a time limit. No `vscode` import.
import { spawn } from 'node:child_process';

export interface ProcessResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

export interface ProcessOptions {
  timeoutMs: number;
  maxOutputBytes: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Resolves when the process ends; rejects when it cannot start, runs too long or says too much. */
export function runProcess(command: string, args: readonly string[], options: ProcessOptions): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      size += chunk.length;
      if (size > options.maxOutputBytes) {
        child.kill();
        reject(new Error(`${command} printed more than ${options.maxOutputBytes} bytes`));
        return;
      }
      into.push(chunk);
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(err));
    child.on('error', (error) => {
      reject(new Error(`cannot run ${command}: ${error.message}`));
    });
    child.on('close', (exitCode, signal) => {
      if (signal !== null && exitCode === null) {
        reject(new Error(`${command} ${args.join(' ')} was stopped by ${signal} (time limit ${options.timeoutMs} ms)`));
        return;
      }
      resolve({ exitCode, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}
