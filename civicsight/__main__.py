from civicsight.cli import main

raise SystemExit(main())
