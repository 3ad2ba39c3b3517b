"""The application: the `pelvio` command, the live session, recording, trends and privacy; it runs the
layers below it (sensor, fusion) and starts the dashboard, which sits above it."""
