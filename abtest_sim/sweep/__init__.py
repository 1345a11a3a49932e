"""Many runs together: the aggregate of a sweep, the validity of its intervals (false
positives, coverage, lineage variance) and its report."""
