"""Outputs you can trust: every command writes its outputs through this package.

    from pebuild.outputs import Output, OutputOptions, Transaction, plan_outputs, TREE

    plan = plan_outputs([Output("iso", Path("out/a.iso")), Output("pxe", Path("out/pxe"), TREE),
                         Output("manifest", Path("out/a.json"))], inputs=[source_dir])
    with Transaction(plan, OutputOptions(force=False, wait=True, on_wait=print)) as tx:
        ...write each output at tx.path(role)...
        tx.publish()

* `plan` — resolve and check every output path before any work (one-line errors);
* `owner` — the `.pebuild-tree.json` marker and the rule for replacing a tree;
* `lock` — one command per output at a time (flock beside the output, exit 7 with --no-wait);
* `area` — staging areas beside the targets, the publish journal, roll forward / back;
* `stage` — `Transaction` (stage, publish all or nothing) and `build_directory`;
* `clean` — debris of dead runs, removed by the next run and by `pebuild clean DIR`.

docs/builder.md ("Outputs") describes the behaviour users see.
"""

from pebuild.outputs.clean import CleanReport, clean_directory
from pebuild.outputs.owner import MARKER
from pebuild.outputs.plan import FILE, TREE, Output, OutputPlan, plan_outputs
from pebuild.outputs.stage import OutputOptions, Transaction, build_directory

__all__ = [
    "FILE",
    "MARKER",
    "TREE",
    "CleanReport",
    "Output",
    "OutputOptions",
    "OutputPlan",
    "Transaction",
    "build_directory",
    "clean_directory",
    "plan_outputs",
]
