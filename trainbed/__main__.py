from trainbed.cli import main

main()
