// `kreplay sessions --format json`: run it, validate its output, turn it into pick items.
// No `vscode` import: unit-tested in plain node.
import { runProcess } from './process';

export const MAX_SESSIONS = 10_000;
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;
const SESSIONS_TIMEOUT_MS = 60_000;

export interface SessionSummary {
  sessionId: string;
  operations: number;
  operator: string;
  actors: Record<string, number>;
  startNs: number | undefined;
  endNs: number | undefined;
}

export interface SessionPickItem {
  label: string;
  description: string;
  detail: string;
  sessionId: string;
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0;
}

function counts(value: unknown): Record<string, number> {
  const result: Record<string, number> = {};
  if (typeof value !== 'object' || value === null) {
    return result;
  }
  for (const [key, item] of Object.entries(value as Record<string, unknown>).slice(0, 1000)) {
    result[key] = count(item);
  }
  return result;
}

function optionalNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** Parses the CLI's JSON; throws an Error naming what is wrong. */
export function parseSessionsJson(text: string): SessionSummary[] {
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch (error) {
    throw new Error(`kreplay sessions printed invalid JSON: ${String(error)}`);
  }
  const sessions = (payload as { sessions?: unknown } | null)?.sessions;
  if (!Array.isArray(sessions)) {
    throw new Error('kreplay sessions printed JSON without a "sessions" list');
  }
  return (sessions as unknown[]).slice(0, MAX_SESSIONS).map((entry, index) => {
    const item = (entry ?? {}) as Record<string, unknown>;
    if (typeof item.session_id !== 'string' || item.session_id === '') {
      throw new Error(`kreplay sessions: entry ${index} has no "session_id"`);
    }
    return {
      sessionId: item.session_id,
      operations: count(item.operations),
      operator: typeof item.operator === 'string' ? item.operator : '',
      actors: counts(item.actors),
      startNs: optionalNumber(item.start_ns),
      endNs: optionalNumber(item.end_ns),
    };
  });
}

function timeOf(ns: number | undefined): string {
  if (ns === undefined || ns <= 0) {
    return '?';
  }
  return new Date(ns / 1e6).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** Quick-pick items, busiest actors first. */
export function sessionPickItems(sessions: readonly SessionSummary[]): SessionPickItem[] {
  return sessions.map((session) => {
    const actors = Object.entries(session.actors)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 4)
      .map(([name, n]) => `${name || '?'} (${n})`)
      .join(', ');
    const operator = session.operator ? `${session.operator} · ` : '';
    return {
      label: session.sessionId,
      description: `${session.operations} operations`,
      detail: `${operator}${timeOf(session.startNs)} → ${timeOf(session.endNs)} · actors: ${actors || 'none'}`,
      sessionId: session.sessionId,
    };
  });
}

/** Runs `python -m kreplay_dap.cli.main sessions -d DATABASE --format json`. */
export async function listSessions(python: string, database: string, cwd?: string): Promise<SessionSummary[]> {
  const args = ['-m', 'kreplay_dap.cli.main', 'sessions', '-d', database, '--format', 'json'];
  const result = await runProcess(python, args, {
    timeoutMs: SESSIONS_TIMEOUT_MS,
    maxOutputBytes: MAX_OUTPUT_BYTES,
    ...(cwd === undefined ? {} : { cwd }),
  });
  if (result.exitCode !== 0) {
    const reason = result.stderr.trim().split('\n').slice(-1)[0] ?? '';
    throw new Error(`kreplay sessions failed for ${database}: ${reason || `exit code ${String(result.exitCode)}`}`);
  }
  return parseSessionsJson(result.stdout);
}
