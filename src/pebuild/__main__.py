from pebuild.cli import main

main()
