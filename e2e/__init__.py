"""Real-cluster tests: a kind cluster, the chart, the examples. Skipped where kind is missing."""
