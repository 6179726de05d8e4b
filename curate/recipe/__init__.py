"""`curate run recipe.yaml`: the pipeline's stages from one file, resumed after a crash, ending with the report.

It calls every stage's run(config), so it lives on the roof beside the commands. Names load on first use:
`curate run --help` imports none of the stages.
"""

from curate.lazy import lazy_exports

__all__ = ["RunConfig", "run", "plan", "Step", "Recipe", "Stage", "load_recipe", "parse_recipe", "STAGES",
           "build_config"]

lazy_exports(__name__, {
    "curate.recipe.run": ["RunConfig", "run", "plan", "Step"],
    "curate.recipe.parse": ["Recipe", "Stage", "load_recipe", "parse_recipe"],
    "curate.recipe.stages": ["STAGES"],
    "curate.recipe.configs": ["build_config"],
})
