"""Benchmark suites, submissions, the sandboxed evaluator and the results store (issue 11).

- :mod:`~testbed.evaluation.suite` — tagged, versioned suites ``dev``, ``test``, ``final`` (HMAC seeds);
- :mod:`~testbed.evaluation.metrics` — per-episode metrics and the normalised score;
- :mod:`~testbed.evaluation.submission` — submission format, archive unpacking, static checks;
- :mod:`~testbed.evaluation.conformance` — the policy API conformance tests (``testbed submission check``);
- :mod:`~testbed.evaluation.protocol`, :mod:`~testbed.evaluation.worker`,
  :mod:`~testbed.evaluation.sandbox` — the policy process in bubblewrap and its pipe protocol;
- :mod:`~testbed.evaluation.runner` — one episode: the evaluator owns the env, the policy answers;
- :mod:`~testbed.evaluation.store` — SQLite (WAL) results, one row per (submission, case, seed);
- :mod:`~testbed.evaluation.evaluator` — scheduling (local or Ray), resume, baselines, verification;
- :mod:`~testbed.evaluation.report` — ranked tables and the static HTML leaderboard.

This package imports nothing heavy at import time: the policy worker runs from it inside the sandbox.
"""
