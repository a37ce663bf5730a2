"""``python -m controller.settings > docs/settings.md``"""

from .reference import reference

print(reference(), end="")
