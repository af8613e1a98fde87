// Keeps package.json's launch attributes equal to the adapter's launch-argument schema,
// kreplay_dap/dap/launch_arguments.json (the single definition).
//   --write: regenerate package.json from the schema
//   --check: fail when they differ (run by `npm test`; tests/test_extension_manifest.py checks too)
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const packagePath = join(here, '..', 'package.json');
const schemaPath = join(here, '..', '..', 'kreplay_dap', 'dap', 'launch_arguments.json');

/** The `configurationAttributes.launch` value the schema implies. */
function launchAttributes(schema) {
  if (schema === null || typeof schema !== 'object' || typeof schema.properties !== 'object') {
    throw new Error(`${schemaPath}: expected a JSON schema object with "properties"`);
  }
  return { required: schema.required ?? [], properties: schema.properties };
}

function main(mode) {
  if (mode !== '--write' && mode !== '--check') {
    console.error('usage: launch-schema.mjs --write|--check');
    return 2;
  }
  if (!existsSync(schemaPath)) {
    console.log(`launch-schema: skipped, ${schemaPath} does not exist yet`);
    return 0;
  }
  const manifest = JSON.parse(readFileSync(packagePath, 'utf8'));
  const expected = launchAttributes(JSON.parse(readFileSync(schemaPath, 'utf8')));
  const debuggers = manifest.contributes.debuggers.filter((d) => d.type === 'kreplay');
  if (debuggers.length !== 1) {
    console.error('launch-schema: package.json must contribute exactly one "kreplay" debugger');
    return 1;
  }
  const actual = debuggers[0].configurationAttributes.launch;
  if (mode === '--check') {
    if (isDeepStrictEqual(actual, expected)) {
      console.log('launch-schema: package.json launch attributes match launch_arguments.json');
      return 0;
    }
    console.error('launch-schema: package.json launch attributes differ from');
    console.error(`  ${schemaPath}; run "npm run schema:sync" and commit package.json`);
    return 1;
  }
  debuggers[0].configurationAttributes.launch = expected;
  writeFileSync(packagePath, JSON.stringify(manifest, null, 2) + '\n');
  console.log('launch-schema: package.json updated from launch_arguments.json');
  return 0;
}

process.exitCode = main(process.argv[2]);
