"""Tests for the Clarify integration, its API client and the Clarify emulator."""
