from fieldcrew_documents.main import main

main()
