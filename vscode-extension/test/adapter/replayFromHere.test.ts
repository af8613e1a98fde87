// From a CodeLens to a stopped debug session: the real language server (`python -m kreplay_dap.lsp`)
// gets the settings the extension computes, its lens carries `kreplay.replayFromHere`, and the
// configuration the extension builds from the lens's arguments makes the real adapter stop there.
import * as assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { createMessageConnection, type MessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { parseReplayTarget, replayFromHereConfiguration } from '../../src/configuration';
import { serverSettings } from '../../src/recordings';
import { makeRecording, mark, pythonEnv, type RecordingDescription, repoRoot, temporaryDirectory, testPython } from '../support';
import { EVENT_TIMEOUT_MS, newClient, position, start } from './dap';

const MAX_LOG_CHARS = 20_000;

interface Lens {
  range: { start: { line: number } };
  command?: { title: string; command: string; arguments?: unknown[] };
}
interface IndexedSummary {
  recordings: { database: string; session: string; lastSeq: number }[];
}

/** Resolves with the first `kreplay/indexed` notification that lists `database`. */
function indexed(connection: MessageConnection, database: string): Promise<IndexedSummary> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`the language server did not index ${database} within ${EVENT_TIMEOUT_MS} ms`));
    }, EVENT_TIMEOUT_MS);
    const subscription = connection.onNotification('kreplay/indexed', (summary: IndexedSummary) => {
      if (summary.recordings.some((r) => r.database === database)) {
        clearTimeout(timer);
        subscription.dispose();
        resolve(summary);
      }
    });
  });
}

describe('kreplay.replayFromHere: language server lens to adapter stop', function () {
  this.timeout(4 * EVENT_TIMEOUT_MS);
  let directory = '';
  let recording: RecordingDescription;
  let server: ChildProcess;
  let connection: MessageConnection;
  let serverLog = '';

  before(() => {
    directory = temporaryDirectory();
    recording = makeRecording(directory);
    server = spawn(testPython(), ['-m', 'kreplay_dap.lsp'], { cwd: repoRoot, env: pythonEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    if (server.stdout === null || server.stdin === null || server.stderr === null) {
      throw new Error('the language server has no stdio pipes');
    }
    server.stderr.on('data', (chunk: Buffer) => {
      // Keep the end of the server's log for a failure report; bounded.
      serverLog = (serverLog + chunk.toString('utf8')).slice(-MAX_LOG_CHARS);
    });
    connection = createMessageConnection(new StreamMessageReader(server.stdout), new StreamMessageWriter(server.stdin));
    connection.listen();
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') {
      console.error(`language server log (end):\n${serverLog}`);
    }
  });
  after(async () => {
    await connection.sendRequest('shutdown').catch(() => undefined); // already gone: nothing to shut down
    await connection.sendNotification('exit').catch(() => undefined);
    connection.dispose();
    server.kill();
    fs.rmSync(directory, { recursive: true, force: true });
  });

  it('starts a replay stopped at the first call made from the lens\'s line', async () => {
    const ready = indexed(connection, recording.database);
    // Exactly what the extension sends: found recordings, resolved to absolute paths.
    const initializationOptions = serverSettings([], [recording.database], []);
    await connection.sendRequest('initialize', {
      processId: process.pid, rootUri: pathToFileURL(directory).href, capabilities: {}, initializationOptions,
    });
    await connection.sendNotification('initialized', {});
    await ready;
    const uri = pathToFileURL(recording.source).href;
    await connection.sendNotification('textDocument/didOpen', {
      textDocument: { uri, languageId: 'python', version: 1, text: fs.readFileSync(recording.source, 'utf8') },
    });
    const lenses: Lens[] = await connection.sendRequest('textDocument/codeLens', { textDocument: { uri } });
    const line = recording.lines.update_status;
    assert.ok(line !== undefined);
    const lens = lenses.find((l) => l.range.start.line === line - 1 && l.command?.command === 'kreplay.replayFromHere');
    assert.ok(lens?.command !== undefined, `a replay lens on line ${line}: ${JSON.stringify(lenses)}`);
    const target = parseReplayTarget(lens.command.arguments ?? []);
    assert.ok(typeof target !== 'string', target as string);
    assert.equal(target.database, recording.database);
    assert.equal(target.session, recording.session);
    assert.equal(target.seq, mark(recording, 'loop_first'));

    const client = newClient();
    await client.start();
    try {
      const { stopped } = await start(client, replayFromHereConfiguration(target), []);
      assert.equal(stopped.reason, 'entry');
      assert.equal(await position(client), target.seq);
    } finally {
      await client.stop();
    }
  });
});
