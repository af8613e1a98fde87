// Builds the .vsix with @vscode/vsce into a temporary directory and checks what it contains:
// the compiled extension, its manifest, README, LICENSE and runtime dependencies; no sources,
// tests or development tools. Usage: node scripts/package-check.mjs [--keep DIR]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const MAX_ENTRIES = 100_000;

/** Names of the entries of a zip file, from its central directory. */
function zipEntries(buffer) {
  const minimum = Math.max(0, buffer.length - 65_557);
  let end = -1;
  for (let i = buffer.length - 22; i >= minimum; i -= 1) {
    if (buffer.readUInt32LE(i) === 0x06054b50) {
      end = i;
      break;
    }
  }
  if (end < 0) {
    throw new Error('not a zip file: no end of central directory');
  }
  const count = buffer.readUInt16LE(end + 10);
  let offset = buffer.readUInt32LE(end + 16);
  const names = [];
  for (let index = 0; index < Math.min(count, MAX_ENTRIES); index += 1) {
    if (buffer.readUInt32LE(offset) !== 0x02014b50) {
      throw new Error(`corrupt central directory at entry ${index}`);
    }
    const nameLength = buffer.readUInt16LE(offset + 28);
    const extraLength = buffer.readUInt16LE(offset + 30);
    const commentLength = buffer.readUInt16LE(offset + 32);
    names.push(buffer.toString('utf8', offset + 46, offset + 46 + nameLength));
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return names;
}

function check(names) {
  const problems = [];
  const required = [
    'extension.vsixmanifest',
    'extension/package.json',
    'extension/out/src/extension.js',
    'extension/out/src/configuration.js',
    'extension/out/src/debugProvider.js',
    'extension/out/src/languageClient.js',
    'extension/readme.md',
    'extension/LICENSE.txt',
    'extension/node_modules/vscode-languageclient/package.json',
    'extension/node_modules/vscode-languageclient/node.js',
  ];
  const lower = new Set(names.map((n) => n.toLowerCase()));
  for (const name of required) {
    if (!lower.has(name.toLowerCase())) {
      problems.push(`missing ${name}`);
    }
  }
  const forbidden = [
    /^extension\/src\//, /^extension\/test\//, /^extension\/out\/test\//, /\.ts$/, /\.map$/,
    /^extension\/node_modules\/(typescript|mocha|eslint|@vscode\/vsce|@vscode\/debugadapter-testsupport)\//,
    /^extension\/scripts\//, /\.vsix$/,
  ];
  for (const name of names) {
    if (forbidden.some((pattern) => pattern.test(name) && !name.endsWith('.d.ts'))) {
      problems.push(`should not ship ${name}`);
    }
  }
  return problems;
}

function main(args) {
  const directory = mkdtempSync(join(tmpdir(), 'kreplay-vsix-'));
  const vsix = join(directory, 'kreplay.vsix');
  try {
    const vsce = join(root, 'node_modules', '@vscode', 'vsce', 'vsce');
    execFileSync(process.execPath, [vsce, 'package', '--out', vsix, '--allow-missing-repository'], {
      cwd: root,
      stdio: 'inherit',
    });
    const names = zipEntries(readFileSync(vsix));
    const problems = check(names);
    if (problems.length > 0) {
      console.error(`package-check: ${vsix} is wrong:\n  ${problems.join('\n  ')}`);
      return 1;
    }
    console.log(`package-check: ${names.length} files, extension, manifest, README, LICENSE, runtime dependencies present`);
    if (args[0] === '--keep' && args[1]) {
      copyFileSync(vsix, args[1]);
      console.log(`package-check: kept ${args[1]}`);
    }
    return 0;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

process.exitCode = main(process.argv.slice(2));
