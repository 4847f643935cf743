"""Scanner adapters: one module per tool; each knows how to read its tool's reports."""
