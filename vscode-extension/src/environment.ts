// Resolves the interpreter for a workspace folder and remembers which ones have kreplay.
import * as os from 'node:os';
import * as vscode from 'vscode';
import { expandVariables } from './configuration';
import { checkKreplayImportable, chooseInterpreter, type Interpreter } from './interpreter';
import { pythonExtensionInterpreter } from './pythonExtension';

export class PythonEnvironment {
  private readonly verified = new Set<string>();

  constructor(private readonly output: vscode.OutputChannel) {}

  /** The interpreter from `kreplay.pythonPath`, else the Python extension, else `python3`. */
  async interpreter(folder: vscode.WorkspaceFolder | undefined): Promise<Interpreter> {
    const setting = vscode.workspace.getConfiguration('kreplay', folder).get<string>('pythonPath');
    const expanded = setting === undefined ? undefined : expandVariables(setting, folder?.uri.fsPath, os.homedir());
    const fromExtension = expanded?.trim() ? undefined : await pythonExtensionInterpreter(folder?.uri, (m) => {
      this.output.appendLine(m);
    });
    const chosen = chooseInterpreter(expanded, fromExtension);
    this.output.appendLine(`kreplay: using ${chosen.path} (from ${chosen.source})`);
    return chosen;
  }

  /** The interpreter, after checking once that it can import kreplay_dap; throws the advice otherwise. */
  async verifiedInterpreter(folder: vscode.WorkspaceFolder | undefined): Promise<Interpreter> {
    const chosen = await this.interpreter(folder);
    if (this.verified.has(chosen.path)) {
      return chosen;
    }
    const advice = await checkKreplayImportable(chosen, folder?.uri.fsPath);
    if (advice !== undefined) {
      this.output.appendLine(advice);
      throw new Error(advice);
    }
    this.verified.add(chosen.path);
    return chosen;
  }

  forget(): void {
    this.verified.clear();
  }
}
