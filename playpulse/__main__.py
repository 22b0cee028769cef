from playpulse.cli import main

main()
