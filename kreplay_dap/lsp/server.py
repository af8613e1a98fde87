"""The kreplay language server: thin pygls handlers over ``RecordingsService``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from kreplay_dap.lsp import render
from kreplay_dap.lsp.config import parse_config
from kreplay_dap.lsp.service import RecordingsService

log = logging.getLogger(__name__)

SERVER_NAME = "kreplay-lsp"
SERVER_VERSION = "0.1.0"
INDEXED_NOTIFICATION = "kreplay/indexed"


class KreplayLanguageServer(LanguageServer):
    """Holds the service and the background watcher of the recording files."""

    def __init__(self) -> None:
        super().__init__(SERVER_NAME, SERVER_VERSION)
        self.service = RecordingsService(self.show_error, self.log_info, self.publish_all)
        self.base_dir: str | None = None
        self.stop_watching = asyncio.Event()
        self.watcher: asyncio.Task[None] | None = None
        self.initial_settings: Any = None

    def show_error(self, message: str) -> None:
        log.error("%s", message)
        self.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Error, message=message)
        )

    def log_info(self, message: str) -> None:
        log.info("%s", message)
        self.window_log_message(
            types.LogMessageParams(type=types.MessageType.Info, message=message)
        )

    async def apply_settings(self, raw: Any) -> None:
        await self.service.configure(parse_config(raw, self.base_dir))
        self.publish_all()

    def publish_all(self) -> None:
        """Diagnostics for every open document, lens refresh, and an indexed notice."""
        for uri in list(self.workspace.text_documents):
            self.publish(uri)
        capabilities = self.client_capabilities.workspace
        lenses = capabilities.code_lens if capabilities is not None else None
        if lenses is not None and lenses.refresh_support:
            self.workspace_code_lens_refresh(None)
        summary = [
            {"database": item.spec.database, "session": item.index.session_id,
             "lastSeq": item.index.last_seq, "findings": len(item.findings),
             "analyzed": item.analyzed}
            for item in self.service.tracked if item.index is not None
        ]  # fmt: skip
        self.protocol.notify(INDEXED_NOTIFICATION, {"recordings": summary})

    def publish(self, uri: str) -> None:
        path = local_path(uri)
        found: list[types.Diagnostic] = []
        if path is not None:
            recorded = self.service.recorded_paths(path)
            for item in self.service.tracked:
                origin = item.origin
                if origin is not None:
                    found += render.diagnostics(origin, recorded, item.findings, self.to_uri)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=found)
        )

    def to_uri(self, recorded: str) -> str:
        return from_fs_path(self.service.mapper.to_local(recorded)) or recorded

    async def start(self, settings: Any) -> None:
        await self.apply_settings(settings)
        await self.watch()

    async def watch(self) -> None:
        """Poll the recording files (database and WAL) and refresh on change."""
        while not self.stop_watching.is_set():
            interval = self.service.config.poll_interval_ms / 1000
            with contextlib.suppress(TimeoutError):  # the period elapsed: look at the files
                await asyncio.wait_for(self.stop_watching.wait(), timeout=interval)
            if not self.stop_watching.is_set() and await self.service.refresh():
                self.publish_all()


def local_path(uri: str) -> str | None:
    path = to_fs_path(uri)
    return os.path.normpath(path) if path else None


@dataclass(frozen=True, slots=True)
class _Feature:
    name: str
    handler: Callable[..., Any]
    options: Any = None


def build_server() -> KreplayLanguageServer:
    """A fresh server with every feature registered (one per connection or test)."""
    ls = KreplayLanguageServer()
    for feature in _features():
        ls.feature(feature.name, feature.options)(feature.handler)
    return ls


def _features() -> list[_Feature]:
    quick_fix = types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix])
    return [
        _Feature(types.INITIALIZE, on_initialize),
        _Feature(types.INITIALIZED, on_initialized),
        _Feature(types.SHUTDOWN, on_shutdown),
        _Feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION, on_configuration),
        _Feature(types.TEXT_DOCUMENT_DID_OPEN, on_open),
        _Feature(types.TEXT_DOCUMENT_DID_CLOSE, on_close),
        _Feature(types.TEXT_DOCUMENT_CODE_LENS, on_code_lens),
        _Feature(types.TEXT_DOCUMENT_HOVER, on_hover),
        _Feature(types.TEXT_DOCUMENT_CODE_ACTION, on_code_action, quick_fix),
    ]


def on_initialize(ls: KreplayLanguageServer, params: types.InitializeParams) -> None:
    root = params.root_uri and local_path(params.root_uri)
    ls.base_dir = root or params.root_path or None
    ls.initial_settings = params.initialization_options


def on_initialized(ls: KreplayLanguageServer, params: types.InitializedParams) -> None:
    # Index in the background: the first requests answer with what is ready.
    ls.watcher = asyncio.get_running_loop().create_task(ls.start(ls.initial_settings))
    ls.watcher.add_done_callback(_report_stopped)


def _report_stopped(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("recording watcher stopped", exc_info=task.exception())


def on_shutdown(ls: KreplayLanguageServer, params: None) -> None:
    ls.stop_watching.set()
    ls.service.close()


async def on_configuration(
    ls: KreplayLanguageServer, params: types.DidChangeConfigurationParams
) -> None:
    settings = params.settings
    if isinstance(settings, dict) and ("kreplay" in settings or "recordings" in settings):
        await ls.apply_settings(settings)
        return
    # Pull model: the notification only says "something changed"; ask for our section.
    workspace = ls.client_capabilities.workspace
    if workspace is None or not workspace.configuration:
        ls.log_info("kreplay: configuration change without a 'kreplay' section; ignored")
        return
    request = types.ConfigurationParams(items=[types.ConfigurationItem(section="kreplay")])
    pulled = await ls.workspace_configuration_async(request)
    await ls.apply_settings({"kreplay": pulled[0] if pulled else None})


def on_open(ls: KreplayLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.publish(params.text_document.uri)


def on_close(ls: KreplayLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[])
    )


def on_code_lens(ls: KreplayLanguageServer, params: types.CodeLensParams) -> list[types.CodeLens]:
    path = local_path(params.text_document.uri)
    lenses: list[types.CodeLens] = []
    for item, lines in ls.service.lines_for(path) if path else []:
        origin = item.origin
        if origin is None:
            continue
        for line in sorted(lines):
            findings = ls.service.findings_on(item, path or "", line)
            lenses.append(render.code_lens(origin, lines[line], findings))
    return lenses


def on_hover(ls: KreplayLanguageServer, params: types.HoverParams) -> types.Hover | None:
    path = local_path(params.text_document.uri)
    line = params.position.line + 1
    sections: list[str] = []
    for item, lines in ls.service.lines_for(path) if path else []:
        stats, origin = lines.get(line), item.origin
        if stats is None or origin is None:
            continue
        findings = ls.service.findings_on(item, path or "", line)
        last_write = ls.service.last_write(item, stats)
        sections.append(render.hover_markdown(origin, stats, findings, last_write))
    if not sections:
        return None
    content = types.MarkupContent(
        kind=types.MarkupKind.Markdown, value="\n\n---\n\n".join(sections)
    )
    return types.Hover(contents=content, range=render.line_range(line))


def on_code_action(
    ls: KreplayLanguageServer, params: types.CodeActionParams
) -> list[types.CodeAction]:
    actions = [render.replay_action(diagnostic) for diagnostic in params.context.diagnostics]
    return [action for action in actions if action is not None]


server = build_server()
