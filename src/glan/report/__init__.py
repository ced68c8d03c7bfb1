"""`glan report`: coverage, yield, cost and diversity of runs, as one self-contained HTML page."""
