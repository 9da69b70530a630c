from voicelive.cli import main

raise SystemExit(main())
