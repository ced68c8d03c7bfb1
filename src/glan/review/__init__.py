"""The taxonomy review web app: `glan review`."""
