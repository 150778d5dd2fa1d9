"""The code location: one Definitions object for the whole project."""

from dagster import Definitions

from signalops_assets.experiments.analysis_assets import (
    experiment_analysis,
    experiment_analysis_job,
    experiment_srm_check,
    nightly_experiment_analysis,
)
from signalops_assets.judging.assets import judged_posts, posts
from signalops_assets.resources import default_resources

defs = Definitions(
    assets=[posts, judged_posts, experiment_analysis],
    asset_checks=[experiment_srm_check],
    jobs=[experiment_analysis_job],
    schedules=[nightly_experiment_analysis],
    resources=default_resources(),
)
