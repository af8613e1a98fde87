// Which files are recordings, and the language server's `kreplay` configuration.
// No `vscode` import: unit-tested in plain node.
import { open } from 'node:fs/promises';
import * as path from 'node:path';

export const MAX_RECORDINGS = 100;
/** The language server reads at most this many recordings (kreplay_dap/lsp/config.py). */
export const MAX_SERVER_RECORDINGS = 32;
/** Bytes read to recognise a recording: SQLite keeps the schema on its first pages. */
export const PROBE_BYTES = 64 * 1024;
const SQLITE_HEADER = 'SQLite format 3\u0000';
// kreplay's own format, or the original Go tool's table of operations.
const MARKERS = ['CREATE TABLE kreplay_meta', 'CREATE TABLE operations'];

export interface RecordingEntry {
  database: string;
  session?: string;
}

export interface PathMapping {
  localRoot: string;
  remoteRoot: string;
}

export interface ServerSettings {
  recordings: RecordingEntry[];
  pathMappings: PathMapping[];
}

function isSqlite(head: Buffer): boolean {
  return head.subarray(0, SQLITE_HEADER.length).toString('latin1') === SQLITE_HEADER;
}

function hasMarker(bytes: Buffer): boolean {
  const text = bytes.toString('latin1');
  return MARKERS.some((marker) => text.includes(marker));
}

/** True when the bytes start a SQLite file whose schema holds kreplay sessions. */
export function looksLikeRecording(head: Buffer): boolean {
  return isSqlite(head) && hasMarker(head);
}

/** The first PROBE_BYTES of `file`, or undefined when it cannot be read. */
async function readHead(file: string): Promise<Buffer | undefined> {
  let handle;
  try {
    handle = await open(file, 'r');
    const buffer = Buffer.alloc(PROBE_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, PROBE_BYTES, 0);
    return buffer.subarray(0, bytesRead);
  } catch {
    return undefined; // a file that vanished or cannot be read is simply not a recording
  } finally {
    await handle?.close();
  }
}

/**
 * Whether `file` is a recording. While a recorder is still writing, the schema may exist only
 * in the write-ahead log (`FILE-wal`), so that is probed too.
 */
export async function isRecordingFile(file: string): Promise<boolean> {
  const head = await readHead(file);
  if (head === undefined) {
    return false;
  }
  if (looksLikeRecording(head)) {
    return true;
  }
  if (head.length > 0 && !isSqlite(head)) {
    return false;
  }
  const wal = await readHead(`${file}-wal`);
  return wal !== undefined && hasMarker(wal);
}

/** Splits `kreplay.recordings` into globs to search and explicit entries; drops malformed items. */
export function splitRecordingSetting(items: unknown): { globs: string[]; explicit: RecordingEntry[]; invalid: number } {
  const globs: string[] = [];
  const explicit: RecordingEntry[] = [];
  let invalid = 0;
  const list: unknown[] = Array.isArray(items) ? (items as unknown[]).slice(0, MAX_RECORDINGS) : [];
  for (const item of list) {
    if (typeof item === 'string' && item.trim() !== '') {
      globs.push(item.trim());
      continue;
    }
    const entry = item as { database?: unknown; session?: unknown } | null;
    if (typeof entry === 'object' && entry !== null && typeof entry.database === 'string' && entry.database !== '') {
      explicit.push(typeof entry.session === 'string' && entry.session !== ''
        ? { database: entry.database, session: entry.session }
        : { database: entry.database });
      continue;
    }
    invalid += 1;
  }
  return { globs, explicit, invalid };
}

/** Path mappings from settings, with relative local roots taken from the workspace folder. */
export function parsePathMappings(items: unknown, folder: string | undefined): PathMapping[] {
  const list: unknown[] = Array.isArray(items) ? (items as unknown[]).slice(0, MAX_RECORDINGS) : [];
  const mappings: PathMapping[] = [];
  for (const item of list) {
    const mapping = item as { localRoot?: unknown; remoteRoot?: unknown } | null;
    if (mapping === null || typeof mapping.localRoot !== 'string' || typeof mapping.remoteRoot !== 'string') {
      continue;
    }
    const local = folder === undefined || path.isAbsolute(mapping.localRoot)
      ? mapping.localRoot
      : path.join(folder, mapping.localRoot);
    mappings.push({ localRoot: local, remoteRoot: mapping.remoteRoot });
  }
  return mappings;
}

/** The server's settings: explicit entries first, then found files; one entry per database. */
export function serverSettings(
  explicit: readonly RecordingEntry[],
  found: readonly string[],
  pathMappings: readonly PathMapping[],
): ServerSettings {
  const seen = new Set<string>();
  const recordings: RecordingEntry[] = [];
  for (const entry of [...explicit, ...[...found].sort().map((database) => ({ database }))]) {
    if (!seen.has(entry.database) && recordings.length < MAX_SERVER_RECORDINGS) {
      seen.add(entry.database);
      recordings.push(entry);
    }
  }
  return { recordings, pathMappings: [...pathMappings] };
}

/** One line for a `kreplay/indexed` notification: session, last sequence number, findings. */
export function describeIndexed(summary: unknown): string {
  const recordings = (summary as { recordings?: unknown } | null)?.recordings;
  if (!Array.isArray(recordings)) {
    return 'nothing (malformed kreplay/indexed notification)';
  }
  return (recordings as Record<string, unknown>[]).slice(0, 32).map((r) =>
    `${String(r.session)} in ${String(r.database)} (up to #${String(r.lastSeq)}, ${String(r.findings)} findings)`,
  ).join('; ') || 'no recordings';
}
