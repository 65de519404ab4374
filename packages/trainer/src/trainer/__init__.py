"""trainer: LayoutLM token classification on a dataset snapshot, with every run recorded."""
