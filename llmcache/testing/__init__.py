"""Stand-ins, labelled as such: the provider emulator (shipped: users run it for dry runs) and the
in-memory entry store and version registry for unit tests. Never imported by the core."""
