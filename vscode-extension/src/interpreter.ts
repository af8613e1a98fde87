// Which Python runs the adapter and the language server, and whether it has kreplay.
// No `vscode` import: the extension passes in what the setting and the Python extension say.
import { runProcess } from './process';

export const DEFAULT_PYTHON = 'python3';
const CHECK_TIMEOUT_MS = 30_000;

export type InterpreterSource = 'setting kreplay.pythonPath' | 'Python extension' | 'default';

export interface Interpreter {
  path: string;
  source: InterpreterSource;
}

/** The setting wins, then the Python extension's active environment, then `python3`. */
export function chooseInterpreter(setting: string | undefined, pythonExtension: string | undefined): Interpreter {
  if (setting !== undefined && setting.trim() !== '') {
    return { path: setting.trim(), source: 'setting kreplay.pythonPath' };
  }
  if (pythonExtension !== undefined && pythonExtension.trim() !== '') {
    return { path: pythonExtension.trim(), source: 'Python extension' };
  }
  return { path: DEFAULT_PYTHON, source: 'default' };
}

/** What to tell the user when `kreplay_dap` cannot be imported by `interpreter`. */
export function installAdvice(interpreter: Interpreter, reason: string): string {
  return (
    `kreplay: the Python interpreter "${interpreter.path}" (from ${interpreter.source}) cannot import ` +
    `kreplay_dap (${reason}). Install it there with \`"${interpreter.path}" -m pip install "kreplay[tools]"\` ` +
    '(from a clone: `pip install -e ".[tools]"`), or set "kreplay.pythonPath" to an interpreter that has it.'
  );
}

/** Undefined when `python -c "import kreplay_dap"` works, else the advice to show. */
export async function checkKreplayImportable(interpreter: Interpreter, cwd?: string): Promise<string | undefined> {
  try {
    const result = await runProcess(interpreter.path, ['-c', 'import kreplay_dap.dap'], {
      timeoutMs: CHECK_TIMEOUT_MS,
      maxOutputBytes: 1024 * 1024,
      ...(cwd === undefined ? {} : { cwd }),
    });
    if (result.exitCode === 0) {
      return undefined;
    }
    const lines = result.stderr.trim().split('\n');
    return installAdvice(interpreter, lines[lines.length - 1] ?? `exit code ${String(result.exitCode)}`);
  } catch (error) {
    return installAdvice(interpreter, error instanceof Error ? error.message : String(error));
  }
}
