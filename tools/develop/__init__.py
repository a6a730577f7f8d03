"""The development setup that `scripts/develop` starts."""
