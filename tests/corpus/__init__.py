"""Real public data sets written the way R writes them, and the value comparison that proves the reader."""
