"""The builder: `build(BuildRequest) -> BuildResult` (run.py) and `copype` (copype.py)."""

from pebuild.build.copype import CopypeRequest, copype
from pebuild.build.model import BuildRequest, BuildResult
from pebuild.build.run import STAGES, build

__all__ = ["STAGES", "BuildRequest", "BuildResult", "CopypeRequest", "build", "copype"]
