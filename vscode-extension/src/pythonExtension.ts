// The active interpreter of the Python extension (ms-python.python), when it is installed.
import * as vscode from 'vscode';

const PYTHON_EXTENSION_ID = 'ms-python.python';

// The few members of the Python extension's API used here, checked at run time.
interface EnvironmentsApi {
  getActiveEnvironmentPath(resource?: vscode.Uri): { path: string };
  resolveEnvironment(environment: { path: string }): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
}
interface LegacySettingsApi {
  getExecutionDetails(resource?: vscode.Uri): { execCommand?: string[] };
}

/** The interpreter path, or undefined when the extension is absent or has none selected. */
export async function pythonExtensionInterpreter(
  resource: vscode.Uri | undefined,
  log: (message: string) => void,
): Promise<string | undefined> {
  const extension = vscode.extensions.getExtension(PYTHON_EXTENSION_ID);
  if (extension === undefined) {
    return undefined;
  }
  try {
    const api = (extension.isActive ? extension.exports : await extension.activate()) as {
      environments?: EnvironmentsApi;
      settings?: LegacySettingsApi;
    } | undefined;
    if (api?.environments !== undefined) {
      const active = api.environments.getActiveEnvironmentPath(resource);
      const resolved = await api.environments.resolveEnvironment(active);
      return resolved?.executable.uri?.fsPath ?? active.path;
    }
    return api?.settings?.getExecutionDetails(resource).execCommand?.[0];
  } catch (error) {
    log(`kreplay: could not ask the Python extension for its interpreter: ${String(error)}`);
    return undefined;
  }
}
