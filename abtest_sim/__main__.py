from abtest_sim.cli import main

main()
