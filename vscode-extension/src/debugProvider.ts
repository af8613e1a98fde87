// The kreplay debugger in VS Code: configurations, the adapter process and the session picker.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as vscode from 'vscode';
import {
  checkDatabase,
  DEBUG_TYPE,
  dynamicConfigurations,
  expandVariables,
  fillDefaults,
  type LaunchConfiguration,
  type LaunchSchema,
  parseReplayTarget,
  replayFromHereConfiguration,
} from './configuration';
import type { PythonEnvironment } from './environment';
import { isRecordingFile, MAX_RECORDINGS } from './recordings';
import { listSessions, sessionPickItems } from './sessions';

const RECORDING_GLOB = '**/*.db';
const EXCLUDED = '{**/node_modules/**,**/.venv/**,**/.git/**}';

/** Recordings (SQLite files holding kreplay sessions) in one folder, bounded. */
export async function findRecordings(folder: vscode.WorkspaceFolder, glob = RECORDING_GLOB): Promise<string[]> {
  const pattern = new vscode.RelativePattern(folder, glob);
  const candidates = await vscode.workspace.findFiles(pattern, EXCLUDED, MAX_RECORDINGS);
  const checks = await Promise.all(candidates.map(async (uri) => ((await isRecordingFile(uri.fsPath)) ? uri.fsPath : '')));
  return checks.filter((file) => file !== '');
}

function isFile(candidate: string): boolean {
  try {
    return fs.statSync(candidate).isFile();
  } catch {
    return false; // absent or unreadable: reported to the user by checkDatabase
  }
}

/** The "Run and Debug" dropdown's dynamic entries: one per recording in the folder. */
export class RecordingConfigurationProvider implements vscode.DebugConfigurationProvider {
  async provideDebugConfigurations(folder: vscode.WorkspaceFolder | undefined): Promise<vscode.DebugConfiguration[]> {
    if (folder === undefined) {
      return [];
    }
    return dynamicConfigurations(await findRecordings(folder), folder.uri.fsPath) as vscode.DebugConfiguration[];
  }
}

/** Resolution of every kreplay launch: defaults first, then the database check. */
export class ReplayConfigurationProvider implements vscode.DebugConfigurationProvider {
  constructor(private readonly schema: LaunchSchema) {}

  async resolveDebugConfiguration(
    folder: vscode.WorkspaceFolder | undefined,
    configuration: vscode.DebugConfiguration,
  ): Promise<vscode.DebugConfiguration | undefined> {
    const plain = configuration as LaunchConfiguration;
    const needsFallback = plain.database === undefined && folder !== undefined;
    const fallback = needsFallback ? (await findRecordings(folder))[0] : undefined;
    const result = fillDefaults(plain, this.schema, fallback);
    if (!result.ok) {
      void vscode.window.showErrorMessage(result.message);
      return undefined; // undefined aborts the launch
    }
    return result.configuration as vscode.DebugConfiguration;
  }

  resolveDebugConfigurationWithSubstitutedVariables(
    folder: vscode.WorkspaceFolder | undefined,
    configuration: vscode.DebugConfiguration,
  ): vscode.DebugConfiguration | undefined {
    const result = checkDatabase(configuration, folder?.uri.fsPath, isFile);
    if (!result.ok) {
      void vscode.window.showErrorMessage(result.message);
      return undefined;
    }
    return result.configuration as vscode.DebugConfiguration;
  }
}

/** Starts `python -m kreplay_dap` (stdio) with the chosen interpreter. */
export class ReplayAdapterFactory implements vscode.DebugAdapterDescriptorFactory {
  constructor(private readonly environment: PythonEnvironment) {}

  async createDebugAdapterDescriptor(session: vscode.DebugSession): Promise<vscode.DebugAdapterDescriptor> {
    const folder = session.workspaceFolder;
    const interpreter = await this.environment.verifiedInterpreter(folder).catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      void vscode.window.showErrorMessage(message, 'Open Settings').then((choice) => {
        if (choice === 'Open Settings') {
          void vscode.commands.executeCommand('workbench.action.openSettings', 'kreplay.pythonPath');
        }
      });
      throw error;
    });
    const options = folder === undefined ? {} : { cwd: folder.uri.fsPath };
    return new vscode.DebugAdapterExecutable(interpreter.path, ['-m', 'kreplay_dap'], options);
  }
}

/** `${command:kreplay.pickSession}`: VS Code passes the launch configuration being resolved. */
export async function pickSession(environment: PythonEnvironment, configuration: unknown): Promise<string | undefined> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  const raw = (configuration as LaunchConfiguration | undefined)?.database;
  if (typeof raw !== 'string' || raw === '') {
    void vscode.window.showErrorMessage('kreplay: set "database" in the launch configuration before picking a session.');
    return undefined;
  }
  const database = expandVariables(raw, folder?.uri.fsPath, os.homedir());
  try {
    const interpreter = await environment.verifiedInterpreter(folder);
    const sessions = await listSessions(interpreter.path, database, folder?.uri.fsPath);
    const items = sessionPickItems(sessions);
    if (items.length <= 1) {
      if (items.length === 0) {
        void vscode.window.showErrorMessage(`kreplay: ${database} holds no sessions.`);
      }
      return items[0]?.sessionId;
    }
    const picked = await vscode.window.showQuickPick(items, { title: `Sessions in ${database}`, matchOnDetail: true });
    return picked?.sessionId;
  } catch (error) {
    void vscode.window.showErrorMessage(error instanceof Error ? error.message : String(error));
    return undefined; // undefined cancels the launch
  }
}

/** `kreplay.replayFromHere` (from the language server's lenses and code actions). */
export async function replayFromHere(...args: unknown[]): Promise<boolean> {
  const target = parseReplayTarget(args);
  if (typeof target === 'string') {
    void vscode.window.showErrorMessage(target);
    return false;
  }
  const folder = vscode.workspace.workspaceFolders?.[0];
  return vscode.debug.startDebugging(folder, replayFromHereConfiguration(target) as vscode.DebugConfiguration);
}

export function registerDebugger(
  context: vscode.ExtensionContext,
  schema: LaunchSchema,
  environment: PythonEnvironment,
): void {
  const dynamic = vscode.DebugConfigurationProviderTriggerKind.Dynamic;
  context.subscriptions.push(
    vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, new ReplayConfigurationProvider(schema)),
    vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, new RecordingConfigurationProvider(), dynamic),
    vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, new ReplayAdapterFactory(environment)),
    vscode.commands.registerCommand('kreplay.pickSession', (configuration: unknown) =>
      pickSession(environment, configuration),
    ),
    vscode.commands.registerCommand('kreplay.replayFromHere', replayFromHere),
  );
}
