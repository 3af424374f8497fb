"""Alerts to leads and partners: the directory of structures, the alerts events write, their delivery."""
