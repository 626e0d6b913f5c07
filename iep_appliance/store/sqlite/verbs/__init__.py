"""SqliteStore's verbs, one mixin per aggregate (the modules of store/protocols/)."""
