"""Speed benchmarks: `python -m bench.inference`, `bench.serving`, `bench.training`."""
