// Starts the kreplay language server (`python -m kreplay_dap.lsp`) for Python files when the
// workspace has recordings, and keeps its `kreplay` settings in step with files and settings.
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { LanguageClient, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import { expandVariables } from './configuration';
import { findRecordings } from './debugProvider';
import type { PythonEnvironment } from './environment';
import { describeIndexed, parsePathMappings, serverSettings, type ServerSettings, splitRecordingSetting } from './recordings';

const REFRESH_DELAY_MS = 500;

/** What `kreplay.recordings` and `kreplay.pathMappings` amount to for the first folder. */
export async function resolveServerSettings(output: vscode.OutputChannel): Promise<ServerSettings> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  const config = vscode.workspace.getConfiguration('kreplay', folder);
  const { globs, explicit, invalid } = splitRecordingSetting(config.get<unknown>('recordings'));
  if (invalid > 0) {
    output.appendLine(`kreplay: ignored ${invalid} malformed item(s) of "kreplay.recordings"`);
  }
  const root = folder?.uri.fsPath;
  const explicitResolved = explicit.map((entry) => {
    const database = expandVariables(entry.database, root, os.homedir());
    const absolute = path.isAbsolute(database) || root === undefined ? database : path.join(root, database);
    return { ...entry, database: absolute };
  });
  const found: string[] = [];
  if (folder !== undefined) {
    for (const glob of globs) {
      found.push(...(await findRecordings(folder, glob)));
    }
  }
  return serverSettings(explicitResolved, found, parsePathMappings(config.get<unknown>('pathMappings'), root));
}

export class KreplayLanguageClient implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private settings: ServerSettings = { recordings: [], pathMappings: [] };
  private timer: NodeJS.Timeout | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly environment: PythonEnvironment,
    private readonly output: vscode.OutputChannel,
  ) {}

  /** Starts when recordings exist; then follows recording files and settings. */
  async activate(): Promise<void> {
    const watcher = vscode.workspace.createFileSystemWatcher('**/*.db');
    this.disposables.push(
      watcher,
      watcher.onDidCreate(() => { this.scheduleRefresh(); }),
      watcher.onDidDelete(() => { this.scheduleRefresh(); }),
      // A new recording may hold its schema only in its WAL at first: look again when it
      // changes, until it is known (the server itself follows known recordings as they grow).
      watcher.onDidChange((uri) => {
        if (!this.settings.recordings.some((r) => r.database === uri.fsPath)) {
          this.scheduleRefresh();
        }
      }),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (event.affectsConfiguration('kreplay.pythonPath') || event.affectsConfiguration('kreplay.languageServer')) {
          this.environment.forget();
          void this.restart();
        } else if (event.affectsConfiguration('kreplay')) {
          this.scheduleRefresh();
        }
      }),
    );
    await this.refresh();
  }

  private scheduleRefresh(): void {
    clearTimeout(this.timer);
    // Several files appear at once when a recorder starts: refresh once for all of them.
    this.timer = setTimeout(() => { void this.refresh(); }, REFRESH_DELAY_MS);
  }

  private enabled(): boolean {
    return vscode.workspace.getConfiguration('kreplay').get<boolean>('languageServer.enabled', true);
  }

  private async refresh(): Promise<void> {
    try {
      const settings = await resolveServerSettings(this.output);
      this.settings = settings;
      if (this.client === undefined) {
        if (this.enabled() && settings.recordings.length > 0) {
          await this.start(settings);
        }
        return;
      }
      await this.client.sendNotification('workspace/didChangeConfiguration', { settings: { kreplay: settings } });
    } catch (error) {
      this.output.appendLine(`kreplay: language server not updated: ${String(error)}`);
    }
  }

  private async start(settings: ServerSettings): Promise<void> {
    const folder = vscode.workspace.workspaceFolders?.[0];
    const interpreter = await this.environment.verifiedInterpreter(folder);
    const options = folder === undefined ? {} : { cwd: folder.uri.fsPath };
    const server: ServerOptions = { command: interpreter.path, args: ['-m', 'kreplay_dap.lsp'], options };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file', language: 'python' }],
      initializationOptions: settings,
      outputChannel: this.output,
      middleware: {
        workspace: {
          // A server that pulls its `kreplay` section gets the resolved recordings, not the globs.
          configuration: (params, token, next) => {
            if (params.items.every((item) => item.section === 'kreplay')) {
              return params.items.map(() => this.settings);
            }
            return next(params, token);
          },
        },
      },
    };
    this.client = new LanguageClient('kreplay', 'kreplay language server', server, clientOptions);
    this.output.appendLine(`kreplay: language server for ${settings.recordings.length} recording(s)`);
    await this.client.start();
    // The server says what it indexed: worth a line in the output channel.
    this.disposables.push(this.client.onNotification('kreplay/indexed', (summary: unknown) => {
      this.output.appendLine(`kreplay: indexed ${describeIndexed(summary)}`);
    }));
  }

  private async restart(): Promise<void> {
    const running = this.client;
    this.client = undefined;
    await running?.stop();
    await this.refresh();
  }

  async dispose(): Promise<void> {
    clearTimeout(this.timer);
    for (const disposable of this.disposables) {
      disposable.dispose();
    }
    await this.client?.stop();
  }
}
