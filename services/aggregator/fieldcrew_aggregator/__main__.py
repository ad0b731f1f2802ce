from fieldcrew_aggregator.main import main

main()
