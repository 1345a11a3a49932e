"""abtest_sim: a closed-loop A/B simulator for CTR models and the statistics to read its tests."""
