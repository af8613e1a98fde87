// Entry point: the kreplay debugger and, for Python files, the kreplay language server.
import * as vscode from 'vscode';
import { launchSchemaOf } from './configuration';
import { registerDebugger } from './debugProvider';
import { PythonEnvironment } from './environment';
import { KreplayLanguageClient } from './languageClient';

let languageClient: KreplayLanguageClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel('kreplay');
  context.subscriptions.push(output);
  const environment = new PythonEnvironment(output);
  registerDebugger(context, launchSchemaOf(context.extension.packageJSON), environment);
  languageClient = new KreplayLanguageClient(environment, output);
  try {
    await languageClient.activate();
  } catch (error) {
    // The debugger works without the language server: report and carry on.
    output.appendLine(`kreplay: language server not started: ${String(error)}`);
  }
}

export async function deactivate(): Promise<void> {
  await languageClient?.dispose();
  languageClient = undefined;
}
