from trustctl.app import main

raise SystemExit(main())
