"""The web pages: a third thin adapter over the core, beside the JSON API and the workers. Same dependencies,
same policy, same audit; HTML rendered on the server, forms that work without JavaScript."""
