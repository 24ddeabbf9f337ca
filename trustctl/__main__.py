from trustctl.main import main

raise SystemExit(main())
