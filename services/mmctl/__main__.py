from services.mmctl.cli import main

main()
