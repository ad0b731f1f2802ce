"""The fault suite: crews play through the gateway while processes are killed, paused and
stopped for real; afterwards every acknowledged command is checked against the log, the
projection and a rebuild of it (README.md in this folder)."""
