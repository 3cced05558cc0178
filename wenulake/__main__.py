from wenulake.cli import main

main()
