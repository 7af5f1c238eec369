from hipcoach.bot.entrypoints.cli import main

raise SystemExit(main())
