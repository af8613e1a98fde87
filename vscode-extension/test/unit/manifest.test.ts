import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { launchSchemaOf } from '../../src/configuration';
import { extensionRoot } from '../support';

interface Debugger {
  type: string;
  label: string;
  initialConfigurations: Record<string, unknown>[];
  configurationSnippets: { label: string; body: Record<string, unknown> }[];
}
interface Manifest {
  main: string;
  contributes: {
    debuggers: Debugger[];
    breakpoints: { language: string }[];
    languages: { id: string }[];
    commands: { command: string }[];
    configuration: { properties: Record<string, unknown> };
  };
}

const manifest = JSON.parse(fs.readFileSync(path.join(extensionRoot, 'package.json'), 'utf8')) as Manifest;
const schema = launchSchemaOf(manifest);
const kreplay = manifest.contributes.debuggers.find((d) => d.type === 'kreplay');
const clientKeys = new Set(['type', 'request', 'name']);

describe('package.json', () => {
  it('contributes the "Kubernetes Operator Replay" debugger', () => {
    assert.equal(kreplay?.label, 'Kubernetes Operator Replay');
  });

  it('offers a "Replay session" initial configuration and snippet using only launch arguments', () => {
    const configs = [...(kreplay?.initialConfigurations ?? []), ...(kreplay?.configurationSnippets ?? []).map((s) => s.body)];
    assert.ok(configs.some((c) => c.name === 'Replay session'));
    assert.ok(kreplay?.configurationSnippets.some((s) => s.label.endsWith('Replay session')));
    for (const config of configs) {
      for (const key of (schema.required ?? [])) {
        assert.ok(key in config, `required ${key} in ${String(config.name)}`);
      }
      for (const key of Object.keys(config)) {
        assert.ok(clientKeys.has(key) || key in schema.properties, `${key} is a launch argument`);
      }
      assert.equal(config.type, 'kreplay');
    }
  });

  it('picks the session with ${command:kreplay.pickSession}, a declared command', () => {
    assert.equal(kreplay?.initialConfigurations[0]?.session, '${command:kreplay.pickSession}');
    const commands = manifest.contributes.commands.map((c) => c.command);
    assert.ok(commands.includes('kreplay.pickSession'));
    assert.ok(commands.includes('kreplay.replayFromHere'));
  });

  it('allows breakpoints in Python and in the session listing language', () => {
    const languages = manifest.contributes.breakpoints.map((b) => b.language);
    assert.ok(languages.includes('python'));
    for (const language of manifest.contributes.languages.map((l) => l.id)) {
      assert.ok(languages.includes(language), `breakpoints in ${language}`);
    }
  });

  it('duplicates no exception filter or data breakpoint of the adapter', () => {
    const text = JSON.stringify(manifest);
    assert.ok(!text.includes('exceptionBreakpointFilters'));
    assert.ok(!text.includes('Conflicts (409)'));
  });

  it('declares the settings the extension reads', () => {
    for (const setting of ['kreplay.pythonPath', 'kreplay.recordings', 'kreplay.pathMappings', 'kreplay.languageServer.enabled']) {
      assert.ok(setting in manifest.contributes.configuration.properties, setting);
    }
  });
});

describe('modules without vscode', () => {
  it('the unit-tested modules never import vscode (so they run in plain node)', () => {
    for (const module of ['configuration', 'sessions', 'recordings', 'interpreter', 'process']) {
      const source = fs.readFileSync(path.join(extensionRoot, 'src', `${module}.ts`), 'utf8');
      assert.ok(!/from 'vscode'|require\('vscode'\)/.test(source), `${module}.ts imports vscode`);
    }
  });
});
