"""The recipes glan knows, by name: `glan recipes` lists them; `recipe:` in the config (or
`glan run --recipe NAME`) picks one. Adding a recipe is one module plus a line here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from glan.errors import ConfigError
from glan.recipes.base import Recipe, Step

if TYPE_CHECKING:
    from glan.config import RunConfig

__all__ = ["Recipe", "Step", "get_recipe", "recipe_names", "recipe_of"]


def _registry() -> dict[str, Recipe]:
    from glan.recipes.evol_instruct import EVOL_INSTRUCT
    from glan.recipes.glan import GLAN
    from glan.recipes.self_instruct import SELF_INSTRUCT
    from glan.recipes.verify import VERIFY

    return {r.name: r for r in (GLAN, SELF_INSTRUCT, EVOL_INSTRUCT, VERIFY)}


def recipe_names() -> list[str]:
    return list(_registry())


def get_recipe(name: str) -> Recipe:
    recipes = _registry()
    if name not in recipes:
        raise ConfigError(f"recipe {name!r} is not known (recipes: {', '.join(recipes)})")
    return recipes[name]


def recipe_of(cfg: RunConfig) -> Recipe:
    return get_recipe(cfg.recipe)
