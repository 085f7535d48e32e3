from recranker_core.cli import main

raise SystemExit(main())
