"""One module per GLAN step: build requests, parse and validate responses; no I/O."""
