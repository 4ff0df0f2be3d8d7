"""Benchmarks: `python -m benchmarks.<name>`. They print numbers and write JSON to
benchmarks/results/ (git-ignored); they assert nothing about speed."""
