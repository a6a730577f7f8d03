"""Developer tools for the Clarify Home Assistant integration (not shipped to users)."""
