"""The code location: one Definitions object for the whole project."""


from dagster import Definitions

from signalops_assets.judging.assets import judged_posts, posts
from signalops_assets.resources import default_resources

defs = Definitions(
    assets=[posts, judged_posts],
    resources=default_resources(),
)
