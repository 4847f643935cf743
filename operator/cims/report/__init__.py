"""Outputs: one module per format, all built from :class:`cims.report.model.Report`."""
