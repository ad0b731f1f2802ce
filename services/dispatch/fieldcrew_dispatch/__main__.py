from fieldcrew_dispatch.main import main

main()
