"""Run analysis for people and agents: load a run (`runs`), diagnose it (`diagnose`,
`schedule`, `data_needs`), compare and explain runs (`compare`, `lineage`), report
(`report`), plot (`plots`, matplotlib loaded lazily). `commands` is what `trainer runs` calls.

The trainer writes run_report.json and the plots at the end of a run with
`write_run_report_from_recorder(recorder, output_dir)`, or
`write_run_report(load_run(queries, job_id) or RunData.from_records(...), path)`."""

from trainer.analysis.diagnose import Thresholds, diagnose_run
from trainer.analysis.report import (
    REPORT_NAME,
    build_run_report,
    write_run_report,
    write_run_report_from_recorder,
)
from trainer.analysis.runs import Evaluation, RunData, load_run

__all__ = [
    "REPORT_NAME",
    "Evaluation",
    "RunData",
    "Thresholds",
    "build_run_report",
    "diagnose_run",
    "load_run",
    "write_run_report",
    "write_run_report_from_recorder",
]
