"""The flood benchmark: `python -m bench` from the repository checkout (see README, "Benchmark")."""
