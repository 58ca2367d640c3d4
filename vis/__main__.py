from vis.cli import main

raise SystemExit(main())
