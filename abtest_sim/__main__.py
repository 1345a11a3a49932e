from abtest_sim.apps.simulate import main

main()
