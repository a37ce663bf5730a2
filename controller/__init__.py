"""Loa Làng controller: API, media pipeline, scheduler and fleet gateway."""
