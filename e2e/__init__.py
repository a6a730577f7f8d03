"""End-to-end journey: a real Home Assistant, the emulator and Chromium."""
