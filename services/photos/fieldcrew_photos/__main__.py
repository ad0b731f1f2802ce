from fieldcrew_photos.main import main

main()
