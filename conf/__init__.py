"""The configs of every app (Hydra), installed as the package ``abtest_sim_reloop_conf``."""
