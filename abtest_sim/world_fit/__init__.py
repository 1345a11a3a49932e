"""A world fitted to a real interaction log (``abtest-sim-calibrate``): read the log
(``log``), fit the click model by logistic matrix factorisation (``factors``), the taste drift
(``drift``) and the traffic and catalogue (``activity``), and turn them into a ``WorldConfig``
(``world``); ``simulate`` makes a log from a world, for fidelity checks and tests."""
