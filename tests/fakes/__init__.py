"""Stand-ins for proprietary scanners and services, replaying real reports."""
