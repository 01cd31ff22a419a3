from evalhelpers import zero_submission  # noqa: F401  (fixture)
