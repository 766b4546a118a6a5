complete --keep-order --exclusive --command burrow --arguments "(BURROW_COMPLETE=fish burrow -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
