"""``python -m kreplay_dap.lsp``: the language server over stdio."""

from __future__ import annotations

from kreplay_dap.lsp.main import run

if __name__ == "__main__":
    run()
