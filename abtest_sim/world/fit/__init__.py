"""A world fitted to a real interaction log (``abtest-sim-calibrate``): read the log
(``log``, ``times``), fit the click model by logistic matrix factorisation (``factors``), the taste
drift (``drift``) and the traffic and catalogue (``activity``), and turn them into a
``WorldConfig`` (``world``). A log simulated from a world, to check a fit against the real log,
is the simulator's (``abtest_sim.sim.sample_log``, ``abtest_sim.sim.fidelity``)."""
