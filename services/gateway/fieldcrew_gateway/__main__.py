from fieldcrew_gateway.main import main

main()
