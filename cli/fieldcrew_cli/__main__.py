from fieldcrew_cli.main import main

main()
