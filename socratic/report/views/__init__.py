"""One module per view; each has `applies(doc)` and `render(doc, media) -> (anchor, label, section html)`."""
