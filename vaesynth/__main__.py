from vaesynth.cli import main

raise SystemExit(main())
