"""kreplay developer-side tools: replay engine, analysis, mock API server, DAP/LSP servers, CLI."""

__version__ = "0.1.0"
