"""An example plugin for Brother POS Hub: it keeps a journal of catalogue and stock events."""
