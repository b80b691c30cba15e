from govcloud.cli import main

raise SystemExit(main())
