from fieldcrew_team.main import main

main()
