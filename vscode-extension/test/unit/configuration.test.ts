import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  checkDatabase,
  dynamicConfigurations,
  expandVariables,
  fillDefaults,
  launchSchemaOf,
  MAX_DYNAMIC_CONFIGURATIONS,
  parseReplayTarget,
  replayFromHereConfiguration,
} from '../../src/configuration';
import { extensionRoot } from '../support';

const manifest: unknown = JSON.parse(fs.readFileSync(path.join(extensionRoot, 'package.json'), 'utf8'));
const schema = launchSchemaOf(manifest);

describe('fillDefaults', () => {
  it('fills type, request, name and the schema defaults without touching given values', () => {
    const result = fillDefaults({ database: 'rec.db', stopOnEntry: false }, schema, undefined);
    assert.ok(result.ok);
    const c = result.configuration;
    assert.equal(c.type, 'kreplay');
    assert.equal(c.request, 'launch');
    assert.equal(c.name, 'Replay session');
    assert.equal(c.database, 'rec.db');
    assert.equal(c.stopOnEntry, false, 'a value the user gave is kept');
    for (const [key, property] of Object.entries(schema.properties)) {
      if (property.default !== undefined && key !== 'stopOnEntry') {
        assert.deepEqual(c[key], property.default, `default of ${key}`);
      }
    }
  });

  it('turns an empty configuration (F5 without launch.json) into one for the first recording', () => {
    const result = fillDefaults({}, schema, '/w/recordings/a.db');
    assert.ok(result.ok);
    assert.equal(result.configuration.database, '/w/recordings/a.db');
    assert.equal(result.configuration.type, 'kreplay');
  });

  it('aborts with a message that says what to do when there is no database at all', () => {
    const result = fillDefaults({}, schema, undefined);
    assert.ok(!result.ok);
    assert.match(result.message, /no recording to replay/);
    assert.match(result.message, /"database"/);
  });

  it('does not share default objects between configurations', () => {
    const first = fillDefaults({ database: 'a.db' }, schema, undefined);
    const second = fillDefaults({ database: 'b.db' }, schema, undefined);
    assert.ok(first.ok && second.ok);
    const withObject = Object.keys(schema.properties).find((k) => typeof schema.properties[k]?.default === 'object');
    if (withObject !== undefined) {
      assert.notEqual(first.configuration[withObject], second.configuration[withObject]);
    }
  });
});

describe('checkDatabase', () => {
  const exists = (file: string): boolean => file === '/work/recordings.db';

  it('accepts an existing file and resolves a relative path against the folder', () => {
    const result = checkDatabase({ database: 'recordings.db' }, '/work', exists);
    assert.ok(result.ok);
    assert.equal(result.configuration.database, '/work/recordings.db');
  });

  it('aborts with a clear message naming the missing file', () => {
    const result = checkDatabase({ database: '/work/missing.db' }, '/work', exists);
    assert.ok(!result.ok);
    assert.match(result.message, /"\/work\/missing\.db" does not exist/);
  });

  it('rejects a database that is not a string', () => {
    for (const database of [undefined, 42, '', '  ']) {
      const result = checkDatabase({ database }, '/work', exists);
      assert.ok(!result.ok, `database ${String(database)}`);
      assert.match(result.message, /"database" must be the path/);
    }
  });

  it('checks against the real file system through the caller', () => {
    const real = (file: string): boolean => fs.existsSync(file) && fs.statSync(file).isFile();
    assert.ok(checkDatabase({ database: 'package.json' }, extensionRoot, real).ok);
    assert.ok(!checkDatabase({ database: 'src' }, extensionRoot, real).ok, 'a directory is not a recording');
  });
});

describe('dynamicConfigurations', () => {
  it('offers one configuration per recording, portable inside the folder', () => {
    const configs = dynamicConfigurations(['/w/b/two.db', '/w/one.db', '/elsewhere/x.db'], '/w');
    assert.deepEqual(
      configs.map((c) => [c.name, c.database]),
      [
        ['Replay /elsewhere/x.db', '/elsewhere/x.db'],
        ['Replay b/two.db', '${workspaceFolder}/b/two.db'],
        ['Replay one.db', '${workspaceFolder}/one.db'],
      ],
    );
    for (const c of configs) {
      assert.equal(c.type, 'kreplay');
      assert.equal(c.request, 'launch');
    }
  });

  it('is bounded', () => {
    const many = Array.from({ length: MAX_DYNAMIC_CONFIGURATIONS + 10 }, (_, i) => `/w/r${i}.db`);
    assert.equal(dynamicConfigurations(many, '/w').length, MAX_DYNAMIC_CONFIGURATIONS);
  });
});

describe('expandVariables', () => {
  it('expands workspaceFolder and userHome, leaves others for VS Code', () => {
    assert.equal(expandVariables('${workspaceFolder}/a/${userHome}/${env:X}', '/w', '/h'), '/w/a//h/${env:X}');
    assert.equal(expandVariables('${workspaceFolder}/a', undefined, '/h'), '${workspaceFolder}/a');
  });
});

describe('replayFromHere', () => {
  it('accepts positional and object arguments', () => {
    const expected = { database: '/r.db', session: 's1', seq: 12 };
    assert.deepEqual(parseReplayTarget(['/r.db', 's1', 12]), expected);
    assert.deepEqual(parseReplayTarget([{ database: '/r.db', session: 's1', seq: 12 }]), expected);
  });

  it('names the bad argument', () => {
    const cases: [unknown[], RegExp][] = [
      [[], /"database"/],
      [['/r.db', '', 1], /"session"/],
      [['/r.db', 's', -1], /"seq"/],
      [['/r.db', 's', 1.5], /"seq"/],
      [['/r.db', 's', '3'], /"seq"/],
    ];
    for (const [args, expected] of cases) {
      const result = parseReplayTarget(args);
      assert.equal(typeof result, 'string', JSON.stringify(args));
      assert.match(result as string, expected);
    }
  });

  it('builds a launch configuration that stops at that operation, using only known attributes', () => {
    const config = replayFromHereConfiguration({ database: '/r.db', session: 's1', seq: 12 });
    assert.equal(config.startAt, 12);
    assert.equal(config.stopOnEntry, true);
    assert.equal(config.session, 's1');
    for (const key of Object.keys(config)) {
      if (!['type', 'request', 'name'].includes(key)) {
        assert.ok(key in schema.properties, `${key} is a launch argument of the adapter`);
      }
    }
  });
});
