import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { checkKreplayImportable, chooseInterpreter, installAdvice } from '../../src/interpreter';
import { repoRoot, temporaryDirectory, testPython } from '../support';

describe('chooseInterpreter', () => {
  it('prefers the setting, then the Python extension, then python3', () => {
    assert.deepEqual(chooseInterpreter('/opt/py/bin/python', '/venv/bin/python'), {
      path: '/opt/py/bin/python', source: 'setting kreplay.pythonPath',
    });
    assert.deepEqual(chooseInterpreter('  ', '/venv/bin/python'), { path: '/venv/bin/python', source: 'Python extension' });
    assert.deepEqual(chooseInterpreter(undefined, undefined), { path: 'python3', source: 'default' });
  });
});

describe('checkKreplayImportable', () => {
  it('accepts an interpreter that can import kreplay_dap', async () => {
    // `python -c` puts its working directory on sys.path: the repository root has kreplay_dap.
    assert.equal(await checkKreplayImportable({ path: testPython(), source: 'default' }, repoRoot), undefined);
  });

  it('tells how to install kreplay when the interpreter cannot run', async () => {
    const missing = path.join(temporaryDirectory(), 'no-such-python');
    const advice = await checkKreplayImportable({ path: missing, source: 'setting kreplay.pythonPath' });
    assert.ok(advice !== undefined);
    assert.match(advice, /cannot import kreplay_dap/);
    assert.match(advice, /-m pip install "kreplay\[tools\]"/);
    assert.ok(advice.includes(missing));
  });

  it('advice names the interpreter, where it came from and the setting', () => {
    const advice = installAdvice({ path: '/usr/bin/python3', source: 'Python extension' }, 'No module named kreplay_dap');
    assert.match(advice, /"\/usr\/bin\/python3" \(from Python extension\)/);
    assert.match(advice, /No module named kreplay_dap/);
    assert.match(advice, /"kreplay\.pythonPath"/);
  });
});
