"""Unit-day tables to estimates: reading days, validation, the daily table, the
estimators, the summary and its warnings."""
