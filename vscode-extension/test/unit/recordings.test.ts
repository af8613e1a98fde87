import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import {
  describeIndexed,
  isRecordingFile,
  looksLikeRecording,
  MAX_RECORDINGS,
  MAX_SERVER_RECORDINGS,
  parsePathMappings,
  serverSettings,
  splitRecordingSetting,
} from '../../src/recordings';
import { makeRecording, pythonEnv, repoRoot, temporaryDirectory, testPython } from '../support';

describe('recording detection', () => {
  let directory = '';
  before(() => { directory = temporaryDirectory(); });
  after(() => { fs.rmSync(directory, { recursive: true, force: true }); });

  it('recognises a recording written by the recorder', async () => {
    const recording = makeRecording(directory);
    assert.ok(await isRecordingFile(recording.database));
  });

  it('rejects other files, other SQLite databases and missing files', async () => {
    const text = path.join(directory, 'notes.db');
    fs.writeFileSync(text, 'hello');
    assert.equal(await isRecordingFile(text), false);
    assert.equal(await isRecordingFile(path.join(directory, 'absent.db')), false);
    const otherSqlite = Buffer.concat([Buffer.from('SQLite format 3\u0000', 'latin1'), Buffer.from('CREATE TABLE users (id)')]);
    assert.equal(looksLikeRecording(otherSqlite), false);
  });

  it('recognises a recording whose schema is still only in its write-ahead log', async () => {
    const main = path.join(directory, 'writing.db');
    fs.writeFileSync(main, Buffer.from('SQLite format 3\u0000', 'latin1'));
    assert.equal(await isRecordingFile(main), false, 'no schema anywhere yet');
    fs.writeFileSync(`${main}-wal`, Buffer.from('....CREATE TABLE kreplay_meta (key TEXT)', 'latin1'));
    assert.ok(await isRecordingFile(main));
    const other = path.join(directory, 'other.db');
    fs.writeFileSync(other, 'plain text');
    fs.writeFileSync(`${other}-wal`, Buffer.from('CREATE TABLE kreplay_meta', 'latin1'));
    assert.equal(await isRecordingFile(other), false, 'a non-SQLite main file is never a recording');
  });

  it('recognises a recording while the recorder still has it open', async () => {
    const database = path.join(directory, 'live.db');
    // A real RecordingWriter that keeps the file open until its stdin closes.
    const script = [
      'import sys',
      'from recorder.storage import RecordingWriter, SessionInfo',
      'writer = RecordingWriter(sys.argv[1])',
      'writer.begin_session(SessionInfo("live"))',
      'print("ready", flush=True)',
      'sys.stdin.read()',
      'writer.close()',
    ].join('\n');
    const child = spawn(testPython(), ['-c', script, database], { cwd: repoRoot, env: pythonEnv(), stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
      assert.equal((await lines.next()).value, 'ready');
      assert.ok(await isRecordingFile(database), 'found while being written');
    } finally {
      child.stdin.end();
      await once(child, 'exit');
    }
    assert.ok(await isRecordingFile(database), 'found after the recorder closed it');
  });

  it('recognises the original Go tool\'s schema', () => {
    const legacy = Buffer.concat([Buffer.from('SQLite format 3\u0000', 'latin1'), Buffer.from('CREATE TABLE operations (id INTEGER)')]);
    assert.ok(looksLikeRecording(legacy));
  });
});

describe('language server settings', () => {
  it('splits globs from explicit entries and counts malformed items', () => {
    const split = splitRecordingSetting(['**/*.db', { database: 'a.db', session: 's' }, { database: 'b.db' }, 3, { session: 'x' }, '']);
    assert.deepEqual(split, {
      globs: ['**/*.db'],
      explicit: [{ database: 'a.db', session: 's' }, { database: 'b.db' }],
      invalid: 3,
    });
    assert.deepEqual(splitRecordingSetting('nope'), { globs: [], explicit: [], invalid: 0 });
  });

  it('resolves relative local roots and drops malformed mappings', () => {
    assert.deepEqual(
      parsePathMappings([{ localRoot: 'op', remoteRoot: '/app' }, { localRoot: '/abs', remoteRoot: '/x' }, { localRoot: 1 }, null], '/w'),
      [{ localRoot: '/w/op', remoteRoot: '/app' }, { localRoot: '/abs', remoteRoot: '/x' }],
    );
  });

  it('keeps explicit entries first, one entry per database, bounded', () => {
    const settings = serverSettings([{ database: '/w/a.db', session: 's' }], ['/w/c.db', '/w/a.db', '/w/b.db'], []);
    assert.deepEqual(settings.recordings, [{ database: '/w/a.db', session: 's' }, { database: '/w/b.db' }, { database: '/w/c.db' }]);
    const many = Array.from({ length: MAX_RECORDINGS * 2 }, (_, i) => `/w/${i}.db`);
    assert.equal(serverSettings([], many, []).recordings.length, MAX_SERVER_RECORDINGS);
  });
});

describe('describeIndexed', () => {
  it('summarises the server\'s kreplay/indexed notification in one line', () => {
    const summary = { recordings: [{ database: '/w/a.db', session: 's1', lastSeq: 20, findings: 2, analyzed: true }] };
    assert.equal(describeIndexed(summary), 's1 in /w/a.db (up to #20, 2 findings)');
    assert.equal(describeIndexed({ recordings: [] }), 'no recordings');
    assert.match(describeIndexed(null), /malformed/);
  });
});
