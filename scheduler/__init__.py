"""Beat schedule built from settings (data only; the tasks run on workers)."""
