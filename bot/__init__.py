"""The imperative shell of Hip Coach: adapters, storage, CLI and the one bootstrap."""
