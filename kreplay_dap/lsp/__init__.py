"""The kreplay language server: recorded evidence shown next to the operator's source."""
