from vodstack.cli import main

main()
