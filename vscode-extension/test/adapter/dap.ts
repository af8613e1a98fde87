// DebugClient helpers shared by the adapter tests: start the real adapter the way VS Code does.
import * as assert from 'node:assert/strict';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { pythonEnv, repoRoot, testPython } from '../support';

// A guard against a hung adapter, not a performance assertion: the machine is shared.
export const EVENT_TIMEOUT_MS = 60_000;

export interface Started {
  capabilities: DebugProtocol.Capabilities;
  stopped: DebugProtocol.StoppedEvent['body'];
}

export function newClient(): DebugClient {
  // `-mkreplay_dap` is `-m kreplay_dap` as one argument: DebugClient passes exactly one.
  const client = new DebugClient(testPython(), '-mkreplay_dap', 'kreplay', { cwd: repoRoot, env: pythonEnv() }, true);
  client.defaultTimeout = EVENT_TIMEOUT_MS;
  return client;
}

/** initialize, launch, exception filters (the adapter's defaults unless given), configurationDone. */
export async function start(client: DebugClient, launch: Record<string, unknown>, filters?: string[]): Promise<Started> {
  // The adapter may send `initialized` right after answering `initialize` (DAP allows it).
  const initialized = client.waitForEvent('initialized');
  const capabilities = (await client.initializeRequest()).body ?? {};
  const stopped = client.waitForEvent('stopped');
  await client.launchRequest(launch);
  await initialized;
  const defaults = (capabilities.exceptionBreakpointFilters ?? []).filter((f) => f.default === true).map((f) => f.filter);
  await client.setExceptionBreakpointsRequest({ filters: filters ?? defaults });
  await client.configurationDoneRequest();
  return { capabilities, stopped: ((await stopped) as DebugProtocol.StoppedEvent).body };
}

export async function topFrame(client: DebugClient, threadId = 1): Promise<DebugProtocol.StackFrame> {
  const frames = (await client.stackTraceRequest({ threadId })).body.stackFrames;
  const top = frames[0];
  assert.ok(top !== undefined, 'a stopped adapter reports at least one frame');
  return top;
}

/** The sequence number of the current operation, from the top frame `... (#N)`. */
export async function position(client: DebugClient): Promise<number> {
  const name = (await topFrame(client)).name;
  const match = /\(#(\d+)\)$/.exec(name);
  assert.ok(match?.[1] !== undefined, `frame name "${name}" ends with (#seq)`);
  return Number(match[1]);
}

/** Sends a movement request and returns the `stopped` event it leads to. */
export async function move(client: DebugClient, command: string, threadId: number): Promise<DebugProtocol.StoppedEvent['body']> {
  const stopped = client.waitForEvent('stopped');
  await client.customRequest(command, { threadId });
  return ((await stopped) as DebugProtocol.StoppedEvent).body;
}

export async function variables(client: DebugClient, reference: number): Promise<Map<string, DebugProtocol.Variable>> {
  const body = (await client.variablesRequest({ variablesReference: reference })).body;
  return new Map(body.variables.map((v) => [v.name, v]));
}

export async function scopeVariables(client: DebugClient, scopeName: string): Promise<Map<string, DebugProtocol.Variable>> {
  const frame = await topFrame(client);
  const scopes = (await client.scopesRequest({ frameId: frame.id })).body.scopes;
  const scope = scopes.find((s) => s.name === scopeName);
  assert.ok(scope !== undefined, `scope ${scopeName} among ${scopes.map((s) => s.name).join(', ')}`);
  return variables(client, scope.variablesReference);
}

/** The first breakpoint the adapter announces for a reconcile loop (its analysis runs in the background). */
export function loopAnnouncement(client: DebugClient): Promise<DebugProtocol.Breakpoint> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`no reconcile loop announced within ${EVENT_TIMEOUT_MS} ms`));
    }, EVENT_TIMEOUT_MS);
    const listener = (event: DebugProtocol.BreakpointEvent): void => {
      if (event.body.reason === 'new' && event.body.breakpoint.message?.startsWith('reconcile loop') === true) {
        clearTimeout(timer);
        client.removeListener('breakpoint', listener);
        resolve(event.body.breakpoint);
      }
    };
    client.on('breakpoint', listener);
  });
}
