import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listSessions, parseSessionsJson, sessionPickItems } from '../../src/sessions';
import { makeRecording, pythonEnv, type RecordingDescription, repoRoot, temporaryDirectory, testPython } from '../support';

describe('parseSessionsJson', () => {
  it('reads the CLI shape and validates it', () => {
    const text = JSON.stringify({
      database: 'r.db',
      format: 'kreplay',
      sessions: [{ session_id: 'a', operations: 3, actors: { op: 2, kubectl: 1 }, start_ns: 1e18, end_ns: 2e18 }],
    });
    assert.deepEqual(parseSessionsJson(text)[0], {
      sessionId: 'a', operations: 3, operator: '', actors: { op: 2, kubectl: 1 }, startNs: 1e18, endNs: 2e18,
    });
  });

  it('names what is wrong with malformed output', () => {
    assert.throws(() => parseSessionsJson('not json'), /invalid JSON/);
    assert.throws(() => parseSessionsJson('{"database": "x"}'), /without a "sessions" list/);
    assert.throws(() => parseSessionsJson('{"sessions": [{"operations": 1}]}'), /entry 0 has no "session_id"/);
    assert.throws(() => parseSessionsJson('null'), /without a "sessions" list/);
  });

  it('turns odd counts into zero rather than NaN', () => {
    const sessions = parseSessionsJson('{"sessions": [{"session_id": "a", "operations": "many", "actors": {"x": -1}}]}');
    assert.equal(sessions[0]?.operations, 0);
    assert.deepEqual(sessions[0].actors, { x: 0 });
  });
});

describe('sessionPickItems', () => {
  it('labels by session id with counts, busiest actors first and the time range', () => {
    const items = sessionPickItems([{
      sessionId: 's1', operations: 240, operator: 'widget-operator', actors: { kubectl: 3, op: 200 },
      startNs: Date.UTC(2024, 0, 2, 3, 4, 5) * 1e6, endNs: undefined,
    }]);
    assert.equal(items[0]?.label, 's1');
    assert.equal(items[0].description, '240 operations');
    assert.equal(items[0].detail, 'widget-operator · 2024-01-02 03:04:05Z → ? · actors: op (200), kubectl (3)');
  });
});

describe('listSessions (real kreplay CLI)', function () {
  let directory = '';
  let recording: RecordingDescription;
  before(function () {
    directory = temporaryDirectory();
    recording = makeRecording(directory);
  });
  after(() => { fs.rmSync(directory, { recursive: true, force: true }); });

  it('lists the sessions of a recording through `kreplay sessions --format json`', async () => {
    const previous = process.env.PYTHONPATH;
    process.env.PYTHONPATH = pythonEnv().PYTHONPATH;
    try {
      const sessions = await listSessions(testPython(), recording.database, repoRoot);
      assert.equal(sessions.length, 1);
      assert.equal(sessions[0]?.sessionId, recording.session);
      assert.equal(sessions[0].operations, recording.operations);
      assert.ok((sessions[0].actors['widget-operator'] ?? 0) > 0);
    } finally {
      if (previous === undefined) { delete process.env.PYTHONPATH; } else { process.env.PYTHONPATH = previous; }
    }
  });

  it('reports the CLI error for a file that is not a recording', async () => {
    const bogus = path.join(directory, 'not-a-recording.db');
    fs.writeFileSync(bogus, 'this is not SQLite');
    await assert.rejects(listSessions(testPython(), bogus, repoRoot), /kreplay sessions failed for .*not-a-recording\.db: \S/);
  });
});
