"""Answering cache misses: the `MissAnswerer` protocol and its implementations (today the providers' sync SDKs)."""
