"""The power-cut stage: a real Home Assistant killed with SIGKILL."""
