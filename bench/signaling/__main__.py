from bench.signaling.cli import main

raise SystemExit(main())
