"""Display objects over plain state (example rows, errors, round stats). Each renders as text and HTML
everywhere and builds an ipywidgets form on demand; ipywidgets is imported only then."""
