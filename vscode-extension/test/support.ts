// Shared by the tests: the repository, the Python to use, and fresh recordings.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const extensionRoot = path.resolve(__dirname, '..', '..');
export const repoRoot = path.resolve(extensionRoot, '..');
export const fixtures = path.join(extensionRoot, 'test', 'fixtures');

/** `$KREPLAY_PYTHON`, else the repository's .venv, else `python3`. */
export function testPython(): string {
  const fromEnv = process.env.KREPLAY_PYTHON;
  if (fromEnv !== undefined && fromEnv !== '') {
    return fromEnv;
  }
  const venv = path.join(repoRoot, '.venv', 'bin', 'python');
  return fs.existsSync(venv) ? venv : 'python3';
}

/** The environment for Python children: the repository first on PYTHONPATH. */
export function pythonEnv(): NodeJS.ProcessEnv {
  const inherited = process.env.PYTHONPATH;
  const pythonPath = inherited ? `${repoRoot}${path.delimiter}${inherited}` : repoRoot;
  return { ...process.env, PYTHONPATH: pythonPath, PYTHONUNBUFFERED: '1' };
}

export interface RecordingDescription {
  database: string;
  session: string;
  operations: number;
  loopRepeats: number;
  marks: Record<string, number>;
  source: string;
  lines: Record<string, number>;
}

export function temporaryDirectory(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'kreplay-ext-'));
}

/** Writes a fresh recording with test/fixtures/make_recording.py and returns its description. */
export function makeRecording(directory: string): RecordingDescription {
  const output = execFileSync(
    testPython(),
    [path.join(fixtures, 'make_recording.py'), path.join(directory, 'widget.db')],
    { cwd: repoRoot, env: pythonEnv(), encoding: 'utf8' },
  );
  return JSON.parse(output) as RecordingDescription;
}

export function mark(recording: RecordingDescription, name: string): number {
  const seq = recording.marks[name];
  if (seq === undefined) {
    throw new Error(`the test recording has no operation marked ${name}`);
  }
  return seq;
}
