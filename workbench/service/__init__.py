"""What the app does: one module per use-case area. The CLI and the routers call one function each."""
