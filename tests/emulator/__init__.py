"""Tests of the local Clarify emulator."""
