"""Tests of the real-server harness's parts that need no server."""
