"""The builder: `build(BuildRequest) -> BuildResult` (run.py) and `copype` (copype.py)."""

from pebuild.make.copype import CopypeRequest, copype
from pebuild.make.model import BuildRequest, BuildResult
from pebuild.make.run import STAGES, build

__all__ = ["STAGES", "BuildRequest", "BuildResult", "CopypeRequest", "build", "copype"]
