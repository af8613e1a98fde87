// Debug-configuration logic with no `vscode` import, so plain node tests can run it.
import * as path from 'node:path';

export const DEBUG_TYPE = 'kreplay';
export const DEFAULT_NAME = 'Replay session';
export const MAX_DYNAMIC_CONFIGURATIONS = 50;

/** A launch configuration as VS Code hands it to the provider: any JSON object. */
export type LaunchConfiguration = Record<string, unknown>;

/** The launch attributes' JSON schema, as contributed in package.json. */
export interface LaunchSchema {
  required?: string[];
  properties: Record<string, { default?: unknown }>;
}

export type Resolution =
  | { ok: true; configuration: LaunchConfiguration }
  | { ok: false; message: string };

/** Reads `configurationAttributes.launch` of the kreplay debugger from a parsed package.json. */
export function launchSchemaOf(manifest: unknown): LaunchSchema {
  const debuggers = (manifest as { contributes?: { debuggers?: unknown } }).contributes?.debuggers;
  if (!Array.isArray(debuggers)) {
    throw new Error('package.json contributes no debuggers');
  }
  const entry = (debuggers as { type?: unknown; configurationAttributes?: { launch?: unknown } }[]).find(
    (d) => d.type === DEBUG_TYPE,
  );
  const launch = entry?.configurationAttributes?.launch as LaunchSchema | undefined;
  if (launch === undefined || typeof launch.properties !== 'object') {
    throw new Error('package.json has no launch attributes for the kreplay debugger');
  }
  return launch;
}

/**
 * First step of resolution (before variables are substituted): an empty configuration
 * (F5 without launch.json) becomes one for `fallbackDatabase`; type, request and name and
 * every top-level default of the schema are filled in when absent.
 */
export function fillDefaults(
  configuration: LaunchConfiguration,
  schema: LaunchSchema,
  fallbackDatabase: string | undefined,
): Resolution {
  const filled: LaunchConfiguration = { ...configuration };
  const empty = Object.keys(configuration).length === 0;
  if (empty || filled.database === undefined) {
    if (fallbackDatabase === undefined) {
      return {
        ok: false,
        message:
          'kreplay: no recording to replay. Set "database" in launch.json to a recording file ' +
          '(*.db, e.g. the one "kreplay demo" leaves behind), or open a folder that contains one.',
      };
    }
    filled.database = fallbackDatabase;
  }
  filled.type ??= DEBUG_TYPE;
  filled.request ??= 'launch';
  filled.name ??= DEFAULT_NAME;
  for (const [key, property] of Object.entries(schema.properties)) {
    if (filled[key] === undefined && property.default !== undefined) {
      filled[key] = structuredClone(property.default);
    }
  }
  return { ok: true, configuration: filled };
}

/**
 * Second step (variables substituted): the database must be an existing file; a relative
 * path is taken from the workspace folder.
 */
export function checkDatabase(
  configuration: LaunchConfiguration,
  folder: string | undefined,
  isFile: (candidate: string) => boolean,
): Resolution {
  const database = configuration.database;
  if (typeof database !== 'string' || database.trim() === '') {
    return { ok: false, message: 'kreplay: "database" must be the path of a recording file (*.db).' };
  }
  const absolute = path.isAbsolute(database) || folder === undefined ? database : path.join(folder, database);
  if (!isFile(absolute)) {
    return {
      ok: false,
      message:
        `kreplay: the recording "${absolute}" does not exist. Check "database" in the launch ` +
        'configuration; "kreplay sessions -d FILE" lists what a recording holds.',
    };
  }
  return { ok: true, configuration: { ...configuration, database: absolute } };
}

/** One launch configuration per recording found in the workspace, for the dynamic list. */
export function dynamicConfigurations(recordings: readonly string[], folder: string): LaunchConfiguration[] {
  return [...recordings]
    .sort()
    .slice(0, MAX_DYNAMIC_CONFIGURATIONS)
    .map((recording) => {
      const relative = path.relative(folder, recording);
      const inside = !relative.startsWith('..') && !path.isAbsolute(relative);
      const shown = inside ? relative.split(path.sep).join('/') : recording;
      return {
        type: DEBUG_TYPE,
        request: 'launch',
        name: `Replay ${shown}`,
        database: inside ? `\${workspaceFolder}/${shown}` : recording,
        stopOnEntry: true,
      };
    });
}

/** Expands `${workspaceFolder}` and `${userHome}` (before VS Code does, for pickSession). */
export function expandVariables(text: string, workspaceFolder: string | undefined, userHome: string): string {
  let expanded = text.split('${userHome}').join(userHome);
  if (workspaceFolder !== undefined) {
    expanded = expanded.split('${workspaceFolder}').join(workspaceFolder);
  }
  return expanded;
}

export interface ReplayTarget {
  database: string;
  session: string;
  seq: number;
}

/**
 * Arguments of `kreplay.replayFromHere` as the language server's CodeLens sends them:
 * either `(database, session, seq)` or one object `{database, session, seq}`.
 */
export function parseReplayTarget(args: readonly unknown[]): ReplayTarget | string {
  const first: unknown = args[0];
  const raw: Record<string, unknown> =
    args.length === 1 && typeof first === 'object' && first !== null
      ? (first as Record<string, unknown>)
      : { database: args[0], session: args[1], seq: args[2] };
  const { database, session, seq } = raw;
  if (typeof database !== 'string' || database === '') {
    return 'kreplay.replayFromHere: "database" must be a non-empty string';
  }
  if (typeof session !== 'string' || session === '') {
    return 'kreplay.replayFromHere: "session" must be a non-empty string';
  }
  if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0) {
    return 'kreplay.replayFromHere: "seq" must be a non-negative integer';
  }
  return { database, session, seq };
}

/** The launch configuration that replays `target.session` stopped at operation `target.seq`. */
export function replayFromHereConfiguration(target: ReplayTarget): LaunchConfiguration {
  return {
    type: DEBUG_TYPE,
    request: 'launch',
    name: `Replay ${target.session} from #${target.seq}`,
    database: target.database,
    session: target.session,
    startAt: target.seq,
    stopOnEntry: true,
  };
}
